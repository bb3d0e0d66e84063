"""Translation over mapping sets: forward, reverse, and chains through FFB.

A mapping row is an edge ``subject --predicate--> object``; read backwards it is the inverse
relation (broad ↔ narrow). A translation follows one edge, or a chain whose every intermediate
concept is in a hub system (FFB): VUM 1.0 theme → FFB → Forandringskompas dimension.

Relation composition (``r1`` then ``r2``; the result is never stronger than either step)::

    ∘          exact    close    broad    narrow   related
    exact      exact    close    broad    narrow   related
    close      close    close    broad    narrow   related
    broad      broad    broad    broad    related  related
    narrow     narrow   narrow   related  narrow   related
    related    related  related  related  related  related

- exact is the identity: exact∘X = X∘exact = X.
- close∘close = close. close with broad/narrow keeps the direction (close∘broad = broad): the
  close step blurs the boundary, the broad step still says which side is wider. This is our
  choice where the issue is silent; it is no stronger than the broad step alone.
- broad∘broad = broad and narrow∘narrow = narrow (both transitive in SKOS's intended sense).
- broad∘narrow and narrow∘broad = related: going up and back down lands on a sibling, "related
  at best". Anything with related is related.

Confidence: the weakest stated confidence on the path (None when no step states one). A
translation is ``proposed`` when any step is only proposed.

Dates: with ``as_of``, a row whose validity period excludes the day is not followed, and no
concept is reached in a scheme whose release is not valid that day (SEL § 50 ends 2023-12-31,
Barnets lov starts 2024-01-01). The concept translated *from* is never filtered: asking what a
historic code means today is the point.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from termserver.errors import UnknownConceptError
from termserver.mappings import (
    BROAD,
    CLOSE,
    EXACT,
    NARROW,
    PREDICATES,
    RELATED,
    Mapping,
    MappingSet,
    inverse,
    load_mapping_sets,
    short_name,
)

FFB_SYSTEM = "urn:oid:1.2.208.176.2.22"
MAX_STEPS = 4

_COMPOSE: dict[tuple[str, str], str] = {}
for _r in PREDICATES:
    _COMPOSE[(EXACT, _r)] = _r
    _COMPOSE[(_r, EXACT)] = _r
    _COMPOSE[(RELATED, _r)] = RELATED
    _COMPOSE[(_r, RELATED)] = RELATED
_COMPOSE.update(
    {
        (CLOSE, CLOSE): CLOSE,
        (CLOSE, BROAD): BROAD,
        (BROAD, CLOSE): BROAD,
        (CLOSE, NARROW): NARROW,
        (NARROW, CLOSE): NARROW,
        (BROAD, BROAD): BROAD,
        (NARROW, NARROW): NARROW,
        (BROAD, NARROW): RELATED,
        (NARROW, BROAD): RELATED,
    }
)
assert len(_COMPOSE) == len(PREDICATES) ** 2  # every pair has an answer
_STRENGTH = {EXACT: 0, CLOSE: 1, BROAD: 2, NARROW: 2, RELATED: 3}


def compose(first: str, second: str) -> str:
    """The relation of A to C when A ``first`` B and B ``second`` C (see the module table)."""
    return _COMPOSE[(first, second)]


def compose_all(relations: Iterable[str]) -> str:
    """Left fold of :func:`compose`; exact for an empty path."""
    out = EXACT
    for r in relations:
        out = compose(out, r)
    return out


@dataclass(frozen=True, slots=True)
class Step:
    """One mapping row on a path, as followed (``inverted``: read object → subject)."""

    set_id: str
    mapping: Mapping
    inverted: bool

    @property
    def relation(self) -> str:
        """The relation from this step's start to its end."""
        return inverse(self.mapping.predicate) if self.inverted else self.mapping.predicate

    @property
    def start(self) -> tuple[str, str]:
        """``(system, code)`` the step leaves from."""
        return self.mapping.object if self.inverted else self.mapping.subject

    @property
    def end(self) -> tuple[str, str]:
        """``(system, code)`` the step arrives at."""
        return self.mapping.subject if self.inverted else self.mapping.object

    @property
    def start_label(self) -> str:
        """The label the row gives the start concept (its code when it gives none)."""
        m = self.mapping
        label = m.object_label if self.inverted else m.subject_label
        return label or self.start[1]

    @property
    def end_label(self) -> str:
        """The label the row gives the end concept (its code when it gives none)."""
        m = self.mapping
        label = m.subject_label if self.inverted else m.object_label
        return label or self.end[1]

    def to_dict(self) -> dict[str, Any]:
        """JSON form: the step and the row's provenance."""
        return {
            "mappingSet": self.set_id,
            "from": {"system": self.start[0], "code": self.start[1], "label": self.start_label},
            "to": {"system": self.end[0], "code": self.end[1], "label": self.end_label},
            "relation": self.relation,
            "inverted": self.inverted,
            "mapping": {
                "subject": self.mapping.subject_code,
                "predicate": self.mapping.predicate,
                "object": self.mapping.object_code,
                "line": self.mapping.line,
            },
            "provenance": self.mapping.provenance(),
        }


