"""``/api``: a plain JSON API for clients that do not speak FHIR.

Handlers return pre-rendered JSON (fast); the pydantic models below only document the shapes in
the OpenAPI schema at ``/openapi.json``.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel

from termserver.api.responses import JsonResponse
from termserver.errors import UnknownConceptError
from termserver.fhir.outcome import FhirError, bad_request, not_found
from termserver.kinds import KindIndex
from termserver.model import STATUSES, Concept
from termserver.vocabulary import Vocabulary


class ConceptRef(BaseModel):
    code: str
    display: str
    iri: str


class ConceptOut(BaseModel):
    iri: str
    scheme: str
    system: str
    version: str
    code: str
    display: str
    labels: dict[str, str]
    definition: str | None
    status: str
    active: bool
    replacedBy: list[ConceptRef]
    parents: list[ConceptRef]
    children: list[ConceptRef]
    versions: list[str]
    designations: list[dict[str, Any]]
    properties: list[dict[str, Any]]
    kinds: list[dict[str, Any]]
    sources: list[str]
    note: str | None
    codeAssignedByProject: bool


class SchemeOut(BaseModel):
    scheme: str
    system: str
    iri: str
    name: str
    title: str | None
    description: str | None
    defaultVersion: str
    versions: list[dict[str, Any]]


class SearchHitOut(BaseModel):
    score: float
    matched: str
    concept: ConceptRef
    scheme: str
    system: str
    version: str
    status: str


def _ref(c: Concept) -> dict[str, str]:
    return {"code": c.code, "display": c.display, "iri": c.iri}


def concept_json(vocab: Vocabulary, c: Concept, kinds: KindIndex | None = None) -> dict[str, Any]:
    """The JSON form of a concept with its immediate neighbourhood (and its FFB kind)."""
    labels = {c.language: c.display}
    for d in c.designations:
        if d.language and d.use_code is None:
            labels.setdefault(d.language, d.value)
    return {
        "iri": c.iri,
        "scheme": c.scheme,
        "system": c.system,
        "version": c.version,
        "code": c.code,
        "display": c.display,
        "labels": labels,
        "definition": c.definition,
        "status": c.status,
        "active": c.active,
        "replacedBy": [_ref(r) for r in vocab.replacement(c)],
        "parents": [_ref(p) for p in vocab.parents(c)],
        "children": [_ref(k) for k in vocab.children(c)],
        "versions": vocab.versions_of(c.system, c.code),
        "designations": [
            {
                "value": d.value,
                "language": d.language,
                "use": d.use_code and {"system": d.use_system, "code": d.use_code},
            }
            for d in c.designations
        ],
        "properties": [{"code": p.code, "type": p.type, "value": p.value} for p in c.properties],
        "kinds": [
            {"iri": k.iri, "label": {"da": k.label_da, "en": k.label_en}}
            for k in (kinds.lineage(c) if kinds else [])
        ],
        "sources": list(c.sources),
        "note": c.note,
        "codeAssignedByProject": c.code_assigned,
    }


def _scheme_json(vocab: Vocabulary, system: str) -> dict[str, Any]:
    meta = vocab.release(system)
    return {
        "scheme": meta.scheme,
        "system": meta.system,
        "iri": meta.scheme_iri,
        "name": meta.name,
        "title": meta.title,
        "description": meta.description,
        "defaultVersion": meta.version,
        "versions": [
            {
                "version": v.version,
                "iri": v.iri,
                "concepts": sum(1 for _ in vocab.concepts(system, v.version)),
                "source": v.source,
            }
            for v in vocab.versions(system)
        ],
    }


def _vocab(request: Request) -> Vocabulary:
    return request.app.state.holder.current.vocab


def _system(vocab: Vocabulary, scheme_or_system: str) -> str:
    if scheme_or_system in vocab.systems():
        return scheme_or_system
    try:
        return vocab.system_of(scheme_or_system)
    except UnknownConceptError as exc:
        raise not_found(str(exc), "scheme") from None


def _concept(vocab: Vocabulary, system: str, code: str, version: str | None) -> Concept:
    try:
        return vocab.lookup(system, code, version)
    except UnknownConceptError as exc:
        raise not_found(str(exc), "code") from None


def _concept_in(
    request: Request, scheme: str, code: str, version: str | None
) -> tuple[Vocabulary, Concept]:
    """The current snapshot's vocabulary and one of its concepts (404 when unknown)."""
    vocab = _vocab(request)
    return vocab, _concept(vocab, _system(vocab, scheme), code, version)


