"""The common FFB model (ontology/ffb-core.ttl) as plain records: concept kinds and goal categories.

Read with pyoxigraph's parser rather than rdflib because this runs when the server loads.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import pyoxigraph as ox

from termserver import iris
from termserver.errors import SourceError

_TYPE = iris.RDF + "type"
_CLASS = iris.OWL + "Class"
_SUBCLASS_OF = iris.RDFS + "subClassOf"
_LABEL = iris.RDFS + "label"
ROOT_CONCEPT = iris.CORE + "rootConcept"
GOAL_CATEGORY = iris.CORE + "goalCategory"


@dataclass(frozen=True)
class Kind:
    """A kind of FFB concept (e.g. Tilstand), headed by one real FFB concept.

    ``parent`` is the IRI of the kind this one is a subclass of, if that is itself a kind.
    """

    iri: str
    label_da: str
    label_en: str
    root_concept: str | None
    parent: str | None


@dataclass(frozen=True)
class CoreModel:
    """The concept kinds and goal categories of ffb-core.ttl."""

    kinds: tuple[Kind, ...]
    goal_categories: dict[str, str]

    def kinds_by_root(self) -> dict[str, Kind]:
        """Map each root concept IRI to its kind (kinds without a root are left out)."""
        return {k.root_concept: k for k in self.kinds if k.root_concept is not None}

    def kind(self, iri: str) -> Kind | None:
        """The kind with this class IRI, or None."""
        return next((k for k in self.kinds if k.iri == iri), None)


def load_core_model(path: str | Path) -> CoreModel:
    """Read ffb-core.ttl into a :class:`CoreModel`; SourceError on malformed or incomplete input.

    A kind is an ``owl:Class`` that carries ``core:rootConcept``. Kinds keep the order in which
    their declarations appear in the file.
    """
    path = Path(path)
    source = str(path)
    try:
        triples = list(ox.parse(path=source, format=ox.RdfFormat.TURTLE))
    except SyntaxError as exc:
        location = f"line {exc.lineno}, column {exc.offset}" if exc.lineno else None
        raise SourceError(source, location, f"invalid Turtle: {exc.msg}") from exc
    except OSError as exc:
        raise SourceError(source, None, f"cannot read file: {exc}") from exc

    # Named subjects only: restrictions and lists are blank nodes and say nothing about kinds.
    by_subject: dict[str, list[tuple[str, ox.NamedNode | ox.Literal | ox.BlankNode]]] = defaultdict(
        list
    )
    for t in triples:
        if isinstance(t.subject, ox.NamedNode):
            by_subject[t.subject.value].append((t.predicate.value, t.object))

    roots: dict[str, str] = {}
    goal_categories: dict[str, str] = {}
    for subject, po in by_subject.items():
        root = _one_iri(subject, po, ROOT_CONCEPT, source)
        if root is not None:
            roots[subject] = root
        category = _one_iri(subject, po, GOAL_CATEGORY, source)
        if category is not None:
            goal_categories[subject] = category

    kinds = []
    seen_roots: dict[str, str] = {}
    for subject, root in roots.items():
        po = by_subject[subject]
        if (_TYPE, ox.NamedNode(_CLASS)) not in po:
            raise SourceError(
                source, subject, "core:rootConcept on something that is not an owl:Class"
            )
        if root in seen_roots:
            raise SourceError(
                source, subject, f"root concept {root} already heads {seen_roots[root]}"
            )
        seen_roots[root] = subject
        parents = [
            o.value
            for p, o in po
            if p == _SUBCLASS_OF and isinstance(o, ox.NamedNode) and o.value in roots
        ]
        if len(parents) > 1:
            raise SourceError(source, subject, f"kind has more than one parent kind: {parents}")
        kinds.append(
            Kind(
                iri=subject,
                label_da=_label(subject, po, "da", source),
                label_en=_label(subject, po, "en", source),
                root_concept=root,
                parent=parents[0] if parents else None,
            )
        )
    return CoreModel(kinds=tuple(kinds), goal_categories=goal_categories)


def _one_iri(subject: str, po: list, predicate: str, source: str) -> str | None:
    """The single IRI value of ``predicate``; SourceError if it is repeated or a literal."""
    values = [o for p, o in po if p == predicate]
    if not values:
        return None
    if len(values) > 1:
        raise SourceError(source, subject, f"more than one <{predicate}>")
    if not isinstance(values[0], ox.NamedNode):
        raise SourceError(source, subject, f"<{predicate}> must be an IRI, not {values[0]}")
    return values[0].value


def _label(subject: str, po: list, language: str, source: str) -> str:
    """The one rdfs:label in ``language``; SourceError if there is none."""
    for p, o in po:
        if p == _LABEL and isinstance(o, ox.Literal) and o.language == language:
            return o.value
    raise SourceError(source, subject, f"kind lacks an rdfs:label in @{language}")
