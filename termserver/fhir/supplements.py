"""Code system supplements (``useSupplement``): their designations and properties laid over the
code system they supplement, for one request.

A supplement given as ``tx-resource`` (or from ``--fhir-dir``) is only applied when the request
names it: the same code system must answer the same way for everyone else. The supplemented
release is a new :class:`Vocabulary` built with ``Vocabulary.with_releases``, so lookup,
validation and expansion all read the supplement through their ordinary code path; each added
designation keeps the supplement's canonical as its ``source``.
"""

from __future__ import annotations

import dataclasses
import threading
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

from termserver.errors import SourceError, UnknownConceptError
from termserver.fhir.outcome import FhirError, bad_request
from termserver.fhir.overlay import Overlay
from termserver.loading.fhir_codesystem import read_supplement_content
from termserver.model import SchemeRelease
from termserver.valuesets import ValueSetIndex

CACHE_SIZE = 16
MAX_SUPPLEMENTS = 10  # per request


def find_supplement(docs: Sequence[dict[str, Any]], canonical: str) -> dict[str, Any] | None:
    """The supplement at ``canonical`` (``url`` or ``url|version``) among ``docs``, or None."""
    url, bar, version = canonical.partition("|")
    for doc in docs:
        if doc.get("url") == url and (not bar or doc.get("version") == version):
            return doc
    return None


def apply_supplements(overlay: Overlay, canonicals: Sequence[str]) -> Overlay:
    """``overlay`` with the named supplements (all given to it) applied to their code systems.

    Raises :class:`FhirError` (400) for a supplement whose content is not usable and (404) for
    one that supplements a code system this server does not hold.
    """
    if len(canonicals) > MAX_SUPPLEMENTS:
        raise bad_request(f"at most {MAX_SUPPLEMENTS} useSupplement per request", "useSupplement")
    releases: dict[tuple[str, str], SchemeRelease] = {}
    vocab = overlay.vocab
    for canonical in canonicals:
        doc = find_supplement(overlay.supplement_docs, canonical)
        if doc is None:  # the caller checked; a race with a reload is still a clear answer
            raise FhirError(
                404,
                "not-found",
                f"Required supplement not found: {canonical}",
                tx_code="not-found",
                message_id="VALUESET_SUPPLEMENT_MISSING",
            )
        key = _base_key(vocab, doc, canonical)
        base = releases.get(key)  # two supplements of one code system both apply
        if base is None:
            base = SchemeRelease(vocab.release(*key), tuple(vocab.concepts(*key)))
        supplemented = _supplemented(base, doc, canonical)
        releases[(supplemented.scheme.system, supplemented.scheme.version)] = supplemented
    merged = vocab.with_releases(releases.values())
    defs = {vs.url: vs for vs in overlay.valuesets.definitions()}
    return dataclasses.replace(overlay, vocab=merged, valuesets=ValueSetIndex(merged, defs))


def _base_key(vocab: Any, doc: dict[str, Any], canonical: str) -> tuple[str, str]:
    target = doc.get("supplements")
    if not isinstance(target, str) or not target.strip():
        raise bad_request(
            f"supplement {canonical} does not name the code system it supplements",
            "useSupplement",
        )
    system, _, version = target.partition("|")
    try:
        meta = vocab.release(system, version or None)
    except UnknownConceptError:
        raise FhirError(
            404,
            "not-found",
            f"supplement {canonical} supplements {target}, which this server does not hold",
            "useSupplement",
        ) from None
    return meta.system, meta.version


def _supplemented(base: SchemeRelease, doc: dict[str, Any], canonical: str) -> SchemeRelease:
    """``base`` with the supplement's designations and property values added to its concepts.

    Codes the supplement names that ``base`` lacks are left out: a supplement cannot add codes.
    """
    version = doc.get("version")
    source = f"{doc['url']}|{version}" if isinstance(version, str) else doc["url"]
    try:
        defs, additions = read_supplement_content(doc, source=canonical)
    except SourceError as exc:
        raise bad_request(
            f"supplement {canonical} is not usable: {exc.message}",
            f"useSupplement{(exc.location or '$')[1:]}",
        ) from None
    concepts = []
    for c in base.concepts:
        added = additions.get(c.code)
        if added is None:
            concepts.append(c)
            continue
        designations, values = added
        concepts.append(
            dataclasses.replace(
                c,
                designations=c.designations
                + tuple(dataclasses.replace(d, source=source) for d in designations),
                properties=c.properties + tuple(values),
            )
        )
    declared = {p.code for p in base.scheme.property_defs}
    meta = dataclasses.replace(
        base.scheme,
        property_defs=base.scheme.property_defs + tuple(p for p in defs if p.code not in declared),
        supplements=(*base.scheme.supplements, source),
    )
    return SchemeRelease(meta, tuple(concepts))


class SupplementCache:
    """Supplemented overlays by (overlay, canonicals); the runner repeats the same request."""

    def __init__(self, size: int = CACHE_SIZE) -> None:
        self.size = size
        self._items: OrderedDict[tuple[int, tuple[str, ...]], tuple[Overlay, Overlay]] = (
            OrderedDict()
        )
        self._lock = threading.Lock()

    def get(self, overlay: Overlay, canonicals: Sequence[str]) -> Overlay:
        """``apply_supplements(overlay, canonicals)``, built once while ``overlay`` is cached."""
        key = (id(overlay), tuple(canonicals))
        with self._lock:
            hit = self._items.get(key)
            if hit is not None and hit[0] is overlay:
                self._items.move_to_end(key)
                return hit[1]
        result = apply_supplements(overlay, canonicals)
        with self._lock:
            self._items[key] = (overlay, result)
            while len(self._items) > self.size:
                self._items.popitem(last=False)
        return result
