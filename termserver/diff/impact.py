"""Impact of a diff: the mapping rows, value sets and stored plans that use what changed."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from termserver.diff.compare import as_release_diff
from termserver.diff.records import CLASSES, EXISTING_CLASSES, ReleaseDiff, SchemeDiff
from termserver.mappings import Mapping, MappingSet, short_name
from termserver.valuesets import ValueSetError, ValueSetIndex

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
