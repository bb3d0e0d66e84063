"""What the concept page shows beyond the concept itself: its mappings and its value sets."""

from __future__ import annotations

from dataclasses import dataclass

from termserver.mappings import Mapping, MappingSet
from termserver.model import Concept
from termserver.valuesets import ValueSetDef, ValueSetError
from termserver.web.render import code_url


@dataclass(frozen=True, slots=True)
class End:
    """One side of a mapping row as the page shows it: label, scheme, code and a link if known."""

    label: str
    scheme: str | None
    code: str
    url: str | None


@dataclass(frozen=True, slots=True)
class MappingRow:
    """A mapping row touching the concept, read "subject <relation> object"."""

    mapping_set: MappingSet
    mapping: Mapping
    subject: End
    object: End


def end(vocab, scheme: str | None, system: str, code: str, row_label: str | None) -> End:
    """A mapping end, labelled from the vocabulary when it holds the code, else from the row."""
    concept = vocab.get(system, code) if system in vocab.systems() else None
    label = concept.display.strip() if concept is not None else (row_label or code)
    url = code_url(concept.scheme, code) if concept is not None else None
    return End(label, concept.scheme if concept is not None else scheme, code, url)


def mapping_row(vocab, ms: MappingSet, m: Mapping) -> MappingRow:
    """A row with both ends resolved for display."""
    return MappingRow(
        ms,
        m,
        end(vocab, ms.subject_scheme, m.subject_system, m.subject_code, m.subject_label),
        end(vocab, ms.object_scheme, m.object_system, m.object_code, m.object_label),
    )


def mappings_of(snapshot, concept: Concept) -> tuple[list[MappingRow], list[MappingRow]]:
    """Rows where the concept is the subject (out) and where it is the object (in).

    A linear pass over every row: the sets hold a few hundred rows, which costs well under a
    millisecond, and an index would have to be rebuilt with every snapshot.
    """
    key = (concept.system, concept.code)
    out, into = [], []
    for ms in snapshot.translator.mapping_sets:
        for m in ms.mappings:
            if m.subject == m.object:
                continue  # VUM 2.0 = FFB: a concept mapped to itself says nothing here
            if m.subject == key:
                out.append(mapping_row(snapshot.vocab, ms, m))
            elif m.object == key:
                into.append(mapping_row(snapshot.vocab, ms, m))
    return out, into


def valuesets_of(snapshot, concept: Concept) -> list[ValueSetDef]:
    """KL's value sets that hold the concept (default releases; expansions are cached)."""
    found = []
    for vs in snapshot.valuesets.definitions():
        try:
            if snapshot.valuesets.contains(vs.url, concept.system, concept.code):
                found.append(vs)
        except ValueSetError:
            continue  # a broken definition is `termserver check`'s business, not this page's
    return found
