"""Change records: what a curator wants changed, why, and how far it has come.

A change never edits content directly. It is a record (kind, target, payload, reason, author)
that moves through draft → proposed → approved | rejected → published; publishing applies the
approved ones to the current release (see :mod:`termserver.curation.releases`).

This module knows the kinds and the shape of their payloads (checked on every write, with Danish
messages naming the JSON path) and keeps the records in the store with optimistic concurrency:
each record carries a ``version`` that every update must name.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass
from typing import Any

from termserver.curation.store import Tx, utcnow
from termserver.errors import TermserverError

DRAFT = "draft"
PROPOSED = "proposed"
APPROVED = "approved"
REJECTED = "rejected"
PUBLISHED = "published"
STATUSES = (DRAFT, PROPOSED, APPROVED, REJECTED, PUBLISHED)
#: Open changes still compete for their target; closed ones are history.
OPEN = (DRAFT, PROPOSED, APPROVED)

#: Allowed moves. proposed → draft is the author withdrawing it; approved → rejected lets an
#: approver settle a conflict between two approved changes before a release.
TRANSITIONS: dict[str, frozenset[str]] = {
    DRAFT: frozenset({PROPOSED}),
    PROPOSED: frozenset({APPROVED, REJECTED, DRAFT}),
    APPROVED: frozenset({PUBLISHED, REJECTED}),
    REJECTED: frozenset(),
    PUBLISHED: frozenset(),
}

MAX_TEXT = 4000
MAX_LABEL = 500
MAX_LIST = 50
_CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._~-]{0,127}$")
PREDICATE_NAMES = ("exactMatch", "closeMatch", "broadMatch", "narrowMatch", "relatedMatch")


@dataclass(frozen=True)
class Field:
    """One payload field: its type and whether it is required."""

    name: str
    type: str  # text | label | code | codes | predicate | confidence | object
    required: bool = True


@dataclass(frozen=True)
class Kind:
    """A change kind: its payload fields, and which field of its target it edits."""

    name: str
    title: str
    fields: tuple[Field, ...]
    edits: str  # the target field it touches; "*" for the whole target

    def target(self, payload: dict[str, Any]) -> str:
        """The key of the thing this change edits (two changes conflict on the same key)."""
        if self.name.startswith("concept."):
            return f"concept:{payload['scheme']}/{payload['code']}"
        if self.name.startswith("mapping."):
            return f"mapping:{payload['set']}/{payload['subject']}/{payload['object']}"
        return f"valueset:{payload['url']}"


def _f(name: str, type_: str, required: bool = True) -> Field:
    return Field(name, type_, required)


_CONCEPT = (_f("scheme", "code"), _f("code", "code"))
_MAPPING = (_f("set", "code"), _f("subject", "code"), _f("object", "code"))
KINDS: dict[str, Kind] = {
    k.name: k
    for k in (
        Kind(
            "concept.add",
            "nyt begreb",
            (
                _f("scheme", "code"),
                _f("code", "code", required=False),
                _f("label", "label"),
                _f("definition", "text", required=False),
                _f("parents", "codes", required=False),
                _f("note", "text", required=False),
            ),
            "*",
        ),
        Kind("concept.label", "ny betegnelse", (*_CONCEPT, _f("label", "label")), "label"),
        Kind(
            "concept.definition",
            "ny definition",
            (*_CONCEPT, _f("definition", "text")),
            "definition",
        ),
        Kind("concept.note", "ny note", (*_CONCEPT, _f("note", "text")), "note"),
        Kind("concept.move", "flyttet", (*_CONCEPT, _f("parents", "codes")), "parents"),
        Kind(
            "concept.deprecate",
            "udfaset",
            (*_CONCEPT, _f("replaced_by", "codes", required=False)),
            "status",
        ),
        Kind("concept.undeprecate", "genindsat", _CONCEPT, "status"),
        Kind(
            "mapping.add",
            "ny mapning",
            (
                *_MAPPING,
                _f("predicate", "predicate"),
                _f("confidence", "confidence", required=False),
                _f("comment", "text", required=False),
            ),
            "*",
        ),
        Kind(
            "mapping.change",
            "ændret mapning",
            (
                *_MAPPING,
                _f("predicate", "predicate", required=False),
                _f("confidence", "confidence", required=False),
                _f("comment", "text", required=False),
            ),
            "*",
        ),
        Kind("mapping.remove", "fjernet mapning", _MAPPING, "*"),
        Kind(
            "valueset.edit", "ændret værdisæt", (_f("url", "text"), _f("definition", "object")), "*"
        ),
    )
}


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a change: where (JSON path) and what, in Danish."""

    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


