"""Classified differences between releases, their impact, and the Danish changelog.

A diff compares two releases of one code system (:func:`diff_versions`), two whole vocabulary
snapshots (:func:`diff_releases`: the newest release of every scheme in each) or two collections
of mapping sets (:func:`diff_mapping_sets`). Concepts are matched by code: FFB codes are UUIDs and
stay the same from release to release, so a code is the concept's identity.

Every concept change falls in one class (a concept can be in several):

- ``added`` / ``removed``: the code is only in the newer / only in the older release. Removal
  should not happen (deprecation never deletes), so it is reported apart from retirement.
- ``retired``: the status went from active to deprecated or retired (or deprecated to retired),
  or the replacement of a retired concept changed; ``reactivated``: back to active.
- ``relabelled``: a preferred label (per language) or the alternative labels of a language
  changed; a change that only touches whitespace is flagged, since KL's 2023 release trimmed
  trailing spaces from 72 FFB labels and a curator wants to see those apart from real renames.
- ``redefined``: the definition changed (also added or dropped).
- ``moved``: the set of broader concepts changed.
- ``property``: another property changed (FHIR properties, notSelectable, note, sources).

The module is pure: it reads :class:`~termserver.vocabulary.Vocabulary` snapshots, mapping sets
and value set indexes, and never stores anything, so the curation engine, the CLI and the API all
call the same functions.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from termserver.errors import UnknownConceptError
from termserver.mappings import Mapping, MappingSet, short_name
from termserver.model import ACTIVE, Concept
from termserver.valuesets import ValueSetError, ValueSetIndex
from termserver.vocabulary import Vocabulary

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


# --- diffing concepts ---------------------------------------------------------------------------


def diff_versions(
    vocab_a: Vocabulary,
    system: str,
    version_a: str | None,
    vocab_b: Vocabulary | None = None,
    version_b: str | None = None,
) -> SchemeDiff:
    """Classify every change to ``system`` from ``version_a`` (in ``vocab_a``) to ``version_b``
    (in ``vocab_b``, default: the same vocabulary). A version of None means the newest.

    Raises :class:`~termserver.errors.UnknownConceptError` for an unknown system or version.
    """
    vocab_b = vocab_b or vocab_a
    meta_a = vocab_a.release(system, version_a)
    meta_b = vocab_b.release(system, version_b)
    old = {c.code: c for c in vocab_a.concepts(system, meta_a.version)}
    new = {c.code: c for c in vocab_b.concepts(system, meta_b.version)}
    return _diff_concepts(meta_a, meta_b, old, new)


def _diff_concepts(meta_a, meta_b, old: dict[str, Concept], new: dict[str, Concept]) -> SchemeDiff:
    def ref(code: str) -> Ref:
        c = new.get(code) or old.get(code)
        return Ref(code, c.display.strip() if c else code)

    changes: list[ConceptChange] = []
    for code in sorted(old.keys() | new.keys()):
        a, b = old.get(code), new.get(code)
        if a is None:
            changes.append(ConceptChange(ADDED, code, b.display, after=b.status))
            continue
        if b is None:
            changes.append(ConceptChange(REMOVED, code, a.display, before=a.status))
            continue
        changes.extend(_concept_changes(a, b, ref))
    metadata = {
        f: (getattr(meta_a, f), getattr(meta_b, f))
        for f in _SCHEME_FIELDS
        if getattr(meta_a, f) != getattr(meta_b, f)
    }
    return SchemeDiff(
        system=meta_b.system,
        scheme=meta_b.scheme,
        version_a=meta_a.version,
        version_b=meta_b.version,
        changes=tuple(changes),
        metadata=metadata,
        concepts_a=len(old),
        concepts_b=len(new),
    )


def _same_content(a: Concept, b: Concept) -> bool:
    """Fast path: most concepts do not change between releases (their version field does)."""
    return (
        a.display == b.display
        and a.definition == b.definition
        and a.parents == b.parents
        and a.status == b.status
        and a.replaced_by == b.replaced_by
        and a.designations == b.designations
        and a.properties == b.properties
        and a.language == b.language
        and a.not_selectable == b.not_selectable
        and a.note == b.note
        and a.sources == b.sources
    )


def _concept_changes(a: Concept, b: Concept, ref) -> list[ConceptChange]:
    if _same_content(a, b):
        return []
    out: list[ConceptChange] = []
    code, display = b.code, b.display
    if a.status != b.status or (b.status != ACTIVE and a.replaced_by != b.replaced_by):
        kind = REACTIVATED if b.status == ACTIVE else RETIRED
        out.append(
            ConceptChange(
                kind,
                code,
                display,
                before=a.status,
                after=b.status,
                replaced_by=tuple(ref(r) for r in b.replaced_by),
            )
        )
    pref_a, alt_a = _labels(a)
    pref_b, alt_b = _labels(b)
    for lang in sorted(pref_a.keys() | pref_b.keys()):
        before, after = pref_a.get(lang), pref_b.get(lang)
        if before != after:
            out.append(
                ConceptChange(
                    RELABELLED,
                    code,
                    display,
                    before=before,
                    after=after,
                    language=lang,
                    label_type=PREFERRED,
                    whitespace_only=_same_words(before, after),
                )
            )
    for lang in sorted(alt_a.keys() | alt_b.keys()):
        before, after = alt_a.get(lang, ()), alt_b.get(lang, ())
        if before != after:
            out.append(
                ConceptChange(
                    RELABELLED,
                    code,
                    display,
                    before=before,
                    after=after,
                    language=lang,
                    label_type=ALTERNATIVE,
                    whitespace_only=sorted(map(_words, before)) == sorted(map(_words, after)),
                )
            )
    if a.definition != b.definition:
        out.append(
            ConceptChange(
                REDEFINED,
                code,
                display,
                before=a.definition,
                after=b.definition,
                whitespace_only=_same_words(a.definition, b.definition),
            )
        )
    if set(a.parents) != set(b.parents):
        out.append(
            ConceptChange(
                MOVED,
                code,
                display,
                before=tuple(ref(p) for p in a.parents),
                after=tuple(ref(p) for p in b.parents),
            )
        )
    props_a, props_b = _properties(a), _properties(b)
    for prop in sorted(props_a.keys() | props_b.keys()):
        before, after = props_a.get(prop, ()), props_b.get(prop, ())
        if before != after:
            out.append(
                ConceptChange(PROPERTY, code, display, before=before, after=after, property=prop)
            )
    return out


def _labels(c: Concept) -> tuple[dict[str, str], dict[str, tuple[str, ...]]]:
    """Preferred label per language and the other labels per language.

    The preferred label in the concept's own language is its display; in another language it is
    the first plain designation in that language (the rule the JSON API uses for ``labels``).
    """
    preferred = {c.language: c.display}
    others: dict[str, list[str]] = {}
    for d in c.designations:
        lang = d.language or c.language
        if d.use_code is None and d.language and lang not in preferred:
            preferred[lang] = d.value
        else:
            others.setdefault(lang, []).append(d.value)
    return preferred, {k: tuple(sorted(v)) for k, v in others.items()}


def _properties(c: Concept) -> dict[str, tuple[str, ...]]:
    props: dict[str, list[str]] = {}
    for pv in c.properties:
        props.setdefault(pv.code, []).append(str(pv.value))
    if c.not_selectable:
        props["notSelectable"] = ["true"]
    if c.note:
        props["note"] = [c.note]
    if c.sources:
        props["source"] = list(c.sources)
    return {k: tuple(sorted(v)) for k, v in props.items()}


def _words(text: str | None) -> str | None:
    return None if text is None else _WS.sub(" ", text).strip()


def _same_words(a: str | None, b: str | None) -> bool:
    return a is not None and b is not None and _words(a) == _words(b)


def _count_codes(d: SchemeDiff, kind: str, *, whitespace_only: bool) -> int:
    """Concepts whose every change of ``kind`` is (or is not) whitespace only."""
    per: dict[str, bool] = {}
    for c in d.changes:
        if c.kind == kind:
            per[c.code] = per.get(c.code, True) and c.whitespace_only
    return sum(1 for v in per.values() if v == whitespace_only)


def diff_releases(
    vocab_a: Vocabulary,
    vocab_b: Vocabulary,
    *,
    mapping_sets_a: Iterable[MappingSet] = (),
    mapping_sets_b: Iterable[MappingSet] = (),
    label_a: str | None = None,
    label_b: str | None = None,
) -> ReleaseDiff:
    """Compare two snapshots: the newest release of every scheme in ``vocab_a`` against the
    newest in ``vocab_b``, and the two collections of mapping sets."""
    systems_a, systems_b = set(vocab_a.systems()), set(vocab_b.systems())
    schemes = tuple(
        diff_versions(vocab_a, s, None, vocab_b, None) for s in sorted(systems_a & systems_b)
    )
    return ReleaseDiff(
        label_a=label_a or vocab_a.label,
        label_b=label_b or vocab_b.label,
        schemes=schemes,
        schemes_added=tuple(
            f"{s}|{vocab_b.default_version(s)}" for s in sorted(systems_b - systems_a)
        ),
        schemes_removed=tuple(
            f"{s}|{vocab_a.default_version(s)}" for s in sorted(systems_a - systems_b)
        ),
        mappings=diff_mapping_sets(mapping_sets_a, mapping_sets_b),
    )


def as_release_diff(diff: SchemeDiff | ReleaseDiff) -> ReleaseDiff:
    """A scheme diff wrapped as a release diff, so both render and serialise the same way."""
    if isinstance(diff, ReleaseDiff):
        return diff
    return ReleaseDiff(
        label_a=f"{diff.scheme}|{diff.version_a}",
        label_b=f"{diff.scheme}|{diff.version_b}",
        schemes=(diff,),
    )


# --- diffing mappings ---------------------------------------------------------------------------


def diff_mapping_sets(
    old_sets: Iterable[MappingSet], new_sets: Iterable[MappingSet]
) -> MappingDiff:
    """Rows added, removed or changed between two collections of mapping sets (matched by set id).

    A row is identified by its set, subject and object; a new predicate on the same pair is a
    changed relation, not a removal plus an addition. Should a set hold the same pair twice, the
    rows are paired in file order.
    """
    old = {ms.id: ms for ms in old_sets}
    new = {ms.id: ms for ms in new_sets}
    changes: list[MappingChange] = []
    for set_id in sorted(old.keys() | new.keys()):
        rows_a = _rows(old[set_id]) if set_id in old else {}
        rows_b = _rows(new[set_id]) if set_id in new else {}
        for key in sorted(rows_a.keys() | rows_b.keys()):
            before, after = rows_a.get(key, []), rows_b.get(key, [])
            for i in range(max(len(before), len(after))):
                a = before[i] if i < len(before) else None
                b = after[i] if i < len(after) else None
                if a is None:
                    changes.append(MappingChange("added", set_id, *key, after=b))
                elif b is None:
                    changes.append(MappingChange("removed", set_id, *key, before=a))
                else:
                    fields = {
                        f: (getattr(a, f), getattr(b, f))
                        for f in MAPPING_FIELDS
                        if getattr(a, f) != getattr(b, f)
                    }
                    if fields:
                        changes.append(
                            MappingChange("changed", set_id, *key, before=a, after=b, fields=fields)
                        )
    return MappingDiff(
        changes=tuple(changes),
        sets_added=tuple(sorted(new.keys() - old.keys())),
        sets_removed=tuple(sorted(old.keys() - new.keys())),
    )


def _rows(ms: MappingSet) -> dict[tuple[str, str, str, str], list[Mapping]]:
    rows: dict[tuple[str, str, str, str], list[Mapping]] = {}
    for m in ms.mappings:
        key = (m.subject_system, m.subject_code, m.object_system, m.object_code)
        rows.setdefault(key, []).append(m)
    return rows


# --- impact -------------------------------------------------------------------------------------

PlanCodes = Iterable[str | tuple[str, str]]


@dataclass(frozen=True, slots=True)
class MappingImpact:
    """A mapping row whose subject or object changed."""

    set_id: str
    mapping: Mapping
    #: (system, code) of the changed end(s) -> the classes it changed in.
    changed: dict[tuple[str, str], tuple[str, ...]]

    def to_dict(self) -> dict[str, Any]:
        m = self.mapping
        return {
            "set": self.set_id,
            "line": m.line,
            "subject": {"system": m.subject_system, "code": m.subject_code},
            "predicate": short_name(m.predicate),
            "object": {"system": m.object_system, "code": m.object_code},
            "status": m.status,
            "changed": [
                {"system": s, "code": c, "kinds": list(k)} for (s, c), k in self.changed.items()
            ],
        }


@dataclass(frozen=True, slots=True)
class ValueSetImpact:
    """A value set whose definition names a changed concept, whose members changed, or whose
    membership differs between the two releases."""

    url: str
    name: str
    #: Changed codes named in the definition (filter values, explicit concept lists).
    referenced: dict[str, tuple[str, ...]]
    #: Members (in either release) that changed, with their classes.
    members_changed: dict[str, tuple[str, ...]]
    members_added: tuple[str, ...] = ()
    members_removed: tuple[str, ...] = ()
    #: An expansion that failed in one release (e.g. a listed code that does not exist there).
    errors: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "name": self.name,
            "referenced": [{"code": c, "kinds": list(k)} for c, k in self.referenced.items()],
            "membersChanged": [
                {"code": c, "kinds": list(k)} for c, k in self.members_changed.items()
            ],
            "membersAdded": list(self.members_added),
            "membersRemoved": list(self.members_removed),
            "errors": list(self.errors),
        }


@dataclass(frozen=True, slots=True)
class PlanImpact:
    """A stored plan that uses changed concepts."""

    plan_id: str
    codes: dict[str, tuple[str, ...]]

    def to_dict(self) -> dict[str, Any]:
        return {
            "plan": self.plan_id,
            "codes": [{"code": c, "kinds": list(k)} for c, k in self.codes.items()],
        }


@dataclass(frozen=True)
class Impact:
    """What refers to the changed concepts."""

    mappings: tuple[MappingImpact, ...] = ()
    valuesets: tuple[ValueSetImpact, ...] = ()
    plans: tuple[PlanImpact, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "counts": {
                "mappings": len(self.mappings),
                "valuesets": len(self.valuesets),
                "plans": len(self.plans),
            },
            "mappings": [m.to_dict() for m in self.mappings],
            "valuesets": [v.to_dict() for v in self.valuesets],
            "plans": [p.to_dict() for p in self.plans],
        }


def changed_concepts(diff: SchemeDiff | ReleaseDiff) -> dict[tuple[str, str], tuple[str, ...]]:
    """(system, code) -> classes, for every concept that existed before and changed."""
    out: dict[tuple[str, str], set[str]] = {}
    for sd in as_release_diff(diff).schemes:
        for code, kinds in sd.codes(EXISTING_CLASSES).items():
            out.setdefault((sd.system, code), set()).update(kinds)
    return {k: _ordered(v) for k, v in sorted(out.items())}


def impact(
    diff: SchemeDiff | ReleaseDiff,
    *,
    mapping_sets: Iterable[MappingSet] = (),
    valuesets: ValueSetIndex | None = None,
    valuesets_before: ValueSetIndex | None = None,
    plans: Iterable[tuple[str, PlanCodes]] = (),
) -> Impact:
    """Which mapping rows, value sets and plans refer to what changed.

    ``valuesets`` is the index of the newer release; ``valuesets_before`` that of the older one
    (default: the same index, pinned to the older version: right when both versions sit in one
    vocabulary, as the three FFB releases do). ``plans`` yields ``(plan_id, codes)``, each code a
    bare code or ``(system, code)``; a bare code matches a change in any system.
    """
    rd = as_release_diff(diff)
    changed = changed_concepts(rd)
    by_code: dict[str, set[str]] = {}
    for (_, code), kinds in changed.items():
        by_code.setdefault(code, set()).update(kinds)

    mapping_hits: list[MappingImpact] = []
    for ms in mapping_sets:
        for m in ms.mappings:
            hit = {end: changed[end] for end in (m.subject, m.object) if end in changed}
            if hit:
                mapping_hits.append(MappingImpact(ms.id, m, hit))

    vs_hits: list[ValueSetImpact] = []
    if valuesets is not None:
        for vs_def in valuesets.definitions():
            found = _valueset_impact(vs_def, rd, changed, valuesets, valuesets_before)
            if found is not None:
                vs_hits.append(found)

    plan_hits: list[PlanImpact] = []
    for plan_id, codes in plans:
        hits: dict[str, tuple[str, ...]] = {}
        for item in codes:
            if isinstance(item, tuple):
                kinds = changed.get(item)
                code = item[1]
            else:
                code = item
                kinds = _ordered(by_code[code]) if code in by_code else None
            if kinds:
                hits[code] = kinds
        if hits:
            plan_hits.append(PlanImpact(str(plan_id), hits))
    return Impact(tuple(mapping_hits), tuple(vs_hits), tuple(plan_hits))


def _valueset_impact(
    vs_def,
    rd: ReleaseDiff,
    changed: dict[tuple[str, str], tuple[str, ...]],
    after_index: ValueSetIndex,
    before_index: ValueSetIndex | None,
) -> ValueSetImpact | None:
    referenced: dict[str, tuple[str, ...]] = {}
    members_changed: dict[str, tuple[str, ...]] = {}
    added: set[str] = set()
    removed: set[str] = set()
    errors: list[str] = []
    named = _codes_named(vs_def.compose)
    for sd in rd.schemes:
        if sd.empty:
            continue
        for code in sorted(named.get(sd.system, ())):
            if (sd.system, code) in changed:
                referenced[code] = changed[(sd.system, code)]
        before = _members(before_index or after_index, vs_def.url, sd.system, sd.version_a)
        after = _members(after_index, vs_def.url, sd.system, sd.version_b)
        for version, result in ((sd.version_a, before), (sd.version_b, after)):
            if isinstance(result, str):
                errors.append(f"{sd.scheme}|{version}: {result}")
        old = before if isinstance(before, set) else set()
        new = after if isinstance(after, set) else set()
        if isinstance(before, set) and isinstance(after, set):
            added |= new - old
            removed |= old - new
        for code in sorted(old | new):
            if (sd.system, code) in changed:
                members_changed[code] = changed[(sd.system, code)]
    if not (referenced or members_changed or added or removed):
        return None
    return ValueSetImpact(
        url=vs_def.url,
        name=vs_def.name,
        referenced=referenced,
        members_changed=members_changed,
        members_added=tuple(sorted(added)),
        members_removed=tuple(sorted(removed)),
        errors=tuple(errors),
    )


def _members(index: ValueSetIndex, url: str, system: str, version: str) -> set[str] | str | None:
    """Member codes of ``system`` in the expansion pinned to ``version``; an error message when
    the expansion fails; None when the value set does not use the system."""
    if system not in index.vocab.systems() or version not in {
        v.version for v in index.vocab.versions(system)
    }:
        return None
    try:
        exp = index.expand(url, system_versions={system: version})
    except ValueSetError as exc:
        return str(exc)
    if not any(u.partition("|")[0] == system for u in exp.used_codesystems):
        return None
    return {c.code for c in exp.concepts if c.system == system}


def _codes_named(compose: dict[str, Any]) -> dict[str, set[str]]:
    """system -> codes a compose names directly (concept lists and filter values)."""
    out: dict[str, set[str]] = {}
    for key in ("include", "exclude"):
        for part in compose.get(key, ()) or ():
            system = part.get("system")
            if not isinstance(system, str):
                continue
            codes = out.setdefault(system, set())
            for cref in part.get("concept", ()) or ():
                if isinstance(cref, dict) and isinstance(cref.get("code"), str):
                    codes.add(cref["code"])
            for flt in part.get("filter", ()) or ():
                value = flt.get("value") if isinstance(flt, dict) else None
                if isinstance(value, str) and flt.get("op") != "regex":
                    codes.update(v.strip() for v in value.split(","))
    return out


def _ordered(kinds: Iterable[str]) -> tuple[str, ...]:
    s = set(kinds)
    return tuple(k for k in CLASSES if k in s)


def _jsonable(value: Any) -> Any:
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


# --- release references -------------------------------------------------------------------------


def parse_release_ref(vocab: Vocabulary, text: str) -> tuple[str, str]:
    """``ffb@20200908``, ``ffb|20200908``, ``urn:oid:...|20200908`` or ``ffb`` (newest) ->
    ``(system, version)``. Raises :class:`UnknownConceptError` naming what is unknown."""
    text = text.strip()
    if not text or len(text) > 500:
        raise UnknownConceptError("a release is written scheme@version or system|version")
    if "|" in text:
        name, _, version = text.partition("|")
    elif "@" in text:
        name, _, version = text.rpartition("@")
    else:
        name, version = text, ""
    system = name if name in vocab.systems() else vocab.system_of(name)
    version = version or vocab.default_version(system)
    vocab.release(system, version)  # raises naming the versions held
    return system, version


# --- changelog ----------------------------------------------------------------------------------

_KIND_VERBS_DA = {
    "active": "aktiv",
    "deprecated": "frarådet",
    "retired": "udgået",
}


def changelog_markdown(
    diff: SchemeDiff | ReleaseDiff, *, impact: Impact | None = None, max_chars: int = 240
) -> str:
    """A Danish changelog in Markdown: a summary table, then every change by class.

    Long definitions are cut at ``max_chars`` (0: never cut); whitespace-only label changes are
    listed apart from real renames.
    """
    rd = as_release_diff(diff)
    lines = [f"# Ændringer fra {rd.label_a} til {rd.label_b}", ""]
    changed = rd.changed_schemes()
    if not changed and rd.mappings.empty and not rd.schemes_added and not rd.schemes_removed:
        lines.append("Ingen ændringer.")
        return "\n".join(lines) + "\n"
    for label, items in (
        ("Nye skemaer", rd.schemes_added),
        ("Fjernede skemaer", rd.schemes_removed),
    ):
        if items:
            lines += [f"**{label}:** " + ", ".join(f"`{i}`" for i in items), ""]
    for sd in changed:
        lines += _scheme_markdown(sd, max_chars)
    if not rd.mappings.empty:
        lines += _mappings_markdown(rd.mappings)
    if impact is not None:
        lines += _impact_markdown(impact)
    return "\n".join(lines).rstrip() + "\n"


def _scheme_markdown(sd: SchemeDiff, max_chars: int) -> list[str]:
    counts = sd.counts()
    out = [
        f"## {sd.scheme} {sd.version_a} → {sd.version_b}",
        "",
        f"{sd.concepts_a} → {sd.concepts_b} begreber (`{sd.system}`).",
        "",
        "| ændring | antal begreber |",
        "|---|---:|",
    ]
    out += [f"| {CLASS_TITLES_DA[k]} | {counts[k]} |" for k in CLASSES if counts[k]]
    out.append("")
    for key, (a, b) in sd.metadata.items():
        out.append(f"- Skemaets `{key}`: {_md(a)} → {_md(b)}")
    if sd.metadata:
        out.append("")
    for kind in CLASSES:
        items = sd.of_kind(kind)
        if not items:
            continue
        out += [f"### {CLASS_TITLES_DA[kind]} ({counts[kind]})", ""]
        if kind == RELABELLED:
            real = [c for c in items if not c.whitespace_only]
            ws = [c for c in items if c.whitespace_only]
            out += [_line(c, max_chars) for c in real]
            if ws:
                if real:
                    out.append("")
                out.append(f"Kun mellemrum rettet ({len(ws)}):")
                out.append("")
                out += [f"- {_name(c)}: {_mdq(c.before)} → {_mdq(c.after)}" for c in ws]
        else:
            out += [_line(c, max_chars) for c in items]
        out.append("")
    return out


def _line(c: ConceptChange, max_chars: int) -> str:
    name = _name(c)
    if c.kind == ADDED:
        return f"- {name}"
    if c.kind == REMOVED:
        return f"- {name} (var {_KIND_VERBS_DA.get(c.before, c.before)})"
    if c.kind in (RETIRED, REACTIVATED):
        text = (
            f"- {name}: {_KIND_VERBS_DA.get(c.before, c.before)} → "
            f"{_KIND_VERBS_DA.get(c.after, c.after)}"
        )
        if c.replaced_by:
            text += "; erstattet af " + _refs(c.replaced_by)
        return text
    if c.kind == RELABELLED:
        what = "betegnelse" if c.label_type == PREFERRED else "alternative betegnelser"
        return f"- {name} [{c.language}, {what}]: {_mdq(c.before)} → {_mdq(c.after)}"
    if c.kind == REDEFINED:
        if c.before is None:
            return f"- {name}: definition tilføjet: {_mdq(_cut(c.after, max_chars))}"
        if c.after is None:
            return f"- {name}: definition fjernet (var {_mdq(_cut(c.before, max_chars))})"
        return (
            f"- {name}:  \n  før: {_mdq(_cut(c.before, max_chars))}  \n"
            f"  nu: {_mdq(_cut(c.after, max_chars))}"
        )
    if c.kind == MOVED:
        return f"- {name}: under {_refs(c.before)} → under {_refs(c.after)}"
    return f"- {name} `{c.property}`: {_mdq(c.before)} → {_mdq(c.after)}"


def _mappings_markdown(md: MappingDiff) -> list[str]:
    counts = md.counts()
    out = ["## Mappinger", ""]
    if md.sets_added:
        out.append("Nye mapping-sæt: " + ", ".join(f"`{s}`" for s in md.sets_added))
    if md.sets_removed:
        out.append("Fjernede mapping-sæt: " + ", ".join(f"`{s}`" for s in md.sets_removed))
    for kind, title in MAPPING_TITLES_DA.items():
        items = md.of_kind(kind)
        if not items:
            continue
        out += ["", f"### {title} ({counts[kind]})", ""]
        for c in items:
            row = c.after or c.before
            subject = row.subject_label or c.subject_code
            obj = row.object_label or c.object_code
            text = (
                f"- `{c.set_id}`: {_md(subject)} (`{c.subject_code}`) "
                f"{short_name(row.predicate)} {_md(obj)} (`{c.object_code}`), {row.status}"
            )
            if c.fields:
                text += "; " + ", ".join(
                    f"{k}: {_mdq(_jsonable(a))} → {_mdq(_jsonable(b))}"
                    for k, (a, b) in c.fields.items()
                )
            out.append(text)
    out.append("")
    return out


def _impact_markdown(imp: Impact) -> list[str]:
    out = ["## Konsekvenser", ""]
    if not (imp.mappings or imp.valuesets or imp.plans):
        return [*out, "Ingen mappinger, værdisæt eller planer bruger de ændrede begreber.", ""]
    if imp.mappings:
        out += [f"### Mappinger, der bruger ændrede begreber ({len(imp.mappings)})", ""]
        for m in imp.mappings:
            ends = "; ".join(
                f"`{code}` ({', '.join(_DA_KIND[k] for k in kinds)})"
                for (_, code), kinds in m.changed.items()
            )
            out.append(f"- `{m.set_id}` linje {m.mapping.line}: {ends}")
        out.append("")
    if imp.valuesets:
        out += [f"### Værdisæt ({len(imp.valuesets)})", ""]
        for v in imp.valuesets:
            parts = []
            if v.referenced:
                parts.append(f"definitionen nævner {len(v.referenced)} ændrede begreber")
            if v.members_changed:
                parts.append(f"{len(v.members_changed)} ændrede medlemmer")
            if v.members_added:
                parts.append(f"{len(v.members_added)} nye medlemmer")
            if v.members_removed:
                parts.append(f"{len(v.members_removed)} medlemmer færre")
            if v.errors:
                parts.append("kan ikke udfoldes: " + "; ".join(v.errors))
            out.append(f"- {v.name} (`{v.url}`): " + ", ".join(parts))
        out.append("")
    if imp.plans:
        out += [f"### Planer ({len(imp.plans)})", ""]
        for p in imp.plans:
            out.append(f"- {p.plan_id}: " + ", ".join(f"`{c}`" for c in p.codes))
        out.append("")
    return out


_DA_KIND = {
    ADDED: "ny",
    REMOVED: "fjernet",
    RETIRED: "udfaset",
    REACTIVATED: "genaktiveret",
    RELABELLED: "ny betegnelse",
    REDEFINED: "ny definition",
    MOVED: "flyttet",
    PROPERTY: "ændret egenskab",
}


def changelog_text(diff: SchemeDiff | ReleaseDiff, *, impact: Impact | None = None) -> str:
    """A short plain-text overview for a terminal: counts per class and one line per change."""
    rd = as_release_diff(diff)
    lines = [f"Ændringer fra {rd.label_a} til {rd.label_b}"]
    for sd in rd.changed_schemes():
        counts = sd.counts()
        lines.append(
            f"{sd.scheme} {sd.version_a} → {sd.version_b}: "
            f"{sd.concepts_a} → {sd.concepts_b} begreber"
        )
        for kind in CLASSES:
            if counts[kind]:
                lines.append(f"  {CLASS_TITLES_DA[kind]}: {counts[kind]}")
        ws = _count_codes(sd, RELABELLED, whitespace_only=True)
        if ws:
            lines.append(f"    heraf kun mellemrum rettet i betegnelsen: {ws}")
        for c in sd.changes:
            lines.append(f"    {_DA_KIND[c.kind]:16} {c.code}  {_short(c)}")
    for s in rd.schemes_added:
        lines.append(f"Nyt skema: {s}")
    for s in rd.schemes_removed:
        lines.append(f"Fjernet skema: {s}")
    if not rd.mappings.empty:
        counts = rd.mappings.counts()
        lines.append(
            "Mappinger: "
            + ", ".join(f"{MAPPING_TITLES_DA[k].lower()} {n}" for k, n in counts.items())
        )
        for c in rd.mappings.changes:
            lines.append(f"    {c.kind:8} {c.set_id}: {c.subject_code} → {c.object_code}")
    if len(lines) == 1:
        lines.append("Ingen ændringer.")
    if impact is not None:
        lines.append(
            f"Konsekvenser: {len(impact.mappings)} mappinger, {len(impact.valuesets)} værdisæt, "
            f"{len(impact.plans)} planer"
        )
        for v in impact.valuesets:
            lines.append(f"    værdisæt {v.name}")
        for m in impact.mappings:
            lines.append(f"    mapping {m.set_id} linje {m.mapping.line}")
        for p in impact.plans:
            lines.append(f"    plan {p.plan_id}: {len(p.codes)} ændrede begreber")
    return "\n".join(lines) + "\n"


def _short(c: ConceptChange) -> str:
    if c.kind == RELABELLED:
        return f"{_quote(c.before)} → {_quote(c.after)}"
    if c.kind == MOVED:
        return f"{c.display.strip()}: {_refs(c.before)} → {_refs(c.after)}"
    if c.kind in (RETIRED, REACTIVATED):
        return f"{c.display.strip()}: {c.before} → {c.after}"
    return c.display.strip()


def _name(c: ConceptChange) -> str:
    return f"**{_md(c.display.strip())}** (`{c.code}`)"


def _refs(refs: Sequence[Ref] | None) -> str:
    if not refs:
        return "(top)"
    return ", ".join(f"{r.display} (`{r.code}`)" for r in refs)


def _quote(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, tuple | list):
        return "[" + ", ".join(_quote(v) for v in value) + "]"
    return "«" + str(value).replace("\n", " ") + "»"


def _mdq(value: Any) -> str:
    return _md(_quote(value))


def _cut(text: str | None, max_chars: int) -> str | None:
    if text is None or not max_chars or len(text) <= max_chars:
        return text
    return text[: max_chars - 1].rstrip() + "…"


def _md(value: Any) -> str:
    """Markdown-safe inline text: labels come from official sources and may hold ``*`` or ``|``."""
    text = str(value)
    return re.sub(r"([\\`*_\[\]|<>])", r"\\\1", text)
