"""``PUT``/``POST``/``DELETE`` of CodeSystems, ValueSets and ConceptMaps on ``/fhir``, for admins.

FHIR create/update/delete plus ``_history`` reads over :mod:`termserver.fhir.stored`. Writes
need an admin's API token (``Authorization: Bearer``); no cookie is accepted here, so a browser
session can never be ridden into a write (no CSRF surface). Without a curation database
(``termserver serve`` with no data directory) the server stores nothing and says so (405).
R4 and R5 JSON are both accepted: the resource is checked as ``tx-resource`` ones are.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool

from termserver.api.fhir_body import read_fhir_json
from termserver.api.responses import FhirResponse
from termserver.curation.auth import ADMIN, User
from termserver.fhir.outcome import FhirError, bad_request, operation_outcome
from termserver.fhir.overlay import Overlay
from termserver.fhir.stored import WRITABLE, StoredResources, StoredVersion, served_urls

#: Largest resource one write may carry (the app-wide body limit applies as well).
MAX_RESOURCE_BYTES = 10 * 1024 * 1024


def stored_of(request: Request) -> StoredResources | None:
    """The stored resources of the app, or None when it has no curation database."""
    return getattr(request.app.state, "fhir_store", None)


def _require_store(request: Request) -> StoredResources:
    stored = stored_of(request)
    if stored is None:
        refusal = FhirError(
            405,
            "not-supported",
            "this server stores no FHIR resources: writes need the curation database "
            "(termserver serve --data-dir DIR)",
        )
        refusal.headers = {"Allow": "GET, HEAD"}  # type: ignore[attr-defined]
        raise refusal
    return stored


class _Unauthorized(FhirError):
    """401 with the challenge FHIR clients expect."""

    def __init__(self, message: str) -> None:
        super().__init__(401, "login", message)
        self.headers = {"WWW-Authenticate": 'Bearer realm="termserver"'}


def _admin(request: Request) -> User:
    header = request.headers.get("authorization")
    if not header:
        raise _Unauthorized("writes need an admin's token: Authorization: Bearer <token>")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise _Unauthorized("Authorization must be 'Bearer <token>'")
    user = request.app.state.curation.authenticate(token.strip())
    if user is None:
        raise _Unauthorized("unknown or revoked token")
    if not user.can(ADMIN):
        raise FhirError(
            403, "forbidden", f"{user.name} has the role {user.role}; writes need {ADMIN}"
        )
    return user


async def _resource_body(request: Request, resource_type: str) -> Any:
    return await read_fhir_json(
        request, expected=f"the {resource_type}", limit=MAX_RESOURCE_BYTES, type_required=True
    )


def _client(request: Request) -> str | None:
    return request.client.host if request.client else None


def _location(request: Request, v: StoredVersion) -> str:
    base = str(request.base_url).rstrip("/")
    return f"{base}/fhir/{v.resource_type}/{v.resource_id}/_history/{v.version}"


def _headers(request: Request, v: StoredVersion) -> dict[str, str]:
    return {"ETag": v.etag, "Location": _location(request, v), "Last-Modified": v.updated_at}


def add_write_routes(
    router: APIRouter, base_view: Callable[[Request], tuple[Overlay, Any]]
) -> None:
    """Register create, update, delete and history for each writable type on ``router``.

    ``base_view(request)`` gives what the FHIR API shows without stored resources and the
    snapshot's translator, so a write that claims official content is refused.
    """
    for rtype in WRITABLE:
        _add_type(router, rtype, base_view)


def _add_type(
    router: APIRouter, rtype: str, base_view: Callable[[Request], tuple[Overlay, Any]]
) -> None:
    async def write(request: Request, resource_id: str, *, assigned: bool = False) -> FhirResponse:
        stored = _require_store(request)
        actor = _admin(request)
        doc = await _resource_body(request, rtype)
        if assigned and isinstance(doc, dict):
            doc = {k: v for k, v in doc.items() if k != "id"}  # FHIR create ignores a given id
        base, translator = base_view(request)
        from termserver.fhir.conceptmap_ops import conceptmap_resources

        served = served_urls(base, (cm["url"] for cm in conceptmap_resources(translator)))
        # Parsing a code system and committing are real work: off the event loop.
        version, created = await run_in_threadpool(
            lambda: stored.put(
                actor,
                rtype,
                resource_id,
                doc,
                if_match=request.headers.get("if-match"),
                served=served,
                client=_client(request),
            )
        )
        return FhirResponse(
            version.body, status_code=201 if created else 200, headers=_headers(request, version)
        )

    async def update(request: Request, resource_id: str) -> FhirResponse:
        return await write(request, resource_id)

    async def create(request: Request) -> FhirResponse:
        # FHIR create: the server names the resource; an id in the body is ignored.
        return await write(request, str(uuid.uuid4()), assigned=True)

    async def delete(request: Request, resource_id: str) -> FhirResponse:
        stored = _require_store(request)
        actor = _admin(request)
        version = await run_in_threadpool(
            lambda: stored.delete(
                actor,
                rtype,
                resource_id,
                if_match=request.headers.get("if-match"),
                client=_client(request),
            )
        )
        outcome = operation_outcome(
            "information", "informational", f"{rtype}/{resource_id} deleted"
        )
        return FhirResponse(outcome, headers={"ETag": version.etag})

    async def history(request: Request, resource_id: str) -> FhirResponse:
        stored = _require_store(request)
        versions = await run_in_threadpool(stored.history, rtype, resource_id)
        if not versions:
            raise FhirError(404, "not-found", f"no stored {rtype} with id {resource_id!r}")
        entries = []
        for v in versions:
            entry: dict[str, Any] = {
                "fullUrl": _location(request, v),
                "request": {
                    "method": "DELETE" if v.deleted else "PUT",
                    "url": f"{rtype}/{resource_id}",
                },
                "response": {
                    "status": "204" if v.deleted else "200",
                    "etag": v.etag,
                    "lastModified": v.updated_at,
                },
            }
            if v.body is not None:
                entry["resource"] = v.body
            entries.append(entry)
        bundle = {"resourceType": "Bundle", "type": "history", "total": len(entries)}
        return FhirResponse(bundle | {"entry": entries})

    async def vread(request: Request, resource_id: str, version_id: str) -> FhirResponse:
        stored = _require_store(request)
        if not version_id.isdigit() or len(version_id) > 18:
            raise bad_request(f"{version_id[:40]!r} is not a version number", "vid")
        v = await run_in_threadpool(stored.version, rtype, resource_id, int(version_id))
        if v is None:
            raise FhirError(404, "not-found", f"{rtype}/{resource_id} has no version {version_id}")
        if v.body is None:
            raise FhirError(410, "deleted", f"{rtype}/{resource_id} was deleted in this version")
        return FhirResponse(v.body, headers={"ETag": v.etag, "Last-Modified": v.updated_at})

    name = rtype.lower()
    item, history_path = f"/{rtype}/{{resource_id}}", f"/{rtype}/{{resource_id}}/_history"
    for path, endpoint, method, op, summary in (
        (item, update, "PUT", "update", f"Create or update a {rtype} (admin)"),
        (f"/{rtype}", create, "POST", "create", f"Create a {rtype} (admin); the server names it"),
        (item, delete, "DELETE", "delete", f"Delete a {rtype} (admin); its versions stay"),
        (history_path, history, "GET", "history", f"Every version of a stored {rtype}"),
        (f"{history_path}/{{version_id}}", vread, "GET", "vread", f"One version of a {rtype}"),
    ):
        router.add_api_route(
            path,
            endpoint,
            methods=[method],
            summary=summary,
            operation_id=f"{name}_{op}",
            response_class=FhirResponse,
        )
