"""Which FFB concept kind (ffb-core.ttl) a concept belongs to: tilstand, ydelse, målgruppe, ...

A concept belongs to the kind of its nearest kind root, counting itself (the rule stated on
``core:rootConcept`` in ffb-core.ttl), so Vaske sig is *Aktivitet og deltagelse*, which is a
*Tilstand*.
"""

from __future__ import annotations

from termserver.core_model import CoreModel, Kind
from termserver.iris import split_concept_iri
from termserver.model import Concept
from termserver.vocabulary import Vocabulary


class KindIndex:
    """Concept → kind, over one snapshot."""

    def __init__(self, vocab: Vocabulary, core: CoreModel) -> None:
        self._vocab = vocab
        self._by_root: dict[tuple[str, str], Kind] = {}
        for root_iri, kind in core.kinds_by_root().items():
            split = split_concept_iri(root_iri)
            if split is None:
                continue
            try:
                system = vocab.system_of(split[0])
            except LookupError:
                continue
            self._by_root[(system, split[1])] = kind
        self._roots: dict[str, frozenset[str]] = {}
        for system, code in self._by_root:
            self._roots[system] = self._roots.get(system, frozenset()) | {code}

    def kind_of(self, concept: Concept) -> Kind | None:
        """The kind of ``concept``, or None outside the kinds ffb-core defines."""
        roots = self._roots.get(concept.system)
        if not roots:
            return None
        root = self._vocab.nearest(concept, roots)
        return self._by_root.get((concept.system, root.code)) if root else None

    def lineage(self, concept: Concept) -> list[Kind]:
        """The kind and the kinds above it, nearest first (Aktivitet og deltagelse, Tilstand)."""
        kind = self.kind_of(concept)
        out: list[Kind] = []
        by_iri = {k.iri: k for k in self._by_root.values()}
        while kind is not None and kind not in out:
            out.append(kind)
            kind = by_iri.get(kind.parent) if kind.parent else None
        return out