@dataclass(frozen=True, slots=True)
class Translation:
    """A concept reached from the one translated, how, and how sure we are."""

    system: str
    code: str
    display: str | None
    scheme: str | None
    relation: str  # composed, from the translated concept to this one
    confidence: float | None  # the weakest stated on the path
    path: tuple[Step, ...]
    proposed: bool  # True when any step is only proposed

    @property
    def published(self) -> bool:
        """True when every step is stated in a published source."""
        return not self.proposed

    def to_dict(self) -> dict[str, Any]:
        """JSON form for the API and the CLI."""
        return {
            "target": {
                "system": self.system,
                "scheme": self.scheme,
                "code": self.code,
                "display": self.display,
            },
            "relation": self.relation,
            "relationName": short_name(self.relation),
            "confidence": self.confidence,
            "status": "proposed" if self.proposed else "published",
            "steps": len(self.path),
            "path": [s.to_dict() for s in self.path],
        }


def _weakest(values: Iterable[float | None]) -> float | None:
    stated = [v for v in values if v is not None]
    return min(stated) if stated else None


class Translator:
    """Translation over loaded mapping sets and a vocabulary snapshot; immutable once built."""

    def __init__(
        self,
        mapping_sets: Iterable[MappingSet],
        vocab,
        *,
        hubs: Iterable[str] = (FFB_SYSTEM,),
    ) -> None:
        self.vocab = vocab
        self.mapping_sets: tuple[MappingSet, ...] = tuple(mapping_sets)
        self.hubs = frozenset(hubs)
        self._sets = {ms.id: ms for ms in self.mapping_sets}
        self._forward: dict[tuple[str, str], list[Step]] = {}
        self._backward: dict[tuple[str, str], list[Step]] = {}
        for ms in self.mapping_sets:
            for m in ms.mappings:
                if m.subject == m.object:
                    continue  # VUM 2.0 = FFB: a concept mapped to itself adds no translation
                self._forward.setdefault(m.subject, []).append(Step(ms.id, m, False))
                self._backward.setdefault(m.object, []).append(Step(ms.id, m, True))
        self._systems = {
            s for ms in self.mapping_sets for s in (ms.subject_system, ms.object_system)
        }

    @classmethod
    def from_directory(cls, vocab, directory: str | Path | None = None) -> Translator:
        """Load every mapping set in ``directory`` (default: the repository's ``mappings/``)."""
        return cls(load_mapping_sets(directory), vocab)

    def mapping_set(self, set_id: str) -> MappingSet:
        """One set by id."""
        try:
            return self._sets[set_id]
        except KeyError:
            raise UnknownConceptError(f"unknown mapping set {set_id!r}") from None

    def restricted(self, set_ids: Iterable[str]) -> Translator:
        """A translator over only some of the sets (FHIR ``url``)."""
        return Translator([self.mapping_set(s) for s in set_ids], self.vocab, hubs=self.hubs)

    def resolve_system(self, name: str) -> str:
        """A FHIR system URL from a system URL or a scheme id (``vum-1``)."""
        if name in self._systems or name in self.vocab.systems():
            return name
        try:
            return self.vocab.system_of(name)
        except UnknownConceptError:
            for ms in self.mapping_sets:
                for scheme, system in (
                    (ms.subject_scheme, ms.subject_system),
                    (ms.object_scheme, ms.object_system),
                ):
                    if scheme == name:
                        return system
        raise UnknownConceptError(f"unknown code system or scheme {name!r}")

    def knows_system(self, system: str) -> bool:
        """True when the vocabulary or a mapping set has this system."""
        return system in self._systems or system in self.vocab.systems()

    def translate(
        self,
        system: str,
        code: str,
        *,
        target_system: str | None = None,
        reverse: bool = False,
        as_of: date | None = None,
        max_steps: int = 2,
        all_paths: bool = False,
    ) -> list[Translation]:
        """Concepts that ``(system, code)`` translates to, best first.

        ``reverse`` follows the first step from object to subject (the code is a target in the
        maps, as FHIR ``$translate`` reverse). Later steps leave a hub concept either way. The
        relation is always read from the given code to the result. Without ``target_system``
        results in the code's own system are left out. With ``all_paths`` every path is returned;
        otherwise the best path per target concept.
        """
        system = self.resolve_system(system)
        if target_system is not None:
            target_system = self.resolve_system(target_system)
        if not 1 <= max_steps <= MAX_STEPS:
            raise ValueError(f"max_steps must be between 1 and {MAX_STEPS}")
        if system in self.vocab.systems() and self.vocab.get(system, code) is None:
            raise UnknownConceptError(f"unknown code {code!r} in {system}")
        start = (system, code)
        found: list[Translation] = []
        stack: list[tuple[tuple[str, str], tuple[Step, ...]]] = [(start, ())]
        while stack:
            node, path = stack.pop()
            if not path:
                edges = self._backward.get(node, []) if reverse else self._forward.get(node, [])
            else:
                edges = self._forward.get(node, []) + self._backward.get(node, [])
            seen = {start, *(s.end for s in path)}
            for step in edges:
                nxt = step.end
                if nxt in seen or not step.mapping.valid_on(as_of):
                    continue
                if not self._concept_valid(nxt[0], as_of):
                    continue
                new = (*path, step)
                wanted = nxt[0] == target_system if target_system else nxt[0] != system
                if wanted:
                    found.append(self._translation(nxt, new))
                if len(new) < max_steps and nxt[0] in self.hubs:
                    stack.append((nxt, new))
        found.sort(key=_rank)
        if all_paths:
            return found
        best: dict[tuple[str, str], Translation] = {}
        for t in found:
            best.setdefault((t.system, t.code), t)
        return list(best.values())

    def _concept_valid(self, system: str, as_of: date | None) -> bool:
        if as_of is None or system not in self.vocab.systems():
            return True
        meta = self.vocab.release(system)
        if meta.valid_from and as_of < date.fromisoformat(meta.valid_from):
            return False
        return not (meta.valid_to and as_of > date.fromisoformat(meta.valid_to))

    def _translation(self, node: tuple[str, str], path: tuple[Step, ...]) -> Translation:
        system, code = node
        display = scheme = None
        if system in self.vocab.systems():
            scheme = self.vocab.scheme_of(system)
            concept = self.vocab.get(system, code)
            if concept is not None:
                display = concept.display.strip()
        if display is None:
            last = path[-1].mapping
            display = last.subject_label if path[-1].inverted else last.object_label
        return Translation(
            system=system,
            code=code,
            display=display,
            scheme=scheme,
            relation=compose_all(s.relation for s in path),
            confidence=_weakest(s.mapping.confidence for s in path),
            path=path,
            proposed=any(s.mapping.proposed for s in path),
        )


def _rank(t: Translation) -> tuple:
    # Strongest relation first, then published before proposed, surer before less sure, shorter
    # paths before longer; ties by label so output is stable.
    conf = -t.confidence if t.confidence is not None else -0.5
    return (_STRENGTH[t.relation], t.proposed, len(t.path), conf, t.display or "", t.code)
