"""Request-scoped overlays: FHIR resources given with a request (``tx-resource``) or at start.

An overlay is a new :class:`Vocabulary` and :class:`ValueSetIndex` built from the snapshot plus
the given CodeSystems and ValueSets. It is never stored in the snapshot and never seen by another
request; the same resources sent again (the conformance runner repeats each suite's setup in every
request) reuse a small cache keyed by the snapshot and a hash of the resources.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import orjson

from termserver.errors import SourceError, UnknownConceptError
from termserver.fhir.outcome import FhirError, bad_request
from termserver.loading.fhir_codesystem import (
    STATUS_AS_GIVEN,
    default_scheme_id,
    read_codesystem,
)
from termserver.model import PropertyValue, SchemeRelease
from termserver.valuesets import ValueSetDef, ValueSetIndex, read_valueset
from termserver.vocabulary import Vocabulary

#: Resource types an overlay takes; others given as tx-resource are refused.
OVERLAY_TYPES = ("CodeSystem", "ValueSet", "ConceptMap")
MAX_RESOURCES = 100
CACHE_SIZE = 32
#: The language of a given code system that names none (ours default to Danish; the HL7
#: ecosystem's resources, and FHIR servers generally, assume English).
DEFAULT_LANGUAGE = "en"


@dataclass(frozen=True)
class Overlay:
    """The vocabulary and value sets one request sees."""

    vocab: Vocabulary
    valuesets: ValueSetIndex
    supplements: frozenset[str] = frozenset()  # canonicals (url and url|version) given
    conceptmaps: tuple[dict[str, Any], ...] = ()
    supplement_docs: tuple[dict[str, Any], ...] = ()  # applied only when a request names one


@dataclass(frozen=True)
class Parsed:
    """Checked overlay resources, ready to be laid over any snapshot."""

    codesystems: tuple[SchemeRelease, ...]
    valuesets: tuple[ValueSetDef, ...]
    supplements: tuple[dict[str, Any], ...]  # CodeSystems with content = supplement, as given
    conceptmaps: tuple[dict[str, Any], ...] = ()  # checked for shape; translated as given


def parse_resources(
    resources: Sequence[Any],
    where: str = "tx-resource",
    *,
    single: bool = False,
    limit: int | None = MAX_RESOURCES,
) -> Parsed:
    """Check CodeSystem and ValueSet resources (R4 or R5 JSON); 400 naming the JSON path.

    ConceptMaps are checked for shape and kept for $translate (R5 endpoint). With
    ``single``, ``where`` names the one resource given (a file) rather than a list of them.
    ``limit`` bounds a request's resources; content loaded at start has none.
    """
    if limit is not None and len(resources) > limit:
        raise bad_request(f"at most {limit} {where} resources per request", where)
    codesystems: dict[tuple[str, str], SchemeRelease] = {}
    valuesets: dict[str, ValueSetDef] = {}
    supplements: list[dict[str, Any]] = []
    conceptmaps: list[dict[str, Any]] = []
    for i, doc in enumerate(resources):
        path = where if single else f"{where}[{i}]"
        rtype = doc.get("resourceType") if isinstance(doc, dict) else None
        if rtype not in OVERLAY_TYPES:
            raise bad_request(
                f"{where} must be a CodeSystem, ValueSet or ConceptMap, got {rtype!r}",
                f"{path}.resourceType",
            )
        try:
            if rtype == "CodeSystem":
                if doc.get("content") == "supplement":
                    supplements.append(doc)
                    continue
                release = read_codesystem(
                    doc,
                    source=path,
                    scheme_id=_scheme_id(doc, i),
                    default_language=DEFAULT_LANGUAGE,
                    unversioned="",
                )
                release = with_status_as_given(in_definition_order(release, doc), doc)
                codesystems[(release.scheme.system, release.scheme.version)] = release
            elif rtype == "ValueSet":
                vs = read_valueset(doc, source=path)
                valuesets[vs.url] = vs
            else:
                conceptmaps.append(_checked_conceptmap(doc, path))
        except SourceError as exc:
            location = f"{path}{(exc.location or '$')[1:]}"
            raise bad_request(f"{path} is not a usable {rtype}: {exc.message}", location) from None
    return Parsed(
        tuple(codesystems.values()),
        tuple(valuesets.values()),
        tuple(supplements),
        tuple(conceptmaps),
    )


def in_definition_order(release: SchemeRelease, doc: dict[str, Any]) -> SchemeRelease:
    """``release`` with its concepts in the order the CodeSystem defines them (depth first).

    Our loader sorts concepts by code, which suits our own content; a client's code system is
    expanded in its own order, as HL7 servers do, so paging through it gives the same pages.
    """
    position: dict[str, int] = {}
    stack = list(reversed(doc.get("concept") or []))
    while stack:
        entry = stack.pop()
        if isinstance(entry, dict):
            code = entry.get("code")
            if isinstance(code, str) and code not in position:
                position[code] = len(position)
            stack.extend(reversed(entry.get("concept") or []))
    last = len(position)
    ordered = sorted(release.concepts, key=lambda c: position.get(c.code, last))
    return replace(release, concepts=tuple(ordered))


def with_status_as_given(release: SchemeRelease, doc: dict[str, Any]) -> SchemeRelease:
    """``release`` with each concept's own ``status`` property value (as the CodeSystem gives
    it) kept beside the status our model folds it into, for R5 expansions to report."""
    given: dict[str, str] = {}
    stack = list(doc.get("concept") or [])
    while stack:
        entry = stack.pop()
        if not isinstance(entry, dict):
            continue
        stack.extend(entry.get("concept") or [])
        for pv in entry.get("property") or []:
            if isinstance(pv, dict) and pv.get("code") == "status":
                value = pv.get("valueCode")
                if isinstance(value, str) and isinstance(entry.get("code"), str):
                    given[entry["code"]] = value
    if not given:
        return release
    concepts = tuple(
        replace(
            c, properties=(*c.properties, PropertyValue(STATUS_AS_GIVEN, "code", given[c.code]))
        )
        if c.code in given
        else c
        for c in release.concepts
    )
    return replace(release, concepts=concepts)


def _checked_conceptmap(doc: dict[str, Any], path: str) -> dict[str, Any]:
    """A ConceptMap whose groups, elements and targets have the shape $translate reads."""

    def fail(where: str, message: str) -> SourceError:
        return SourceError(path, where, message)

    if not isinstance(doc.get("url"), str):
        raise fail("$.url", "required element is missing")
    groups = doc.get("group", [])
    if not isinstance(groups, list):
        raise fail("$.group", "must be an array")
    for i, g in enumerate(groups):
        if not isinstance(g, dict):
            raise fail(f"$.group[{i}]", "must be an object")
        elements = g.get("element", [])
        if not isinstance(elements, list):
            raise fail(f"$.group[{i}].element", "must be an array")
        for j, e in enumerate(elements):
            if not isinstance(e, dict) or not isinstance(e.get("target", []), list):
                raise fail(f"$.group[{i}].element[{j}]", "must be an object with a target array")
    return doc


def _scheme_id(doc: dict[str, Any], i: int) -> str:
    # Scheme ids must be unique per system URL; overlay ids are private, so derive them from
    # the URL's hash rather than risk a clash with the snapshot's own schemes.
    url = doc.get("url") if isinstance(doc.get("url"), str) else str(i)
    base = default_scheme_id(doc) or "cs"
    return f"tx-{base}-{hashlib.sha1(url.encode()).hexdigest()[:8]}"


def build_overlay(base: Overlay, parsed: Parsed) -> Overlay:
    """``base`` (a snapshot's vocabulary and value sets) with ``parsed`` laid over it."""
    try:
        merged = base.vocab.with_releases(parsed.codesystems) if parsed.codesystems else base.vocab
    except (ValueError, UnknownConceptError) as exc:
        raise bad_request(f"tx-resource code systems conflict: {exc}", "tx-resource") from None
    by_url = {vs.url: vs for vs in base.valuesets.definitions()}
    by_url |= {vs.url: vs for vs in parsed.valuesets}
    supplements = frozenset(
        canonical
        for doc in parsed.supplements
        if isinstance(doc.get("url"), str)
        for canonical in (doc["url"], f"{doc['url']}|{doc.get('version')}")
    )
    return Overlay(
        merged,
        ValueSetIndex(merged, by_url),
        base.supplements | supplements,
        base.conceptmaps + parsed.conceptmaps,
        base.supplement_docs + parsed.supplements,
    )


class OverlayCache:
    """Overlays by (snapshot, resources hash), least recently used dropped beyond ``size``."""

    def __init__(self, size: int = CACHE_SIZE) -> None:
        self.size = size
        self._items: OrderedDict[tuple[int, str], tuple[object, Overlay]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, snapshot: object, base: Overlay, resources: list) -> Overlay:
        """The overlay of ``resources`` over ``base``, the view of ``snapshot`` (whose identity
        is the key: a reloaded snapshot never meets an overlay of the old one)."""
        digest = hashlib.sha256(orjson.dumps(resources, option=orjson.OPT_SORT_KEYS)).hexdigest()
        key = (id(snapshot), digest)
        with self._lock:
            hit = self._items.get(key)
            if hit is not None and hit[0] is snapshot:
                self._items.move_to_end(key)
                return hit[1]
        overlay = build_overlay(base, parse_resources(resources))
        with self._lock:
            self._items[key] = (snapshot, overlay)
            while len(self._items) > self.size:
                self._items.popitem(last=False)
        return overlay


# --- resources loaded at start (termserver serve --fhir-dir) ------------------------------------

#: Where ``termserver serve --fhir-dir`` hands its folders to the app (os.pathsep-separated).
FHIR_DIRS_ENV = "TERMSERVER_FHIR_DIRS"
MAX_FILE_BYTES = 50_000_000


def load_fhir_dirs(dirs: Sequence[Path]) -> list[dict[str, Any]]:
    """Every CodeSystem, ValueSet and ConceptMap in the ``*.json`` files of ``dirs`` (sorted by
    path; other resource types are skipped). Raises :class:`SourceError` naming the file and
    JSON path of the first unusable resource, so a bad folder stops the server at start."""
    found: list[tuple[str, dict[str, Any]]] = []
    for folder in dirs:
        if not folder.is_dir():
            raise SourceError(str(folder), None, "not a folder")
        for path in sorted(folder.rglob("*.json")):
            if path.stat().st_size > MAX_FILE_BYTES:
                raise SourceError(str(path), None, f"larger than {MAX_FILE_BYTES} bytes")
            try:
                doc = orjson.loads(path.read_bytes().removeprefix(b"\xef\xbb\xbf"))
            except orjson.JSONDecodeError as exc:
                raise SourceError(str(path), None, f"not valid JSON: {exc}") from None
            if isinstance(doc, dict) and doc.get("resourceType") in OVERLAY_TYPES:
                found.append((str(path), doc))
    for name, doc in found:
        try:
            parse_resources([doc], where=name, single=True)
        except FhirError as exc:
            location = (exc.expression or "").removeprefix(name) or None
            raise SourceError(name, f"${location}" if location else None, exc.diagnostics) from None
    return [doc for _, doc in found]


def fhir_dirs_from_env() -> list[Path]:
    """The folders ``termserver serve --fhir-dir`` named, if any."""
    value = os.environ.get(FHIR_DIRS_ENV, "")
    return [Path(p) for p in value.split(os.pathsep) if p]


class StartupView:
    """The snapshot as the FHIR API shows it: with the resources loaded at start laid over it
    (built once per snapshot, so a reload picks them up again)."""

    def __init__(
        self, resources: list[dict[str, Any]], beneath: Sequence[dict[str, Any]] = ()
    ) -> None:
        self.parsed = (
            parse_resources(resources, where="fhir-dir", limit=None) if resources else None
        )
        # FHIR packages and core content (termserver.fhir.packages): laid under the snapshot,
        # whose own code systems and value sets win any conflict.
        self.beneath = (
            parse_resources(beneath, where="fhir-package", limit=None) if beneath else None
        )
        self._last: tuple[object, Overlay] | None = None
        self._lock = threading.Lock()

    def of(self, snapshot: object, vocab: Vocabulary, valuesets: ValueSetIndex) -> Overlay:
        """The view of ``snapshot`` (whose vocabulary and value sets are given)."""
        if self.parsed is None and self.beneath is None:
            return Overlay(vocab, valuesets)
        last = self._last
        if last is not None and last[0] is snapshot:
            return last[1]
        with self._lock:
            if self._last is None or self._last[0] is not snapshot:
                overlay = Overlay(vocab, valuesets)
                if self.beneath is not None:
                    overlay = build_overlay(overlay, not_held(self.beneath, overlay))
                if self.parsed is not None:
                    overlay = build_overlay(overlay, self.parsed)
                self._last = (snapshot, overlay)
            return self._last[1]


def not_held(parsed: Parsed, base: Overlay) -> Parsed:
    """``parsed`` without the code systems (any version) and value sets ``base`` holds."""
    systems = set(base.vocab.systems())
    held = {vs.url for vs in base.valuesets.definitions()}
    return dataclasses.replace(
        parsed,
        codesystems=tuple(r for r in parsed.codesystems if r.scheme.system not in systems),
        valuesets=tuple(vs for vs in parsed.valuesets if vs.url not in held),
    )
