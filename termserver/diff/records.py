"""The records of a diff: concept, scheme, mapping and release changes, and their classes."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from termserver.mappings import Mapping

ADDED = "added"
REMOVED = "removed"
RETIRED = "retired"
REACTIVATED = "reactivated"
RELABELLED = "relabelled"
REDEFINED = "redefined"
MOVED = "moved"
PROPERTY = "property"
#: The concept change classes, in changelog order.
CLASSES = (ADDED, REMOVED, RETIRED, REACTIVATED, RELABELLED, REDEFINED, MOVED, PROPERTY)
#: Classes that touch a concept that existed before (what mappings, value sets and plans use).
EXISTING_CLASSES = frozenset(CLASSES) - {ADDED}

PREFERRED = "preferred"
ALTERNATIVE = "alternative"

CLASS_TITLES_DA = {
    ADDED: "Nye begreber",
    REMOVED: "Fjernede begreber (slettet uden udfasning)",
    RETIRED: "Udfasede begreber",
    REACTIVATED: "Genaktiverede begreber",
    RELABELLED: "Ændrede betegnelser",
    REDEFINED: "Ændrede definitioner",
    MOVED: "Flyttede begreber (nyt overbegreb)",
    PROPERTY: "Ændrede egenskaber",
}
MAPPING_TITLES_DA = {
    "added": "Nye mappinger",
    "removed": "Fjernede mappinger",
    "changed": "Ændrede mappinger",
}
#: Mapping row fields compared by :func:`diff_mapping_sets`; the rest (labels, line) are
#: presentation and do not make a change.
MAPPING_FIELDS = (
    "predicate",
    "status",
    "justification",
    "source",
    "author",
    "confidence",
    "reason",
    "comment",
    "valid_from",
    "valid_to",
)
_SCHEME_FIELDS = ("name", "title", "description", "status", "publisher", "valid_from", "valid_to")
_WS = re.compile(r"\s+")


# --- records -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Ref:
    """A concept named by code, with its label for readers."""

    code: str
    display: str

    def to_dict(self) -> dict[str, str]:
        return {"code": self.code, "display": self.display}


@dataclass(frozen=True, slots=True)
class ConceptChange:
    """One classified change to one concept.

    ``before``/``after`` hold what changed: a label or definition (str), alternative labels or
    property values (tuple of str), broader concepts (tuple of :class:`Ref`) or a status.
    """

    kind: str
    code: str
    display: str
    before: Any = None
    after: Any = None
    language: str | None = None  # relabelled
    label_type: str | None = None  # relabelled: preferred | alternative
    property: str | None = None  # property
    replaced_by: tuple[Ref, ...] = ()  # retired
    whitespace_only: bool = False  # relabelled, redefined

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind, "code": self.code, "display": self.display}
        for key in ("before", "after"):
            value = getattr(self, key)
            if isinstance(value, tuple):
                value = [v.to_dict() if isinstance(v, Ref) else v for v in value]
            out[key] = value
        if self.language is not None:
            out["language"] = self.language
        if self.label_type is not None:
            out["labelType"] = self.label_type
        if self.property is not None:
            out["property"] = self.property
        if self.replaced_by:
            out["replacedBy"] = [r.to_dict() for r in self.replaced_by]
        if self.kind in (RELABELLED, REDEFINED):
            out["whitespaceOnly"] = self.whitespace_only
        return out


@dataclass(frozen=True)
class SchemeDiff:
    """The classified changes between two releases of one code system."""

    system: str
    scheme: str
    version_a: str
    version_b: str
    changes: tuple[ConceptChange, ...]
    #: Scheme metadata that changed: field -> (before, after).
    metadata: dict[str, tuple[Any, Any]] = field(default_factory=dict)
    concepts_a: int = 0
    concepts_b: int = 0

    def of_kind(self, kind: str) -> list[ConceptChange]:
        """The changes of one class, in code order."""
        return [c for c in self.changes if c.kind == kind]

    def codes(self, kinds: Iterable[str] = CLASSES) -> dict[str, set[str]]:
        """Code -> the classes it changed in, for the classes asked for."""
        wanted = set(kinds)
        out: dict[str, set[str]] = {}
        for c in self.changes:
            if c.kind in wanted:
                out.setdefault(c.code, set()).add(c.kind)
        return out

    def counts(self) -> dict[str, int]:
        """How many distinct concepts fall in each class (every class present, zeros too)."""
        per = {k: set() for k in CLASSES}
        for c in self.changes:
            per[c.kind].add(c.code)
        return {k: len(v) for k, v in per.items()}

    @property
    def empty(self) -> bool:
        return not self.changes and not self.metadata

    def summary(self) -> dict[str, Any]:
        """Counts per class, plus how many label and definition changes are whitespace only."""
        return {
            "scheme": self.scheme,
            "system": self.system,
            "from": self.version_a,
            "to": self.version_b,
            "concepts": {"from": self.concepts_a, "to": self.concepts_b},
            "counts": self.counts(),
            "whitespaceOnly": {
                RELABELLED: _count_codes(self, RELABELLED, whitespace_only=True),
                REDEFINED: _count_codes(self, REDEFINED, whitespace_only=True),
            },
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.summary(),
            "metadata": {k: {"before": a, "after": b} for k, (a, b) in self.metadata.items()},
            "changes": {k: [c.to_dict() for c in self.of_kind(k)] for k in CLASSES},
        }


@dataclass(frozen=True, slots=True)
class MappingChange:
    """One mapping row added, removed or changed, in one mapping set."""

    kind: str  # added | removed | changed
    set_id: str
    subject_system: str
    subject_code: str
    object_system: str
    object_code: str
    before: Mapping | None = None
    after: Mapping | None = None
    #: For ``changed``: field -> (before, after), over :data:`MAPPING_FIELDS`.
    fields: dict[str, tuple[Any, Any]] = field(default_factory=dict)

    @property
    def relation_changed(self) -> bool:
        return "predicate" in self.fields

    @property
    def justification_changed(self) -> bool:
        return bool({"status", "justification", "source", "reason"} & set(self.fields))

    def to_dict(self) -> dict[str, Any]:
        row = self.after or self.before
        out: dict[str, Any] = {
            "kind": self.kind,
            "set": self.set_id,
            "subject": {"system": self.subject_system, "code": self.subject_code},
            "object": {"system": self.object_system, "code": self.object_code},
            "predicate": row.predicate if row else None,
            "status": row.status if row else None,
        }
        if row is not None and row.subject_label:
            out["subject"]["display"] = row.subject_label
        if row is not None and row.object_label:
            out["object"]["display"] = row.object_label
        if self.fields:
            out["fields"] = {
                k: {"before": _jsonable(a), "after": _jsonable(b)}
                for k, (a, b) in self.fields.items()
            }
        return out


@dataclass(frozen=True)
class MappingDiff:
    """Changes between two collections of mapping sets."""

    changes: tuple[MappingChange, ...] = ()
    sets_added: tuple[str, ...] = ()
    sets_removed: tuple[str, ...] = ()

    def of_kind(self, kind: str) -> list[MappingChange]:
        return [c for c in self.changes if c.kind == kind]

    def counts(self) -> dict[str, int]:
        return {k: len(self.of_kind(k)) for k in MAPPING_TITLES_DA}

    @property
    def empty(self) -> bool:
        return not self.changes and not self.sets_added and not self.sets_removed

    def to_dict(self) -> dict[str, Any]:
        return {
            "setsAdded": list(self.sets_added),
            "setsRemoved": list(self.sets_removed),
            "counts": self.counts(),
            "changes": {k: [c.to_dict() for c in self.of_kind(k)] for k in MAPPING_TITLES_DA},
        }


@dataclass(frozen=True)
class ReleaseDiff:
    """A diff between two releases: per-scheme diffs and the mapping diff."""

    label_a: str
    label_b: str
    schemes: tuple[SchemeDiff, ...] = ()
    schemes_added: tuple[str, ...] = ()  # "system|version" only in the newer release
    schemes_removed: tuple[str, ...] = ()
    mappings: MappingDiff = field(default_factory=MappingDiff)

    def changed_schemes(self) -> list[SchemeDiff]:
        return [s for s in self.schemes if not s.empty]

    def summary(self) -> dict[str, Any]:
        """Counts per class for every changed scheme, and mapping counts."""
        totals = dict.fromkeys(CLASSES, 0)
        for s in self.schemes:
            for k, n in s.counts().items():
                totals[k] += n
        return {
            "from": self.label_a,
            "to": self.label_b,
            "counts": totals,
            "schemes": [s.summary() for s in self.changed_schemes()],
            "schemesAdded": list(self.schemes_added),
            "schemesRemoved": list(self.schemes_removed),
            "mappings": self.mappings.counts(),
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "from": self.label_a,
            "to": self.label_b,
            "summary": self.summary(),
            "schemes": [s.to_dict() for s in self.changed_schemes()],
            "unchanged": [f"{s.scheme}|{s.version_b}" for s in self.schemes if s.empty],
            "schemesAdded": list(self.schemes_added),
            "schemesRemoved": list(self.schemes_removed),
            "mappings": self.mappings.to_dict(),
        }


def _count_codes(d: SchemeDiff, kind: str, *, whitespace_only: bool) -> int:
    """Concepts whose every change of ``kind`` is (or is not) whitespace only."""
    per: dict[str, bool] = {}
    for c in d.changes:
        if c.kind == kind:
            per[c.code] = per.get(c.code, True) and c.whitespace_only
    return sum(1 for v in per.values() if v == whitespace_only)


def _jsonable(value: Any) -> Any:
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value
