"""``/fhir``: FHIR R4 terminology services (JSON), GET and POST for every operation."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
from fastapi import APIRouter, Request

from termserver.api.responses import FhirResponse
from termserver.api.state import Snapshot
from termserver.fhir import codesystem_ops, conceptmap_ops, valueset_ops
from termserver.fhir.outcome import FhirError, bad_request, not_found
from termserver.fhir.params import OperationParams
from termserver.fhir.resources import (
    capability_statement,
    codesystem_id,
    codesystem_resource,
    searchset,
    terminology_capabilities,
)

MAX_BODY = 1_000_000
OPERATIONS = {
    "CodeSystem": ["lookup", "validate-code", "subsumes"],
    "ValueSet": ["expand", "validate-code"],
    "ConceptMap": ["translate"],
}


def _snapshot(request: Request) -> Snapshot:
    return request.app.state.holder.current


async def read_json_body(request: Request, limit: int = MAX_BODY) -> Any:
    """The request body as JSON; 413 when too large, 400 when not JSON."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise FhirError(413, "too-costly", f"request body larger than {limit} bytes")
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise FhirError(413, "too-costly", f"request body larger than {limit} bytes")
    if not body.strip():
        raise bad_request("the request body is empty; expected a Parameters resource")
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise bad_request(f"the request body is not valid JSON: {exc}") from None


async def operation_params(request: Request) -> OperationParams:
    """Parameters from the query string (GET) or a Parameters body (POST)."""
    if request.method == "POST":
        params = OperationParams.from_body(await read_json_body(request))
        query = OperationParams.from_query(request.query_params.multi_items())
        if query.names() - {"_format", "_pretty"}:
            raise bad_request("with POST, give the parameters in the Parameters body, not the URL")
        return params
    return OperationParams.from_query(request.query_params.multi_items())


def _operation(fn: Callable[[Any, OperationParams], dict], on: str) -> Callable:
    async def endpoint(request: Request) -> FhirResponse:
        snap = _snapshot(request)
        target = {"ValueSet": snap.valuesets, "ConceptMap": snap.translator}.get(on, snap.vocab)
        return FhirResponse(fn(target, await operation_params(request)))

    endpoint.__doc__ = fn.__doc__
    return endpoint


def add_operation(router: APIRouter, resource: str, name: str, fn: Callable) -> None:
    """Register ``/{resource}/${name}`` for GET and POST, with distinct OpenAPI operation ids."""
    for method in ("GET", "POST"):
        router.add_api_route(
            f"/{resource}/${name}",
            _operation(fn, resource),
            methods=[method],
            summary=f"{resource}/${name} ({method})",
            operation_id=f"{resource}_{name.replace('-', '_')}_{method.lower()}",
            response_class=FhirResponse,
        )


def _search_params(request: Request, *allowed: str):
    """The query parameters of a search; 400 for any this server does not support."""
    q = request.query_params
    for key in q:
        if key not in allowed:
            raise bad_request(f"unsupported search parameter '{key}'", key)
    return q


def _base_url(request: Request) -> str:
    return str(request.base_url).rstrip("/") + "/fhir"