class ChangeError(TermserverError):
    """A change that cannot be accepted; ``problems`` lists every reason found."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("; ".join(str(p) for p in problems))


class StateError(TermserverError):
    """A status move the workflow does not allow (e.g. approving a draft)."""


@dataclass(frozen=True)
class Change:
    """One change record as stored."""

    id: int
    kind: str
    target: str
    field: str
    payload: dict[str, Any]
    reason: str
    status: str
    author: str
    created_at: str
    updated_at: str
    version: int
    proposed_at: str | None = None
    decided_by: str | None = None
    decided_at: str | None = None
    decision_note: str | None = None
    conflicts: tuple[int, ...] = ()
    release: str | None = None

    @property
    def etag(self) -> str:
        """The HTTP entity tag of this version of the record."""
        return f'"change-{self.id}-v{self.version}"'

    def describe(self) -> str:
        """One Danish line for changelogs and listings."""
        p = self.payload
        title = KINDS[self.kind].title
        if self.kind.startswith("concept."):
            what = f"{p['scheme']}/{p['code']}"
            extra = {
                "concept.add": f"'{p.get('label')}'",
                "concept.label": f"→ '{p.get('label')}'",
                "concept.move": f"→ under {', '.join(p.get('parents') or []) or '(top)'}",
                "concept.deprecate": (
                    f"erstattet af {', '.join(p['replaced_by'])}" if p.get("replaced_by") else ""
                ),
            }.get(self.kind, "")
        elif self.kind.startswith("mapping."):
            what = f"{p['set']}: {p['subject']} → {p['object']}"
            extra = p.get("predicate") or ""
        else:
            what, extra = p["url"], ""
        return f"{title}: {what} {extra}".rstrip() + f" (#{self.id}, {self.author}: {self.reason})"


def check_shape(kind: str, payload: Any, reason: Any) -> tuple[Kind, dict[str, Any], str]:
    """Check a change's kind, payload and reason; returns the kind and cleaned values.

    A new concept without a code gets a fresh UUID here, so its target key is fixed from the
    start. Raises :class:`ChangeError` with every problem found.
    """
    problems: list[Problem] = []
    spec = KINDS.get(kind) if isinstance(kind, str) else None
    if spec is None:
        raise ChangeError([Problem("kind", f"ukendt ændringstype {kind!r}; kendte: {_kinds()}")])
    if not isinstance(reason, str) or not reason.strip():
        problems.append(Problem("reason", "en begrundelse er påkrævet"))
    elif len(reason) > MAX_TEXT:
        problems.append(Problem("reason", f"højst {MAX_TEXT} tegn"))
    if not isinstance(payload, dict):
        raise ChangeError([*problems, Problem("payload", "skal være et JSON-objekt")])
    allowed = {f.name for f in spec.fields}
    for key in payload:
        if key not in allowed:
            problems.append(
                Problem(f"payload.{key}", f"ukendt felt for {kind}; tilladt: {sorted(allowed)}")
            )
    clean: dict[str, Any] = {}
    for f in spec.fields:
        value = payload.get(f.name)
        where = f"payload.{f.name}"
        if value is None:
            if f.required:
                problems.append(Problem(where, "mangler"))
            continue
        message = _type_problem(f.type, value, where, problems)
        if message:
            problems.append(Problem(where, message))
            continue
        clean[f.name] = value.strip() if isinstance(value, str) else value
    if kind == "concept.add" and "code" not in clean and not problems:
        clean["code"] = str(uuid.uuid4())
    if problems:
        raise ChangeError(problems)
    return spec, clean, reason.strip()


def _type_problem(ftype: str, value: Any, where: str, problems: list[Problem]) -> str | None:
    if ftype in ("text", "label"):
        if not isinstance(value, str) or not value.strip():
            return "skal være en ikke-tom tekst"
        limit = MAX_LABEL if ftype == "label" else MAX_TEXT
        if len(value) > limit:
            return f"højst {limit} tegn"
        if ftype == "label" and ("\n" in value or value != value.strip()):
            return "en betegnelse er én linje uden mellemrum før og efter"
        return None
    if ftype == "code":
        if not isinstance(value, str) or not _CODE.match(value):
            return "skal være en kode (bogstaver, tal, . _ ~ -; højst 128 tegn)"
        return None
    if ftype == "codes":
        if not isinstance(value, list) or len(value) > MAX_LIST:
            return f"skal være en liste med højst {MAX_LIST} koder"
        for i, v in enumerate(value):
            if not isinstance(v, str) or not _CODE.match(v):
                problems.append(Problem(f"{where}[{i}]", "skal være en kode"))
        if len(set(value)) != len(value):
            return "samme kode står flere gange"
        return None
    if ftype == "predicate":
        name = value.partition(":")[2] if isinstance(value, str) and ":" in value else value
        if name not in PREDICATE_NAMES:
            return f"skal være en af {', '.join(PREDICATE_NAMES)}"
        return None
    if ftype == "confidence":
        ok = isinstance(value, int | float) and not isinstance(value, bool) and 0 <= value <= 1
        return None if ok else "skal være et tal mellem 0 og 1"
    if ftype == "object":
        if not isinstance(value, dict):
            return "skal være et JSON-objekt"
        if len(json.dumps(value)) > 1_000_000:
            return "højst 1 MB"
        return None
    raise AssertionError(ftype)


def _kinds() -> str:
    return ", ".join(KINDS)


# --- records in the store ----------------------------------------------------------------------

_SELECT = (
    "SELECT c.*, a.name AS author_name, d.name AS decider_name FROM changes c"
    " JOIN users a ON a.id = c.author_id LEFT JOIN users d ON d.id = c.decided_by"
)


def _row_to_change(row: dict[str, Any]) -> Change:
    return Change(
        id=int(row["id"]),
        kind=row["kind"],
        target=row["target"],
        field=row["field"],
        payload=json.loads(row["payload"]),
        reason=row["reason"],
        status=row["status"],
        author=row["author_name"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        version=int(row["version"]),
        proposed_at=row["proposed_at"],
        decided_by=row["decider_name"],
        decided_at=row["decided_at"],
        decision_note=row["decision_note"],
        conflicts=tuple(json.loads(row["conflicts"] or "[]")),
        release=row["release_name"],
    )


def insert_change(
    tx: Tx, kind: Kind, payload: dict[str, Any], reason: str, author_id: int
) -> Change:
    """Store a new draft change."""
    now = utcnow()
    new_id = tx.insert(
        "INSERT INTO changes (kind, target, field, payload, reason, status, author_id,"
        " created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
        (
            kind.name,
            kind.target(payload),
            kind.edits,
            json.dumps(payload, ensure_ascii=False, sort_keys=True),
            reason,
            DRAFT,
            author_id,
            now,
            now,
        ),
    )
    found = get_change(tx, new_id)
    assert found is not None
    return found


def get_change(tx: Tx, change_id: int) -> Change | None:
    """One change by id."""
    row = tx.one(_SELECT + " WHERE c.id = ?", (change_id,))
    return _row_to_change(row) if row else None


def list_changes(
    tx: Tx,
    *,
    status: str | None = None,
    target: str | None = None,
    author: str | None = None,
    limit: int = 200,
    offset: int = 0,
) -> list[Change]:
    """Changes, newest first, filtered by status, target key and author name."""
    where, params = [], []
    for column, value in (("c.status", status), ("c.target", target), ("a.name", author)):
        if value is not None:
            where.append(f"{column} = ?")
            params.append(value)
    sql = _SELECT + (" WHERE " + " AND ".join(where) if where else "")
    sql += " ORDER BY c.id DESC LIMIT ? OFFSET ?"
    return [_row_to_change(r) for r in tx.all(sql, (*params, limit, offset))]


def open_changes_on(tx: Tx, target: str) -> list[Change]:
    """The draft, proposed and approved changes on one target, oldest first."""
    rows = tx.all(
        _SELECT + " WHERE c.target = ? AND c.status IN (?, ?, ?) ORDER BY c.id",
        (target, *OPEN),
    )
    return [_row_to_change(r) for r in rows]


def update_change(tx: Tx, change: Change, expected_version: int, **values: Any) -> Change | None:
    """Write ``values`` if the record is still at ``expected_version``; None when it is not
    (someone else changed it first: the caller answers 412 with the current record)."""
    columns = {
        "payload",
        "reason",
        "status",
        "target",
        "field",
        "proposed_at",
        "decided_by",
        "decided_at",
        "decision_note",
        "conflicts",
        "release_name",
    }
    unknown = set(values) - columns
    if unknown:
        raise ValueError(f"not a change column: {sorted(unknown)}")
    sets = [f"{k} = ?" for k in values]
    params = [
        json.dumps(v, ensure_ascii=False, sort_keys=True) if k in ("payload", "conflicts") else v
        for k, v in values.items()
    ]
    n = tx.execute(
        f"UPDATE changes SET {', '.join(sets)}, updated_at = ?, version = version + 1"
        " WHERE id = ? AND version = ?",
        (*params, utcnow(), change.id, expected_version),
    )
    return get_change(tx, change.id) if n == 1 else None


def check_transition(change: Change, to: str) -> None:
    """Raise :class:`StateError` unless ``change`` may move to status ``to``."""
    if to not in TRANSITIONS[change.status]:
        allowed = ", ".join(sorted(TRANSITIONS[change.status])) or "ingen"
        raise StateError(
            f"ændring #{change.id} er {change.status} og kan ikke blive {to} (tilladt: {allowed})"
        )
