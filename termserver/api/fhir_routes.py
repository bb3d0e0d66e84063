"""``/fhir``: FHIR R4 terminology services (JSON, XML by the middleware), GET and POST."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.routing import Match

from termserver.api.fhir_body import read_fhir_json
from termserver.api.fhir_write_routes import add_write_routes, stored_of
from termserver.api.responses import FhirResponse
from termserver.api.state import Snapshot
from termserver.fhir import (
    codesystem_ops,
    conceptmap_ops,
    conceptmap_r5,
    tx_validate,
    valueset_ops,
)
from termserver.fhir.outcome import FhirError, bad_request, not_found, operation_outcome
from termserver.fhir.overlay import (
    Overlay,
    OverlayCache,
    StartupView,
)
from termserver.fhir.packages import startup_view
from termserver.fhir.params import OperationParams
from termserver.fhir.resources import (
    SUBSETTED,
    capability_statement,
    codesystem_id,
    codesystem_resource,
    searchset,
    terminology_capabilities,
    versions_parameters,
)
from termserver.fhir.stored import ID_PATTERN
from termserver.fhir.supplements import SupplementCache
from termserver.fhir.xml import format_choice

MAX_BODY = 1_000_000
R5_VERSION = "5.0.0"
MAX_PAGE = 1000
OPERATIONS = {
    "CodeSystem": ["lookup", "validate-code", "subsumes"],
    "ValueSet": ["expand", "validate-code"],
    "ConceptMap": ["translate"],
}
# Operations whose cost grows with the request (value set rules, filters, paging) run in the
# threadpool so the event loop keeps answering; the cheap ones stay on the loop, where they are
# faster (bench/RESULTS.md, "Threadpool or event loop").
THREADED = {("ValueSet", "expand"), ("ValueSet", "validate-code")}
SEARCH_PARAMS = ("url", "version", "name", "title", "status")
SEARCH_CONTROLS = ("_summary", "_elements", "_count", "_offset", "_format", "_pretty")
_ELEMENT_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
# Shared by every app in the process: keys carry the snapshot's identity, so apps never mix.
_OVERLAYS = OverlayCache()
_SUPPLEMENTED = SupplementCache()


def _snapshot(request: Request) -> Snapshot:
    return request.app.state.holder.current


def _check_format(request: Request) -> None:
    value = request.query_params.get("_format")
    if value is not None and format_choice(value) is None:
        raise bad_request(
            f"unknown _format {value!r} (use json, xml, application/fhir+json or "
            "application/fhir+xml)",
            "_format",
        )


async def read_json_body(request: Request) -> Any:
    """The body of an operation: a Parameters resource as JSON (see :func:`read_fhir_json`)."""
    return await read_fhir_json(request, expected="a Parameters resource", limit=MAX_BODY)


async def operation_params(request: Request) -> OperationParams:
    """Parameters from the query string (GET) or a Parameters body (POST)."""
    _check_format(request)
    if request.method == "POST":
        params = OperationParams.from_body(await read_json_body(request))
        query = OperationParams.from_query(request.query_params.multi_items())
        if query.names() - {"_format", "_pretty"}:
            raise bad_request("with POST, give the parameters in the Parameters body, not the URL")
        return params
    return OperationParams.from_query(request.query_params.multi_items())


def _operation(
    fn: Callable[[Any, OperationParams], dict],
    on: str,
    threaded: bool,
    r5: bool = False,
    view: StartupView | None = None,
) -> Callable:
    async def endpoint(request: Request) -> FhirResponse:
        if not r5:
            return await answer(request)
        try:
            return await answer(request)
        except FhirError as exc:
            return FhirResponse(exc.outcome_r5(), status_code=exc.status)

    async def answer(request: Request) -> FhirResponse:
        snap = _snapshot(request)
        params = await operation_params(request)
        header = request.headers.get("accept-language")
        if r5 and header:  # the display language when the request names none
            params = params.with_value("displayLanguage", "valueCode", header)
        shown = Overlay(snap.vocab, snap.valuesets)
        if view is not None:
            shown = view.of(snap, snap.vocab, snap.valuesets)
        anchor: object = snap  # what cached tx-resource overlays were built over
        stored = stored_of(request)
        if stored is not None:
            layered = stored.view(shown)
            if layered is not shown:
                shown = anchor = layered
        given = params.all("tx-resource")
        if given:
            # Built off the loop: parsing and indexing a code system is real work.
            shown = await run_in_threadpool(_OVERLAYS.get, anchor, shown, given)
        wanted = _check_supplements(params, shown.supplements)
        if on == "ValueSet":
            wanted += _valueset_supplements(params, shown, wanted)
        if wanted:
            shown = await run_in_threadpool(_SUPPLEMENTED.get, shown, wanted)
        vocab, valuesets = shown.vocab, shown.valuesets
        translator: Any = snap.translator
        if r5:
            translator = conceptmap_r5.TranslateScope(translator, shown.conceptmaps)
        target = {"ValueSet": valuesets, "ConceptMap": translator}.get(on, vocab)
        if threaded or given:
            return FhirResponse(await run_in_threadpool(fn, target, params))
        return FhirResponse(fn(target, params))

    endpoint.__doc__ = getattr(fn, "func", fn).__doc__  # through functools.partial
    return endpoint


VALUESET_SUPPLEMENT = "http://hl7.org/fhir/StructureDefinition/valueset-supplement"


def _valueset_supplements(params: OperationParams, shown: Overlay, wanted: list[str]) -> list[str]:
    """Supplements the value set itself asks for (its ``valueset-supplement`` extensions), as if
    named by ``useSupplement``; 404 for one this request does not have."""
    # The operation itself checks these parameters and answers any misuse; here a value of the
    # wrong shape just means there is no value set to read extensions from.
    inline = params.all("valueSet")
    urls = params.all("url")
    versions = params.all("valueSetVersion")
    version = versions[0] if len(versions) == 1 and isinstance(versions[0], str) else None
    if len(inline) == 1 and isinstance(inline[0], dict):
        resource = inline[0]
    elif len(urls) == 1 and isinstance(urls[0], str):
        vs = shown.valuesets.get(urls[0], version)
        resource = vs.resource if vs is not None else {}
    else:
        return []
    extensions = resource.get("extension")
    out: list[str] = []
    for i, ext in enumerate(extensions if isinstance(extensions, list) else ()):
        if not isinstance(ext, dict) or ext.get("url") != VALUESET_SUPPLEMENT:
            continue
        canonical = ext.get("valueCanonical")
        if not isinstance(canonical, str) or canonical in wanted or canonical in out:
            continue
        if canonical not in shown.supplements:
            raise FhirError(
                404,
                "not-found",
                f"Required supplement not found: {canonical}",
                f"ValueSet.extension[{i}]",
                tx_code="not-found",
                message_id="VALUESET_SUPPLEMENT_MISSING",
            )
        out.append(canonical)
    return out


def _check_supplements(params: OperationParams, known: frozenset[str]) -> list[str]:
    """``useSupplement``: the supplements to apply; 404 for one that was not given."""
    wanted = []
    for canonical in params.all("useSupplement"):
        if not isinstance(canonical, str):
            raise bad_request("useSupplement must be a canonical URL", "useSupplement")
        if canonical not in known:
            raise FhirError(
                404,
                "not-found",
                f"Required supplement not found: {canonical}",
                "useSupplement",
                tx_code="not-found",
                message_id="VALUESET_SUPPLEMENT_MISSING",
            )
        wanted.append(canonical)
    return wanted


def add_operation(
    router: APIRouter,
    resource: str,
    name: str,
    fn: Callable,
    *,
    r5: bool = False,
    view: StartupView | None = None,
) -> None:
    """Register ``/{resource}/${name}`` for GET and POST, with distinct OpenAPI operation ids."""
    suffix, prefix = ("_r5", "/r5") if r5 else ("", "")
    for method in ("GET", "POST"):
        router.add_api_route(
            f"{prefix}/{resource}/${name}",
            _operation(fn, resource, (resource, name) in THREADED, r5, view),
            methods=[method],
            summary=f"{resource}/${name} ({method}{', R5' if r5 else ''})",
            operation_id=f"{resource}_{name.replace('-', '_')}_{method.lower()}{suffix}",
            response_class=FhirResponse,
        )


def _base_url(request: Request) -> str:
    return str(request.base_url).rstrip("/") + "/fhir"


# --- search ---------------------------------------------------------------------------------------

# One candidate: the fields searched on, and a builder of the resource (summary or whole).
Candidate = tuple[dict[str, Any], Callable[[bool], dict[str, Any]]]


def _starts_with(value: str | None, prefix: str) -> bool:
    return (value or "").casefold().startswith(prefix.casefold())


def _subsetted(res: dict[str, Any]) -> dict[str, Any]:
    meta = dict(res.get("meta") or {})
    tags = list(meta.get("tag", []))
    if SUBSETTED not in tags:
        meta["tag"] = [*tags, SUBSETTED]
    return res | {"meta": meta}


def _summary_of(res: dict[str, Any], *dropped: str) -> dict[str, Any]:
    return _subsetted({k: v for k, v in res.items() if k not in dropped})


def _search(request: Request, candidates: list[Candidate]) -> FhirResponse:
    """A searchset over ``candidates``, the same for every resource type.

    ``url``, ``version``, ``status``: exact; ``name``, ``title``: case-insensitive starts-with
    (FHIR string search); ``_summary`` (true, false, data, count), ``_elements``, and paging
    with ``_count`` and ``_offset``.
    """
    for key in request.query_params:
        if key not in SEARCH_PARAMS + SEARCH_CONTROLS:
            raise bad_request(f"unsupported search parameter '{key}'", key)
    q = OperationParams.from_query(request.query_params.multi_items())
    _check_format(request)
    wanted = {name: q.str(name) for name in SEARCH_PARAMS}
    summary = q.str("_summary") or "false"
    if summary not in ("true", "false", "data", "count"):
        raise bad_request(f"_summary={summary!r} is not supported (true, false, data, count)")
    count = q.int("_count", default=MAX_PAGE, maximum=MAX_PAGE)
    offset = q.int("_offset", default=0, maximum=1_000_000) or 0
    elements = [e.strip() for e in (q.str("_elements") or "").split(",") if e.strip()]
    for e in elements:
        if not _ELEMENT_NAME.fullmatch(e):
            raise bad_request(f"_elements: {e!r} is not an element name", "_elements")
    found = [
        build
        for fields, build in candidates
        if all(
            value is None
            or (
                _starts_with(fields.get(name), value)
                if name in ("name", "title")
                else fields.get(name) == value
            )
            for name, value in wanted.items()
        )
    ]
    base = _base_url(request)
    if summary == "count" or count == 0:
        return FhirResponse(searchset([], base, total=len(found)))
    page = [build(summary == "true") for build in found[offset : offset + count]]
    if elements:
        keep = {"resourceType", "id", "meta", *elements}
        page = [_subsetted({k: v for k, v in r.items() if k in keep}) for r in page]
    links = [{"relation": "self", "url": str(request.url)}]
    if offset + count < len(found):
        query = [(k, v) for k, v in request.query_params.multi_items() if k != "_offset"]
        url = f"{base}/{request.url.path.rsplit('/', 1)[-1]}?{urlencode(query)}"
        links.append({"relation": "next", "url": f"{url}&_offset={offset + count}"})
    return FhirResponse(searchset(page, base, total=len(found), links=links))


def _method_refuser(routes: list) -> Callable:
    """The endpoint for every method no ``/fhir`` route serves: 405 (FHIR ``not-supported``)
    naming the methods the path does serve, or 404 when no route has that path."""

    async def refuse(request: Request) -> FhirResponse:
        allowed: set[str] = set()
        for route in routes:
            if route.endpoint is not refuse and route.matches(request.scope)[0] is Match.PARTIAL:
                allowed |= set(route.methods or ())
        path = request.url.path
        if not allowed:
            outcome = operation_outcome("error", "not-found", f"no FHIR endpoint at {path}")
            return FhirResponse(outcome, status_code=404)
        methods = ", ".join(sorted(allowed))
        outcome = operation_outcome(
            "error",
            "not-supported",
            f"{request.method} is not supported on {path} (this server is read-only; use "
            f"{methods})",
        )
        return FhirResponse(outcome, status_code=405, headers={"Allow": methods})

    return refuse


def _add_operations(router: APIRouter, *, r5: bool, view: StartupView) -> None:
    """The terminology operations, for the R4 endpoint or (``r5``) the R5 one."""
    # R5 answers $validate-code as the terminology ecosystem does (issues, HL7 wording); R4
    # keeps the bilingual answers our existing clients read.
    cs_validate = tx_validate.validate_codesystem if r5 else codesystem_ops.validate_code
    vs_validate = tx_validate.validate_valueset if r5 else valueset_ops.validate_code
    lookup = functools.partial(codesystem_ops.lookup, r5=True) if r5 else codesystem_ops.lookup
    for name, fn in (
        ("lookup", lookup),
        ("validate-code", cs_validate),
        ("subsumes", codesystem_ops.subsumes),
    ):
        add_operation(router, "CodeSystem", name, fn, r5=r5, view=view)
    expand = functools.partial(valueset_ops.expand, r5=True) if r5 else valueset_ops.expand
    for name, fn in (("expand", expand), ("validate-code", vs_validate)):
        add_operation(router, "ValueSet", name, fn, r5=r5, view=view)
    translate = conceptmap_r5.translate if r5 else conceptmap_ops.translate
    add_operation(router, "ConceptMap", "translate", translate, r5=r5, view=view)


def _stored_docs(request: Request, resource_type: str) -> list[Candidate]:
    """Search candidates for the resources admins stored (as stored)."""
    stored = stored_of(request)
    if stored is None:
        return []
    summary_drops = {"CodeSystem": "concept", "ValueSet": "compose", "ConceptMap": "group"}
    drop = summary_drops[resource_type]
    return [
        (doc, lambda summary, doc=doc: _summary_of(doc, drop) if summary else doc)
        for doc in stored.docs(resource_type)
    ]


async def _stored_read(request: Request, resource_type: str, resource_id: str) -> Any:
    """The stored resource with this id (410 once deleted), or None if none was ever stored."""
    stored = stored_of(request)
    if stored is None or not ID_PATTERN.fullmatch(resource_id):
        return None
    held = await run_in_threadpool(stored.current, resource_type, resource_id)
    if held is None:
        return None
    if held.deleted:
        raise FhirError(410, "deleted", f"{resource_type}/{resource_id} was deleted")
    return FhirResponse(held.body, headers={"ETag": held.etag, "Last-Modified": held.updated_at})


def build_router() -> APIRouter:
    """All ``/fhir`` routes; operations come before ``{id}`` so ``$lookup`` is never an id."""
    router = APIRouter(prefix="/fhir", tags=["FHIR terminology"])
    # Resources from `termserver serve --fhir-dir`, shown over every snapshot (checked by serve
    # before start; a bad file here still stops the app with its file and JSON path).
    # FHIR core and --fhir-package content lie beneath the snapshot (termserver.fhir.packages).
    view = startup_view()
    _add_operations(router, r5=False, view=view)

    def current(request: Request) -> Overlay:
        snap = _snapshot(request)
        shown = view.of(snap, snap.vocab, snap.valuesets)
        stored = stored_of(request)
        return stored.view(shown) if stored is not None else shown

    @router.get(
        "/metadata", summary="CapabilityStatement (mode=terminology: TerminologyCapabilities)"
    )
    async def metadata(request: Request, mode: str | None = None) -> FhirResponse:
        _check_format(request)
        vocab = current(request).vocab
        if mode == "terminology":
            return FhirResponse(terminology_capabilities(vocab))
        if mode not in (None, "full", "normative"):
            raise bad_request(f"unknown mode {mode!r} (use terminology, full or normative)", "mode")
        return FhirResponse(capability_statement(vocab, _base_url(request), OPERATIONS))

    def add_versions(path: str, release: str, suffix: str) -> None:
        async def versions(request: Request) -> FhirResponse:
            _check_format(request)
            return FhirResponse(versions_parameters(release))

        for method in ("GET", "POST"):
            router.add_api_route(
                path,
                versions,
                methods=[method],
                summary=f"The FHIR version this endpoint speaks ({method})",
                operation_id=f"versions_{method.lower()}{suffix}",
                response_class=FhirResponse,
            )

    add_versions("/$versions", "4.0", "")
    add_versions("/r5/$versions", "5.0", "_r5")

    @router.get("/CodeSystem", summary="Search code systems by url, version, name, title, status")
    async def search_codesystems(request: Request) -> FhirResponse:
        vocab = current(request).vocab
        kept = _stored_docs(request, "CodeSystem")
        kept_urls = {doc.get("url") for doc, _ in kept}
        candidates: list[Candidate] = [
            (
                {"url": m.system, "version": m.version, "name": m.name, "title": m.title}
                | {"status": m.status},
                lambda summary, m=m: codesystem_resource(vocab, m, summary=summary),
            )
            for system in vocab.systems()
            if system not in kept_urls
            for m in vocab.versions(system)
        ]
        return _search(request, candidates + kept)

    @router.get(
        "/CodeSystem/{resource_id}", summary="Read one code system release (id: scheme-version)"
    )
    async def read_codesystem(request: Request, resource_id: str) -> FhirResponse:
        _check_format(request)
        held = await _stored_read(request, "CodeSystem", resource_id)
        if held is not None:
            return held
        vocab = current(request).vocab
        for system in vocab.systems():
            for meta in vocab.versions(system):
                if codesystem_id(meta) == resource_id:
                    return FhirResponse(codesystem_resource(vocab, meta))
        raise not_found(f"no CodeSystem with id {resource_id!r}")

    @router.get("/ValueSet", summary="Search value sets by url, version, name, title, status")
    async def search_valuesets(request: Request) -> FhirResponse:
        candidates = _stored_docs(request, "ValueSet")
        kept_urls = {doc.get("url") for doc, _ in candidates}
        for vs in current(request).valuesets.definitions():
            if vs.url in kept_urls:
                continue
            res = valueset_ops.valueset_resource(vs)
            candidates.append(
                (res, lambda summary, res=res: _summary_of(res, "compose") if summary else res)
            )
        return _search(request, candidates)

    @router.get("/ValueSet/{resource_id}", summary="Read one value set definition (id: its name)")
    async def read_valueset(request: Request, resource_id: str) -> FhirResponse:
        _check_format(request)
        held = await _stored_read(request, "ValueSet", resource_id)
        if held is not None:
            return held
        for vs in current(request).valuesets.definitions():
            res = valueset_ops.valueset_resource(vs)
            if res["id"] == resource_id:
                return FhirResponse(res)
        raise not_found(f"no ValueSet with id {resource_id!r}")

    @router.get("/ConceptMap", summary="Search mapping sets by url, version, name, title, status")
    async def search_conceptmaps(request: Request) -> FhirResponse:
        translator = _snapshot(request).translator
        candidates: list[Candidate] = [
            (cm, lambda summary, cm=cm: _summary_of(cm, "group") if summary else cm)
            for cm in conceptmap_ops.conceptmap_resources(translator)
        ]
        return _search(request, candidates + _stored_docs(request, "ConceptMap"))

    @router.get("/ConceptMap/{resource_id}", summary="Read one mapping set (id: its file name)")
    async def read_conceptmap(request: Request, resource_id: str) -> FhirResponse:
        _check_format(request)
        held = await _stored_read(request, "ConceptMap", resource_id)
        if held is not None:
            return held
        return FhirResponse(
            conceptmap_ops.conceptmap_by_id(_snapshot(request).translator, resource_id)
        )

    # FHIR R5 beside R4: the same operations; only $expand's answer differs (see CONFORMANCE.md).
    _add_operations(router, r5=True, view=view)

    @router.get("/r5/metadata", summary="R5 CapabilityStatement (mode=terminology: capabilities)")
    async def metadata_r5(request: Request, mode: str | None = None) -> FhirResponse:
        _check_format(request)
        vocab = current(request).vocab
        if mode == "terminology":
            return FhirResponse(terminology_capabilities(vocab))
        if mode not in (None, "full", "normative"):
            raise bad_request(f"unknown mode {mode!r} (use terminology, full or normative)", "mode")
        statement = capability_statement(vocab, _base_url(request) + "/r5", OPERATIONS)
        return FhirResponse(statement | {"fhirVersion": R5_VERSION})

    def unstored(request: Request) -> tuple[Overlay, Any]:
        snap = _snapshot(request)
        return view.of(snap, snap.vocab, snap.valuesets), snap.translator

    # Admins' create/update/delete of CodeSystems, ValueSets and ConceptMaps (curation database).
    add_write_routes(router, unstored)

    # Last: every other method on any /fhir path (this server writes nothing else).
    router.add_api_route(
        "/{path:path}",
        _method_refuser(router.routes),
        methods=["POST", "PUT", "PATCH", "DELETE"],
        include_in_schema=False,
    )
    return router
