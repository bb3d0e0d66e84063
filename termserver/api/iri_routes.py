"""Resolvable IRIs: ``/id/{scheme}``, ``/id/{scheme}/version/{v}`` and ``/id/{scheme}/{code}``.

Each answers in the format the client asks for (Turtle, JSON-LD, RDF/XML, N-Triples, JSON or a
minimal HTML page); ``?format=ttl`` overrides the Accept header for links and curl users.
"""

from __future__ import annotations

from html import escape
from urllib.parse import quote

from fastapi import APIRouter, Request
from starlette.responses import Response

from termserver import iris
from termserver.api.json_routes import concept_json
from termserver.api.responses import JsonResponse
from termserver.errors import UnknownConceptError
from termserver.fhir.outcome import FhirError, not_found
from termserver.formats import BY_EXTENSION, FORMATS, Format, negotiate
from termserver.model import Concept, SchemeVersion
from termserver.rdf_scheme import add_concept_triples, add_scheme_triples, new_graph
from termserver.vocabulary import Vocabulary


def _format(request: Request) -> Format | Response:
    """The format to answer in, or the 406 response when none the client accepts is offered."""
    ext = request.query_params.get("format")
    if ext:
        fmt = BY_EXTENSION.get(ext)
        if fmt is None:
            raise FhirError(
                400, "invalid", f"unknown format {ext!r} (use {', '.join(BY_EXTENSION)})", "format"
            )
        return fmt
    fmt = negotiate(request.headers.get("accept"))
    if fmt is None:
        offered = ", ".join(f.media_type for f in FORMATS)
        message = f"cannot answer in the requested format; offered: {offered}"
        return JsonResponse({"error": "not-supported", "message": message}, status_code=406)
    return fmt


def _rdf(fmt: Format, graph) -> Response:
    data = graph.serialize(format=fmt.rdflib_name, encoding="utf-8")
    return Response(data, media_type=fmt.media_type)


def _page(title: str, rows: list[tuple[str, str]], links: list[tuple[str, str]]) -> Response:
    body = "".join(f"<tr><th>{escape(k)}</th><td>{v}</td></tr>" for k, v in rows)
    alt = " · ".join(f'<a href="{escape(href)}">{escape(label)}</a>' for label, href in links)
    html = (
        f'<!doctype html><html lang="da"><head><meta charset="utf-8"><title>{escape(title)}</title>'
        '<meta name="viewport" content="width=device-width, initial-scale=1"></head>'
        f"<body><main><h1>{escape(title)}</h1><table>{body}</table><p>Andre formater: {alt}</p>"
        "</main></body></html>"
    )
    return Response(html, media_type="text/html; charset=utf-8")


def _alternates(path: str) -> list[tuple[str, str]]:
    return [
        (f.extension.upper(), f"{quote(path)}?format={f.extension}")
        for f in FORMATS
        if f.extension != "html"
    ]


def _link(scheme: str, c: Concept) -> str:
    """A link to a concept's page; the code is one path segment even when it holds '/'."""
    href = f"/id/{quote(scheme, safe='')}/{quote(c.code, safe='')}"
    return f'<a href="{escape(href)}">{escape(c.display.strip())}</a>'


def _concept_page(vocab: Vocabulary, c: Concept, path: str) -> Response:
    crumbs = " › ".join(_link(c.scheme, p) for p in vocab.path_to_top(c))
    rows = [
        ("Kode", escape(c.code)),
        ("System", escape(c.system)),
        ("Udgave", escape(c.version)),
        ("Status", escape(c.status)),
        ("Placering", crumbs),
        ("Definition", escape(c.definition or "—")),
        ("IRI", escape(c.iri)),
    ]
    kids = vocab.children(c)
    if kids:
        rows.append(
            (
                "Underbegreber",
                ", ".join(_link(c.scheme, k) for k in kids),
            )
        )
    return _page(c.display.strip(), rows, _alternates(path))


def build_router() -> APIRouter:
    """The IRI resolver routes."""
    r = APIRouter(prefix="/id", tags=["Resolvable IRIs"])

    def vocab_of(request: Request) -> Vocabulary:
        return request.app.state.holder.current.vocab

    def scheme_meta(vocab: Vocabulary, scheme: str, version: str | None) -> SchemeVersion:
        try:
            return vocab.release(vocab.system_of(scheme), version)
        except UnknownConceptError as exc:
            raise not_found(str(exc), "scheme") from None

    def scheme_answer(request: Request, scheme: str, version: str | None) -> Response:
        vocab = vocab_of(request)
        meta = scheme_meta(vocab, scheme, version)
        fmt = _format(request)
        if isinstance(fmt, Response):
            return fmt
        tops = [c for c in vocab.concepts(meta.system, meta.version) if not c.parents]
        if fmt.rdflib_name:
            g = new_graph(meta)
            add_scheme_triples(g, meta, sum(1 for _ in vocab.concepts(meta.system, meta.version)))
            for c in tops:
                add_concept_triples(g, meta, c)
            return _rdf(fmt, g)
        if fmt.media_type == "application/json":
            top = [{"code": c.code, "display": c.display} for c in tops]
            return JsonResponse(
                {"scheme": meta.scheme, "system": meta.system, "version": meta.version, "top": top}
            )
        rows = [
            ("System", escape(meta.system)),
            ("Udgave", escape(meta.version)),
            ("Udgaver", ", ".join(escape(v.version) for v in vocab.versions(meta.system))),
            ("Kilde", escape(meta.source or "—")),
            (
                "Topbegreber",
                ", ".join(_link(meta.scheme, c) for c in tops),
            ),
        ]
        return _page(meta.title or meta.name, rows, _alternates(request.url.path))

    @r.get("/{scheme}", summary="A scheme (newest release)")
    async def scheme(request: Request, scheme: str) -> Response:
        return scheme_answer(request, scheme, None)

    @r.get("/{scheme}/version/{version}", summary="One release of a scheme")
    async def scheme_version(request: Request, scheme: str, version: str) -> Response:
        return scheme_answer(request, scheme, version)

    # {code:path}: a code may hold '/' (sent as %2F, which the server decodes before routing).
    @r.get("/{scheme}/{code:path}", summary="A concept (newest release unless ?version=)")
    async def concept(
        request: Request, scheme: str, code: str, version: str | None = None
    ) -> Response:
        vocab = vocab_of(request)
        meta = scheme_meta(vocab, scheme, version)
        c = vocab.get(meta.system, code, meta.version)
        if c is None:
            raise not_found(
                f"no concept {iris.concept_iri(scheme, code)} in version {meta.version}", "code"
            )
        fmt = _format(request)
        if isinstance(fmt, Response):
            return fmt
        if fmt.rdflib_name:
            g = new_graph(meta)
            add_concept_triples(g, meta, c)
            return _rdf(fmt, g)
        if fmt.media_type == "application/json":
            return JsonResponse(concept_json(vocab, c, request.app.state.holder.current.kinds))
        return _concept_page(vocab, c, request.url.path)

    return r