def build_router() -> APIRouter:
    """All ``/fhir`` routes; operations come before ``{id}`` so ``$lookup`` is never an id."""
    router = APIRouter(prefix="/fhir", tags=["FHIR terminology"])
    for name, fn in (
        ("lookup", codesystem_ops.lookup),
        ("validate-code", codesystem_ops.validate_code),
        ("subsumes", codesystem_ops.subsumes),
    ):
        add_operation(router, "CodeSystem", name, fn)
    for name, fn in (
        ("expand", valueset_ops.expand),
        ("validate-code", valueset_ops.validate_code),
    ):
        add_operation(router, "ValueSet", name, fn)
    add_operation(router, "ConceptMap", "translate", conceptmap_ops.translate)

    @router.get(
        "/metadata", summary="CapabilityStatement (mode=terminology: TerminologyCapabilities)"
    )
    async def metadata(request: Request, mode: str | None = None) -> FhirResponse:
        if mode == "terminology":
            return FhirResponse(terminology_capabilities(_snapshot(request).vocab))
        if mode not in (None, "full", "normative"):
            raise bad_request(f"unknown mode {mode!r} (use terminology, full or normative)", "mode")
        return FhirResponse(capability_statement(_base_url(request), OPERATIONS))

    @router.get("/CodeSystem", summary="Search code systems by url, version, name, status")
    async def search_codesystems(request: Request) -> FhirResponse:
        vocab = _snapshot(request).vocab
        q = _search_params(
            request,
            "url",
            "version",
            "name",
            "status",
            "_summary",
            "_format",
            "_elements",
            "_count",
        )
        summary = q.get("_summary") in ("true", "count")
        found = []
        for system in vocab.systems():
            for meta in vocab.versions(system):
                if q.get("url") and q["url"] != meta.system:
                    continue
                if q.get("version") and q["version"] != meta.version:
                    continue
                if q.get("name") and q["name"].lower() not in (
                    meta.name.lower(),
                    (meta.title or "").lower(),
                ):
                    continue
                if q.get("status") and q["status"] != meta.status:
                    continue
                found.append(codesystem_resource(vocab, meta, summary=summary))
        return FhirResponse(searchset(found, _base_url(request)))

    @router.get(
        "/CodeSystem/{resource_id}", summary="Read one code system release (id: scheme-version)"
    )
    async def read_codesystem(request: Request, resource_id: str) -> FhirResponse:
        vocab = _snapshot(request).vocab
        for system in vocab.systems():
            for meta in vocab.versions(system):
                if codesystem_id(meta) == resource_id:
                    return FhirResponse(codesystem_resource(vocab, meta))
        raise not_found(f"no CodeSystem with id {resource_id!r}")

    @router.get("/ValueSet", summary="Search value sets by url, version, name, status")
    async def search_valuesets(request: Request) -> FhirResponse:
        index = _snapshot(request).valuesets
        q = _search_params(
            request, "url", "version", "name", "status", "title", "_summary", "_format", "_count"
        )
        found = [
            valueset_ops.valueset_resource(vs)
            for vs in index.definitions()
            if (not q.get("url") or q["url"] == vs.url)
            and (not q.get("version") or q["version"] == vs.version)
            and (not q.get("name") or q["name"].lower() == vs.name.lower())
            and (not q.get("title") or q["title"].lower() in (vs.title or "").lower())
            and (not q.get("status") or q["status"] == vs.status)
        ]
        return FhirResponse(searchset(found, _base_url(request)))

    @router.get("/ValueSet/{resource_id}", summary="Read one value set definition (id: its name)")
    async def read_valueset(request: Request, resource_id: str) -> FhirResponse:
        for vs in _snapshot(request).valuesets.definitions():
            if valueset_ops.valueset_resource(vs)["id"] == resource_id:
                return FhirResponse(valueset_ops.valueset_resource(vs))
        raise not_found(f"no ValueSet with id {resource_id!r}")

    @router.get("/ConceptMap", summary="Search mapping sets by url, version, name, status")
    async def search_conceptmaps(request: Request) -> FhirResponse:
        translator = _snapshot(request).translator
        q = _search_params(
            request, "url", "version", "name", "status", "title", "_summary", "_format", "_count"
        )
        found = [
            cm
            for cm in conceptmap_ops.conceptmap_resources(translator, q.get("url"))
            if (not q.get("version") or q["version"] == cm.get("version"))
            and (not q.get("name") or cm.get("name", "").lower().startswith(q["name"].lower()))
            and (not q.get("title") or q["title"].lower() in cm.get("title", "").lower())
            and (not q.get("status") or q["status"] == cm.get("status"))
        ]
        return FhirResponse(searchset(found, _base_url(request)))

    @router.get("/ConceptMap/{resource_id}", summary="Read one mapping set (id: its file name)")
    async def read_conceptmap(request: Request, resource_id: str) -> FhirResponse:
        return FhirResponse(
            conceptmap_ops.conceptmap_by_id(_snapshot(request).translator, resource_id)
        )

    return router
