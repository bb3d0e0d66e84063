"""How a change record reads on the curation pages: its target, and old → new per field."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from termserver.curation.changes import KINDS, PUBLISHED, Change
from termserver.curation.service import Curation, target_value
from termserver.errors import TermserverError
from termserver.web.render import STATUS_DA, code_url, relation_da

FIELD_DA = {
    "label": "Betegnelse",
    "definition": "Definition",
    "note": "Note",
    "parents": "Overbegreber",
    "status": "Status",
    "replaced_by": "Erstattet af",
    "predicate": "Relation",
    "confidence": "Sikkerhed",
    "comment": "Kommentar",
}
#: The proposals the concept page offers, in the order of its tabs.
PROPOSAL_KINDS = {
    "definition": ("concept.definition", "Ny definition"),
    "betegnelse": ("concept.label", "Ny betegnelse"),
    "udfas": ("concept.deprecate", "Udfas (med erstatning)"),
    "mapping": ("mapping.add", "Tilføj mapping"),
}


@dataclass(frozen=True)
class DiffRow:
    """One field of a change: its value before and after."""

    field: str
    label: str
    before: str
    after: str


@dataclass(frozen=True)
class TargetLink:
    """What a change is about, for people: a label, a link and the machine key."""

    key: str
    label: str
    url: str | None


def _text(field: str, value: Any) -> str:
    if value is None or value == [] or value == "":
        return ""
    if field == "status":
        return STATUS_DA.get(value, str(value))
    if field == "predicate":
        return relation_da(value if ":" in str(value) else f"skos:{value}")
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value)
    return str(value)


def target_link(snapshot: Any, change: Change | None = None, key: str = "") -> TargetLink:
    """The change's target as a labelled link (concept page, or mapping set page)."""
    key = change.target if change is not None else key
    kind, _, rest = key.partition(":")
    if kind == "concept":
        scheme, _, code = rest.partition("/")
        value = target_value(snapshot, key)
        label = value["label"] if value else (change.payload.get("label") if change else None)
        return TargetLink(key, label or code, code_url(scheme, code) if value else None)
    if kind == "mapping":
        set_id, _, pair = rest.partition("/")
        return TargetLink(key, f"{set_id}: {pair.replace('/', ' → ')}", f"/mappinger/{set_id}")
    return TargetLink(key, rest, None)


def _before_snapshot(cur: Curation, change: Change, load: Any = None) -> Any:
    """The release a change is compared against: the current one, or for a published change
    the release before the one that carried it (``load(name)`` reads it, cached by the caller)."""
    if change.status == PUBLISHED and change.release:
        try:
            info = cur.release(change.release)
            if info.parent:
                return (load or cur.release_snapshot)(info.parent)
        except TermserverError:
            pass
    return cur.snapshot()


def _named_codes(snapshot: Any, scheme: str, field: str, value: Any) -> Any:
    """Concept codes (parents, replacements) with their labels, so a reviewer can read them."""
    if field not in ("parents", "replaced_by") or not isinstance(value, list | tuple):
        return value
    try:
        system = snapshot.vocab.system_of(scheme)
    except TermserverError:
        return value
    named = []
    for code in value:
        c = snapshot.vocab.get(system, code)
        named.append(f"{c.display} ({code})" if c is not None else code)
    return named


def diff_rows(cur: Curation, change: Change, load: Any = None) -> list[DiffRow]:
    """Old → new for every field the change sets (identity fields left out); ``load(name)``
    gives an older release's snapshot."""
    snapshot = _before_snapshot(cur, change, load)
    before = target_value(snapshot, change.target) or {}
    scheme = str(change.payload.get("scheme", ""))
    spec = KINDS[change.kind]
    identity = {"scheme", "code", "set", "subject", "object", "url"}
    if change.kind == "concept.add":
        identity = {"scheme"}
    rows: list[DiffRow] = []
    if change.kind == "concept.deprecate":
        rows.append(DiffRow("status", FIELD_DA["status"], _text("status", before.get("status")),
                            STATUS_DA["deprecated"]))  # fmt: skip
    if change.kind == "concept.undeprecate":
        rows.append(DiffRow("status", FIELD_DA["status"], _text("status", before.get("status")),
                            STATUS_DA["active"]))  # fmt: skip
    if change.kind == "mapping.remove":
        rows.append(DiffRow("predicate", "Mapping", _text("predicate", before.get("predicate")),
                            "(fjernet)"))  # fmt: skip
    for f in spec.fields:
        if f.name in identity or f.name not in change.payload:
            continue
        rows.append(
            DiffRow(
                f.name,
                FIELD_DA.get(f.name, f.name),
                _text(f.name, _named_codes(snapshot, scheme, f.name, before.get(f.name))),
                _text(f.name, _named_codes(snapshot, scheme, f.name, change.payload[f.name])),
            )
        )
    return rows