def build_router() -> APIRouter:
    """All ``/api`` routes."""
    r = APIRouter(prefix="/api", tags=["JSON API"])

    @r.get("/schemes", response_model=list[SchemeOut], summary="All schemes with their versions")
    async def schemes(request: Request) -> JsonResponse:
        vocab = _vocab(request)
        return JsonResponse([_scheme_json(vocab, s) for s in vocab.systems()])

    @r.get(
        "/schemes/{scheme}",
        response_model=SchemeOut,
        summary="One scheme (id such as ffb, or its system URL)",
    )
    async def scheme(request: Request, scheme: str) -> JsonResponse:
        vocab = _vocab(request)
        return JsonResponse(_scheme_json(vocab, _system(vocab, scheme)))

    @r.get(
        "/schemes/{scheme}/top",
        response_model=list[ConceptRef],
        summary="Top concepts of a scheme release",
    )
    async def top(request: Request, scheme: str, version: str | None = None) -> JsonResponse:
        vocab = _vocab(request)
        system = _system(vocab, scheme)
        try:
            tops = [c for c in vocab.concepts(system, version) if not c.parents]
        except UnknownConceptError as exc:
            raise not_found(str(exc), "version") from None
        return JsonResponse([_ref(c) for c in sorted(tops, key=lambda c: c.display)])

    @r.get("/concept", response_model=ConceptOut, summary="A concept by IRI, or by system and code")
    async def concept_by(
        request: Request,
        # Far longer than any of our IRIs; the not-found message echoes it.
        iri: Annotated[str | None, Query(max_length=2000)] = None,
        system: str | None = None,
        code: str | None = None,
        version: str | None = None,
    ) -> JsonResponse:
        snap = request.app.state.holder.current
        vocab, kinds = snap.vocab, snap.kinds
        if iri:
            if system or code:
                raise bad_request("give either iri, or system and code", "iri")
            try:
                return JsonResponse(concept_json(vocab, vocab.by_iri(iri, version), kinds))
            except UnknownConceptError as exc:
                raise not_found(str(exc), "iri") from None
        if not system or not code:
            raise bad_request("give iri, or both system and code", "system")
        c = _concept(vocab, _system(vocab, system), code, version)
        return JsonResponse(concept_json(vocab, c, kinds))

    @r.get(
        "/concepts/{scheme}/{code:path}/children",
        response_model=list[ConceptRef],
        summary="Direct narrower concepts",
    )
    async def children(
        request: Request, scheme: str, code: str, version: str | None = None
    ) -> JsonResponse:
        vocab, c = _concept_in(request, scheme, code, version)
        return JsonResponse([_ref(k) for k in vocab.children(c)])

    @r.get(
        "/concepts/{scheme}/{code:path}/ancestors",
        response_model=list[ConceptRef],
        summary="All broader concepts, nearest first",
    )
    async def ancestors(
        request: Request, scheme: str, code: str, version: str | None = None
    ) -> JsonResponse:
        vocab, c = _concept_in(request, scheme, code, version)
        return JsonResponse([_ref(a) for a in vocab.ancestors(c)])

    @r.get(
        "/concepts/{scheme}/{code:path}/descendants",
        response_model=list[ConceptRef],
        summary="All narrower concepts",
    )
    async def descendants(
        request: Request,
        scheme: str,
        code: str,
        version: str | None = None,
        limit: Annotated[int, Query(ge=1, le=10000)] = 1000,
    ) -> JsonResponse:
        vocab, c = _concept_in(request, scheme, code, version)
        return JsonResponse([_ref(d) for d in vocab.descendants(c)[:limit]])

    # After the suffix routes: {code:path} takes codes with '/', so it would swallow them.
    @r.get(
        "/concepts/{scheme}/{code:path}",
        response_model=ConceptOut,
        summary="A concept by scheme and code",
    )
    async def concept(
        request: Request, scheme: str, code: str, version: str | None = None
    ) -> JsonResponse:
        snap = request.app.state.holder.current
        c = _concept(snap.vocab, _system(snap.vocab, scheme), code, version)
        return JsonResponse(concept_json(snap.vocab, c, snap.kinds))

    @r.get(
        "/subsumes", summary="Is A subsumed by B? (equivalent, subsumes, subsumed-by, not-subsumed)"
    )
    async def subsumes(
        request: Request, scheme: str, a: str, b: str, version: str | None = None
    ) -> JsonResponse:
        vocab = _vocab(request)
        system = _system(vocab, scheme)
        try:
            return JsonResponse({"outcome": vocab.subsumes(system, a, b, version)})
        except UnknownConceptError as exc:
            raise not_found(str(exc), "code") from None

    @r.get(
        "/search",
        response_model=list[SearchHitOut],
        summary="Danish-aware, typo-tolerant label search",
    )
    async def search(
        request: Request,
        q: Annotated[str, Query(min_length=1, max_length=200)],
        scheme: Annotated[list[str] | None, Query()] = None,
        status: Annotated[list[str] | None, Query()] = None,
        all_versions: bool = False,
        limit: Annotated[int, Query(ge=1, le=200)] = 20,
    ) -> JsonResponse:
        vocab = _vocab(request)
        systems = [_system(vocab, s) for s in scheme] if scheme else None
        for s in status or ():
            if s not in STATUSES:
                raise FhirError(
                    400, "invalid", f"unknown status {s!r} (use {', '.join(STATUSES)})", "status"
                )
        hits = vocab.search(
            q, systems=systems, status=status, all_versions=all_versions, limit=limit
        )
        return JsonResponse(
            [
                {
                    "score": round(h.score, 4),
                    "matched": h.matched,
                    "concept": _ref(h.concept),
                    "scheme": h.concept.scheme,
                    "system": h.concept.system,
                    "version": h.concept.version,
                    "status": h.concept.status,
                }
                for h in hits
            ]
        )

    return r
