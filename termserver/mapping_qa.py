"""Mapping QA across all sets, and the coverage report per local tool.

:func:`termserver.mappings.check_mapping_set` judges one set against the vocabulary (unknown or
retired concepts, a subject not in its scheme, scores across constructs). This module adds what
only shows when the sets are read together: contradictory relations for the same pair (also
when one set says A exactMatch B and another B narrowMatch A), the same mapping in two sets,
one-to-many exactMatch, scale crosswalks that are not ordinal or not sourced; and, per local
tool, which items are mapped, how strongly, and which are not (:func:`coverage`).
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path
from typing import Any

from termserver.errors import SourceError
from termserver.mappings import (
    BROAD,
    CLOSE,
    EXACT,
    NARROW,
    RELATED,
    Mapping,
    MappingFileError,
    MappingSet,
    check_mapping_sets,
    inverse,
    load_mapping_sets,
    short_name,
)
from termserver.qa import ERROR, INFO, WARNING, Finding
from termserver.scales import CONSTRUCT_DA, PROGRESSION, Scale, ScaleIndex

#: Relation pairs that cannot both hold between the same two concepts (SKOS: related is
#: disjoint with broader; exact is neither broader nor narrower; broad and narrow at once
#: would make them the same concept).
_CONTRADICTORY = {
    frozenset(p)
    for p in (
        (EXACT, BROAD),
        (EXACT, NARROW),
        (EXACT, RELATED),
        (BROAD, NARROW),
        (RELATED, BROAD),
        (RELATED, NARROW),
    )
}
_STRENGTH = {EXACT: 0, CLOSE: 1, BROAD: 2, NARROW: 2, RELATED: 3}


def _where(ms: MappingSet, m: Mapping) -> str:
    name = ms.source_file or f"{ms.id}.yaml"
    return f"{name} line {m.line}" if m.line else name


def _pair_label(m: Mapping) -> str:
    s = m.subject_label or m.subject_code
    o = m.object_label or m.object_code
    return f"{s} ({m.subject_code}) / {o} ({m.object_code})"


def check_mappings(sets: Iterable[MappingSet], vocab) -> list[Finding]:
    """Every mapping QA finding over the given sets, per set and across sets."""
    sets = list(sets)
    scales = ScaleIndex(vocab)
    found = [
        Finding(
            p.rule, p.severity, f"{p.source}: {p.location}" if p.location else p.source, p.message
        )
        for p in check_mapping_sets(sets, vocab)
    ]
    found += _pair_findings(sets)
    found += _one_to_many_exact(sets)
    found += _scale_findings(sets, scales)
    return found


def _pair_findings(sets: list[MappingSet]) -> list[Finding]:
    # Orient every row from the smaller (system, code) to the larger, so "A exact B" in one set
    # and "B narrow A" in another land on the same key.
    by_pair: dict[tuple, list[tuple[str, MappingSet, Mapping]]] = defaultdict(list)
    for ms in sets:
        for m in ms.mappings:
            if m.subject == m.object:
                continue
            if m.subject < m.object:
                by_pair[(m.subject, m.object)].append((m.predicate, ms, m))
            else:
                by_pair[(m.object, m.subject)].append((inverse(m.predicate), ms, m))
    out: list[Finding] = []
    for rows in by_pair.values():
        if len(rows) < 2:
            continue
        where = "; ".join(_where(ms, m) for _r, ms, m in rows)
        pair = _pair_label(rows[0][2])
        relations = {r for r, _ms, _m in rows}
        said = ", ".join(f"{short_name(m.predicate)} ({ms.id})" for _r, ms, m in rows)
        bad = [p for p in _CONTRADICTORY if p <= relations]
        if bad:
            out.append(
                Finding(
                    "mapping-contradictory",
                    ERROR,
                    where,
                    f"{pair}: contradictory relations {said}",
                )
            )
        elif len(relations) > 1:
            out.append(
                Finding(
                    "mapping-mixed-strength",
                    WARNING,
                    where,
                    f"{pair}: different relations {said}; keep the one that holds",
                )
            )
        else:
            out.append(
                Finding(
                    "mapping-duplicate-across-sets",
                    WARNING,
                    where,
                    f"{pair}: the same mapping {said} is stated more than once",
                )
            )
    return out


def _one_to_many_exact(sets: list[MappingSet]) -> list[Finding]:
    # exactMatch is symmetric and transitive: two exact partners in one system say those two
    # are the same concept, which a scheme should not hold twice.
    partners: dict[tuple[str, str], dict[str, dict[str, list[str]]]] = defaultdict(
        lambda: defaultdict(dict)
    )
    for ms in sets:
        for m in ms.mappings:
            if m.predicate != EXACT or m.subject == m.object:
                continue
            for a, b in ((m.subject, m.object), (m.object, m.subject)):
                partners[a][b[0]].setdefault(b[1], []).append(_where(ms, m))
    out = []
    for (system, code), by_system in sorted(partners.items()):
        for other, codes in sorted(by_system.items()):
            if len(codes) > 1:
                where = "; ".join(w for ws in codes.values() for w in ws)
                out.append(
                    Finding(
                        "mapping-one-to-many-exact",
                        WARNING,
                        where,
                        f"{code} ({system}) has exactMatch to {len(codes)} concepts of {other}: "
                        + ", ".join(sorted(codes)),
                    )
                )
    return out


def _scale_findings(sets: list[MappingSet], scales: ScaleIndex) -> list[Finding]:
    out = []
    for ms in sets:
        groups: dict[tuple[Scale, Scale], list[tuple[int, int, Mapping]]] = defaultdict(list)
        for m in ms.mappings:
            sp = scales.point(*m.subject)
            op = scales.point(*m.object)
            if not (sp and op and sp.is_step and op.is_step) or sp.scale == op.scale:
                continue
            s_rank = sp.scale.rank(sp.code)
            o_rank = op.scale.rank(op.code)
            assert s_rank is not None and o_rank is not None
            groups[(sp.scale, op.scale)].append((s_rank, o_rank, m))
        name = ms.source_file or f"{ms.id}.yaml"
        for (s, o), rows in groups.items():
            rows.sort(key=lambda t: t[0])
            for (r1, o1, m1), (r2, o2, m2) in pairwise(rows):
                if r1 < r2 and o1 > o2:
                    out.append(
                        Finding(
                            "mapping-scale-not-ordinal",
                            ERROR,
                            f"{_where(ms, m1)}; line {m2.line}",
                            f"{s.label} → {o.label} reverses the order of the steps "
                            f"({m1.subject_code} → {m1.object_code}, "
                            f"{m2.subject_code} → {m2.object_code})",
                        )
                    )
            proposed = [m for _a, _b, m in rows if m.proposed]
            if proposed:
                out.append(
                    Finding(
                        "mapping-scale-crosswalk-unsourced",
                        WARNING,
                        name,
                        f"{len(proposed)} step(s) of {s.label} are only proposed to map to "
                        f"{o.label} by ordinal position; no source equates the two scales, so "
                        "this is a proposal, not a conversion of scores",
                    )
                )
            else:
                sources = sorted({m.source for _a, _b, m in rows if m.source})
                out.append(
                    Finding(
                        "mapping-scale-crosswalk-offered",
                        INFO,
                        name,
                        f"sourced ordinal crosswalk {s.label} → {o.label} ({'; '.join(sources)})",
                    )
                )
    return out


def mapping_findings(vocab, directory: Path | None = None) -> list[Finding]:
    """Load the mapping sets (``directory``, else $TERMSERVER_MAPPINGS, else the project's)
    and check them; unreadable files become error findings, one per problem."""
    from termserver.mappings import MAPPINGS_ENV_VAR, mappings_dir

    if directory is None:
        try:
            directory = mappings_dir()
        except FileNotFoundError:
            return []
    if not directory.is_dir():
        if os.environ.get(MAPPINGS_ENV_VAR):
            return [Finding("unreadable-file", ERROR, str(directory), "no such directory")]
        return []
    try:
        sets = load_mapping_sets(directory)
    except MappingFileError as exc:
        return [
            Finding("mapping-file-invalid", ERROR, p.source, f"{p.location}: {p.message}")
            for p in exc.problems
        ]
    except SourceError as exc:
        return [Finding("mapping-file-invalid", ERROR, exc.source, str(exc))]
    found = check_mappings(sets, vocab)
    found += [
        Finding("mapping-coverage", INFO, c.scheme, c.summary_da()) for c in coverage(sets, vocab)
    ]
    return found


# --- coverage --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MappedTarget:
    """One mapping of a tool item, read from the item: ``item <relation> target``."""

    set_id: str
    system: str
    scheme: str | None
    code: str
    label: str
    relation: str
    status: str
    confidence: float | None
    line: int | None

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "mappingSet": self.set_id,
            "system": self.system,
            "scheme": self.scheme,
            "code": self.code,
            "label": self.label,
            "relation": self.relation,
            "relationName": short_name(self.relation),
            "status": self.status,
            "confidence": self.confidence,
            "line": self.line,
        }


def _target_rank(t: MappedTarget) -> tuple:
    conf = -t.confidence if t.confidence is not None else -0.5
    return (_STRENGTH[t.relation], t.status != "published", conf, t.label)


@dataclass(frozen=True, slots=True)
class ItemCoverage:
    """One item of a tool and its direct mappings, best first."""

    code: str
    label: str
    kind: str | None
    targets: tuple[MappedTarget, ...]

    @property
    def mapped(self) -> bool:
        """True when any mapping set maps this item."""
        return bool(self.targets)

    @property
    def best(self) -> MappedTarget | None:
        """The strongest mapping (relation, then published, then confidence)."""
        return self.targets[0] if self.targets else None

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        best = self.best
        return {
            "code": self.code,
            "label": self.label,
            "kind": self.kind,
            "mapped": self.mapped,
            "bestRelation": short_name(best.relation) if best else None,
            "bestStatus": best.status if best else None,
            "bestConfidence": best.confidence if best else None,
            "targets": [t.to_dict() for t in self.targets],
        }


@dataclass(frozen=True, slots=True)
class ScaleCoverage:
    """One scale of a tool: how many steps are crosswalked, to what, and whether sourced."""

    label: str
    construct: str
    steps: int
    mapped_steps: int
    targets: tuple[str, ...]  # labels of the scales its steps map to
    sourced: bool
    note: str

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "label": self.label,
            "construct": self.construct,
            "steps": self.steps,
            "mappedSteps": self.mapped_steps,
            "targets": list(self.targets),
            "sourced": self.sourced,
            "note": self.note,
        }


@dataclass(frozen=True)
class ToolCoverage:
    """Coverage of one local tool (a scheme): its items, its groupings, its scales."""

    scheme: str
    title: str
    system: str
    items: tuple[ItemCoverage, ...]
    groups: tuple[str, ...] = ()  # codes of grouping concepts, not counted
    scales: tuple[ScaleCoverage, ...] = field(default=())

    @property
    def mapped(self) -> list[ItemCoverage]:
        """Items with at least one mapping."""
        return [i for i in self.items if i.mapped]

    @property
    def unmapped(self) -> list[ItemCoverage]:
        """Items no mapping set maps."""
        return [i for i in self.items if not i.mapped]

    def by_best_relation(self) -> dict[str, int]:
        """How many items have each relation as their best one."""
        counts: dict[str, int] = {}
        for i in self.mapped:
            assert i.best is not None
            name = short_name(i.best.relation)
            counts[name] = counts.get(name, 0) + 1
        return dict(sorted(counts.items(), key=lambda kv: _STRENGTH["skos:" + kv[0]]))

    @property
    def published(self) -> int:
        """Items whose best mapping is stated in a published source."""
        return sum(1 for i in self.mapped if i.best and i.best.status == "published")

    def summary_da(self) -> str:
        """One line in Danish for ``termserver check``."""
        rel = ", ".join(f"{k} {v}" for k, v in self.by_best_relation().items()) or "ingen"
        text = (
            f"{self.title}: {len(self.mapped)} af {len(self.items)} punkter mappet "
            f"({self.published} publiceret, {len(self.mapped) - self.published} kun foreslået; "
            f"bedste relation: {rel})"
        )
        if self.unmapped:
            text += "; ikke mappet: " + ", ".join(f"{i.label} ({i.code})" for i in self.unmapped)
        for s in self.scales:
            text += f"; skala {s.label}: {s.note}"
        return text

    def to_dict(self) -> dict[str, Any]:
        """JSON form (for the coverage web page and ``termserver coverage --json``)."""
        return {
            "scheme": self.scheme,
            "title": self.title,
            "system": self.system,
            "items": len(self.items),
            "mapped": len(self.mapped),
            "published": self.published,
            "proposed": len(self.mapped) - self.published,
            "byBestRelation": self.by_best_relation(),
            "unmapped": [{"code": i.code, "label": i.label} for i in self.unmapped],
            "itemDetails": [i.to_dict() for i in self.items],
            "groups": list(self.groups),
            "scales": [s.to_dict() for s in self.scales],
        }


def _sets_of(translator_or_sets) -> list[MappingSet]:
    sets = getattr(translator_or_sets, "mapping_sets", translator_or_sets)
    return list(sets)


def local_tools(vocab) -> list[str]:
    """Scheme ids of the local tools: schemes whose codes this project assigned."""
    return [s.scheme for s in vocab.schemes() if s.codes_assigned]


def coverage(translator_or_sets, vocab, tools: Iterable[str] | None = None) -> list[ToolCoverage]:
    """Coverage per tool (default: every local tool), from a Translator or a list of sets.

    Items are the tool's selectable concepts that are not on a scale; each lists its direct
    mappings in any set, read from the item (``item closeMatch target``), best first.
    """
    sets = _sets_of(translator_or_sets)
    scales = ScaleIndex(vocab)
    edges: dict[tuple[str, str], list[MappedTarget]] = defaultdict(list)
    for ms in sets:
        for m in ms.mappings:
            if m.subject == m.object:
                continue
            for start, end, relation, end_label in (
                (m.subject, m.object, m.predicate, m.object_label),
                (m.object, m.subject, inverse(m.predicate), m.subject_label),
            ):
                concept = vocab.get(*end) if end[0] in vocab.systems() else None
                edges[start].append(
                    MappedTarget(
                        set_id=ms.id,
                        system=end[0],
                        scheme=vocab.scheme_of(end[0]) if end[0] in vocab.systems() else None,
                        code=end[1],
                        label=concept.display.strip() if concept else (end_label or end[1]),
                        relation=relation,
                        status=m.status,
                        confidence=m.confidence,
                        line=m.line,
                    )
                )
    out = []
    for scheme in tools if tools is not None else local_tools(vocab):
        system = vocab.system_of(scheme)
        release = vocab.release(system)
        items, groups = [], []
        for c in vocab.concepts(system):
            if scales.point(system, c.code) is not None:
                continue
            if c.not_selectable:
                groups.append(c.code)
                continue
            kind = next((str(p.value) for p in c.properties if p.code == "kind"), None)
            targets = tuple(sorted(edges.get((system, c.code), []), key=_target_rank))
            items.append(ItemCoverage(c.code, c.display.strip(), kind, targets))
        items.sort(key=lambda i: i.label.casefold())
        out.append(
            ToolCoverage(
                scheme=scheme,
                title=release.title or scheme,
                system=system,
                items=tuple(items),
                groups=tuple(groups),
                scales=tuple(
                    _scale_coverage(s, system, scales, edges) for s in scales.scales_of(system)
                ),
            )
        )
    return out


def _scale_coverage(scale: Scale, system: str, scales: ScaleIndex, edges) -> ScaleCoverage:
    mapped = 0
    targets: dict[str, list[str]] = defaultdict(list)
    for code in scale.steps:
        on_scales = [t for t in edges.get((system, code), []) if scales.point(t.system, t.code)]
        if on_scales:
            mapped += 1
        for t in on_scales:
            point = scales.point(t.system, t.code)
            assert point is not None
            targets[point.scale.label].append(t.status)
    sourced = bool(targets) and all(s == "published" for v in targets.values() for s in v)
    construct = CONSTRUCT_DA[scale.construct]
    if not targets:
        note = f"måler {construct}; ingen trin oversat, og ingen kilde giver en krydsreference"
        if scale.construct == PROGRESSION:
            note += " (progression er ikke sværhedsgrad: map dimensionen, behold scoren)"
    elif sourced:
        note = f"{mapped} af {len(scale.steps)} trin har en publiceret krydsreference til " + (
            ", ".join(targets)
        )
    else:
        note = (
            f"{mapped} af {len(scale.steps)} trin kun foreslået oversat til "
            + ", ".join(targets)
            + " efter ordinal position; ingen kilde sidestiller skalaerne, så det er et "
            "forslag, ikke en omregning"
        )
    return ScaleCoverage(
        label=scale.label,
        construct=scale.construct,
        steps=len(scale.steps),
        mapped_steps=mapped,
        targets=tuple(targets),
        sourced=sourced,
        note=note,
    )
