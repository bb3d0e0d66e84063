"""``/api/translate`` and ``/api/mappings``: the mapping sets and translation as plain JSON."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel

from termserver.api.responses import JsonResponse
from termserver.errors import UnknownConceptError
from termserver.fhir.outcome import bad_request, not_found
from termserver.mappings import MappingSet, short_name
from termserver.translate import MAX_STEPS, Translator


class TranslationOut(BaseModel):
    target: dict[str, Any]
    relation: str
    relationName: str
    confidence: float | None
    status: str
    steps: int
    path: list[dict[str, Any]]


class MappingSetOut(BaseModel):
    id: str
    title: str
    description: str | None
    version: str | None
    license: str | None
    creators: list[str]
    subject: dict[str, Any]
    object: dict[str, Any]
    rows: int
    proposed: int
    mappings: list[dict[str, Any]] | None = None


def _set_json(ms: MappingSet, rows: bool) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": ms.id,
        "title": ms.title,
        "description": ms.description,
        "version": ms.version,
        "license": ms.license,
        "creators": list(ms.creators),
        "subject": {"scheme": ms.subject_scheme, "system": ms.subject_system},
        "object": {"scheme": ms.object_scheme, "system": ms.object_system},
        "rows": len(ms.mappings),
        "proposed": ms.proposed_count,
    }
    if rows:
        out["mappings"] = [
            {
                "subject": {"code": m.subject_code, "label": m.subject_label},
                "predicate": m.predicate,
                "relation": short_name(m.predicate),
                "object": {"code": m.object_code, "label": m.object_label},
                "line": m.line,
                **m.provenance(),
            }
            for m in ms.mappings
        ]
    return out


def _translator(request: Request) -> Translator:
    return request.app.state.holder.current.translator


def build_router() -> APIRouter:
    """The mapping and translation routes under ``/api``."""
    r = APIRouter(prefix="/api", tags=["JSON API"])

    @r.get(
        "/translate",
        response_model=list[TranslationOut],
        summary="Translate a code via the mapping sets (forward, reverse, chained through FFB)",
    )
    def translate(
        request: Request,
        system: Annotated[str, Query(description="Scheme id (vum-1) or system URL")],
        code: Annotated[str, Query(min_length=1, max_length=200)],
        target: Annotated[str | None, Query(description="Only results in this scheme")] = None,
        reverse: bool = False,
        as_of: Annotated[str | None, Query(description="YYYY-MM-DD")] = None,
        max_steps: Annotated[int, Query(ge=1, le=MAX_STEPS)] = 2,
        all_paths: bool = False,
    ) -> JsonResponse:
        translator = _translator(request)
        day = None
        if as_of is not None:
            try:
                day = date.fromisoformat(as_of)
            except ValueError:
                raise bad_request(f"as_of must be YYYY-MM-DD, got {as_of!r}", "as_of") from None
        try:
            found = translator.translate(
                system,
                code,
                target_system=target,
                reverse=reverse,
                as_of=day,
                max_steps=max_steps,
                all_paths=all_paths,
            )
        except UnknownConceptError as exc:
            raise not_found(str(exc), "code") from None
        return JsonResponse([t.to_dict() for t in found])

    @r.get("/mappings", response_model=list[MappingSetOut], summary="All mapping sets")
    async def mapping_sets(request: Request) -> JsonResponse:
        return JsonResponse([_set_json(ms, rows=False) for ms in _translator(request).mapping_sets])

    @r.get(
        "/mappings/{set_id}",
        response_model=MappingSetOut,
        summary="One mapping set with its rows and their provenance",
    )
    async def mapping_set(request: Request, set_id: str) -> JsonResponse:
        try:
            ms = _translator(request).mapping_set(set_id)
        except UnknownConceptError as exc:
            raise not_found(str(exc), "set_id") from None
        return JsonResponse(_set_json(ms, rows=True))

    return r
