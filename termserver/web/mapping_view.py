"""The mapping set page: row filters and how much of the local tool is mapped."""

from __future__ import annotations

import threading
import weakref
from dataclasses import dataclass
from typing import TYPE_CHECKING

from termserver.mappings import PREDICATES, STATUSES, Mapping, MappingSet, short_name

if TYPE_CHECKING:  # imported where coverage is computed: deferred for start-up time
    from termserver.mapping_qa import ToolCoverage

# Coverage reads every set; computed once per snapshot (its translator), not per page view.
_COVERAGE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_LOCK = threading.Lock()

#: Confidence filter values (query parameter ``sikkerhed``) and their Danish names.
CONFIDENCE_FILTERS = {
    "0.3": "mindst 0,3 (lav)",
    "0.6": "mindst 0,6 (middel)",
    "0.9": "mindst 0,9 (høj)",
    "ingen": "ikke angivet",
}
RELATION_FILTERS = tuple(short_name(p) for p in PREDICATES)


@dataclass(frozen=True, slots=True)
class RowFilter:
    """The filters a reader picked; unknown values are ignored (an old bookmark still works)."""

    relation: str = ""
    status: str = ""
    confidence: str = ""

    @classmethod
    def from_query(cls, relation: str | None, status: str | None, confidence: str | None):
        """Keep only values the page offers."""
        return cls(
            relation if relation in RELATION_FILTERS else "",
            status if status in STATUSES else "",
            confidence if confidence in CONFIDENCE_FILTERS else "",
        )

    def accepts(self, m: Mapping) -> bool:
        """True when the row passes every chosen filter."""
        if self.relation and short_name(m.predicate) != self.relation:
            return False
        if self.status and m.status != self.status:
            return False
        if self.confidence == "ingen":
            return m.confidence is None
        if self.confidence:
            return m.confidence is not None and m.confidence >= float(self.confidence)
        return True


def tool_coverage(snapshot, ms: MappingSet) -> ToolCoverage | None:
    """Coverage of the set's subject scheme (the local tool) across every mapping set, from
    :func:`termserver.mapping_qa.coverage`; None when the vocabulary does not hold the subject
    scheme or it is the hub (FFB) itself."""
    vocab, translator = snapshot.vocab, snapshot.translator
    if ms.subject_system not in vocab.systems() or ms.subject_system in translator.hubs:
        return None
    scheme = vocab.scheme_of(ms.subject_system)
    with _LOCK:
        cached = _COVERAGE.setdefault(translator, {}).get(scheme)
    if cached is None:
        from termserver.mapping_qa import coverage

        [cached] = coverage(translator, vocab, tools=[scheme])
        with _LOCK:
            _COVERAGE[translator][scheme] = cached
    return cached
