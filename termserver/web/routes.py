"""The web pages: search, concept, scheme tree, mapping sets and translation, in Danish.

Query parameters are read as plain strings and checked here, so a mangled link gives a Danish
page with a message, never the JSON error the API routes answer with.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

from fastapi import APIRouter, Request
from starlette.responses import HTMLResponse

from termserver.errors import UnknownConceptError
from termserver.model import STATUSES, Concept, SchemeVersion
from termserver.translate import FFB_SYSTEM
from termserver.vocabulary import SearchHit, Vocabulary
from termserver.web import curation_pages, validate_page
from termserver.web.concept_view import mapping_row, mappings_of, valuesets_of
from termserver.web.history import concept_history
from termserver.web.mapping_view import (
    CONFIDENCE_FILTERS,
    RELATION_FILTERS,
    RowFilter,
    tool_coverage,
)
from termserver.web.render import STATIC, render

__all__ = ["STATIC", "build_router"]

MAX_QUERY = 200
SEARCH_PAGE = 20
MAX_SEARCH_PAGES = 25
SUGGESTIONS = 8
MAPPING_PAGE = 50
#: Children shown under one tree node; a larger family is read on the concept page.
MAX_CHILDREN = 300
#: Tools with at most this many concepts get a drop-down; larger ones a search field.
MAX_SELECT = 200
MAX_TREE_DEPTH = 40
#: Schemes with at most this many concepts show their whole tree open.
SMALL_SCHEME = 40


@dataclass(frozen=True, slots=True)
class TreeNode:
    """One concept in the scheme tree; ``children`` is None until loaded (lazily, by htmx)."""

    concept: Concept
    child_count: int
    children: tuple[TreeNode, ...] | None = None
    more: int = 0  # children left out beyond MAX_CHILDREN


def _snapshot(request: Request):
    return request.app.state.holder.current


def _int(value: str | None, default: int, low: int, high: int) -> int:
    try:
        return min(max(int(value or default), low), high)
    except ValueError:
        return default


def _clean(text: str | None) -> str:
    return (text or "").strip()[:MAX_QUERY]


def _not_found(request: Request, message: str) -> HTMLResponse:
    return render(request, "not_found.html", {"message": message}, status_code=404)


def _scheme_meta(vocab: Vocabulary, scheme: str, version: str | None) -> SchemeVersion:
    """Raises UnknownConceptError with a message fit for the 404 page."""
    try:
        system = vocab.system_of(scheme)
    except UnknownConceptError:
        raise UnknownConceptError(f"Skemaet »{scheme}« findes ikke.") from None
    try:
        return vocab.release(system, version or None)
    except UnknownConceptError:
        held = ", ".join(m.version for m in vocab.versions(system))
        raise UnknownConceptError(
            f"Skemaet »{scheme}« har ingen udgave »{version}« (findes: {held})."
        ) from None


def _scheme_rows(vocab: Vocabulary) -> list[dict]:
    rows = [
        {
            "meta": m,
            "count": sum(1 for _ in vocab.concepts(m.system)),
            "versions": vocab.versions(m.system),
        }
        for m in vocab.schemes()
    ]
    return sorted(
        rows, key=lambda r: (r["meta"].codes_assigned, (r["meta"].title or r["meta"].name).lower())
    )


def _children(vocab: Vocabulary, c: Concept, open_codes: frozenset[str], depth: int) -> TreeNode:
    kids = vocab.children(c)
    children = None
    if c.code in open_codes and depth < MAX_TREE_DEPTH:
        children = tuple(
            _children(vocab, k, open_codes - {c.code}, depth + 1) for k in kids[:MAX_CHILDREN]
        )
    return TreeNode(c, len(kids), children, max(len(kids) - MAX_CHILDREN, 0))


def _tops(vocab: Vocabulary, meta: SchemeVersion) -> list[Concept]:
    tops = [c for c in vocab.concepts(meta.system, meta.version) if not vocab.parents(c)]
    return sorted(tops, key=lambda c: c.display)


def _ffb_first(hits: list[SearchHit]) -> list[SearchHit]:
    """Equal scores: FFB before its sister systems (FSIII repeats many FFB labels), since FFB
    is what most readers look for; otherwise the search order stands."""
    return sorted(hits, key=lambda h: (-h.score, h.concept.system != FFB_SYSTEM))


def _tools(snapshot) -> list[SchemeVersion]:
    """The local tools one can translate from: subject schemes of a mapping set, not the hub."""
    vocab = snapshot.vocab
    systems = {
        ms.subject_system
        for ms in snapshot.translator.mapping_sets
        if ms.subject_system in vocab.systems() and ms.subject_system != FFB_SYSTEM
    }
    metas = [vocab.release(s) for s in systems]
    return sorted(metas, key=lambda m: (m.title or m.name).lower())


def build_router() -> APIRouter:
    """The web page routes (HTML, not in the OpenAPI schema)."""
    r = APIRouter(include_in_schema=False)
    r.include_router(validate_page.build_router())
    r.include_router(curation_pages.build_router())

    @r.get("/", response_class=HTMLResponse)
    def home(request: Request) -> HTMLResponse:
        vocab = _snapshot(request).vocab
        return render(request, "home.html", {"schemes": _scheme_rows(vocab)})

    @r.get("/soeg", response_class=HTMLResponse)
    def search(
        request: Request,
        q: str = "",
        skema: str = "",
        status: str = "",
        alle: str = "",
        side: str = "1",
    ) -> HTMLResponse:
        vocab = _snapshot(request).vocab
        query = _clean(q)
        page = _int(side, 1, 1, MAX_SEARCH_PAGES)
        notice = None
        systems = None
        if skema:
            try:
                systems = [vocab.system_of(skema)]
            except UnknownConceptError:
                notice = f"Skemaet »{skema}« findes ikke; der søges i alle skemaer."
                skema = ""
        statuses = [status] if status in STATUSES else None
        hits, has_next = [], False
        if query:
            found = _ffb_first(
                vocab.search(
                    query,
                    systems=systems,
                    status=statuses,
                    all_versions=bool(alle),
                    limit=SEARCH_PAGE * page + 1,
                )
            )
            has_next = len(found) > SEARCH_PAGE * page
            hits = [
                {"hit": h, "path": vocab.path_to_top(h.concept)[:-1]}
                for h in found[SEARCH_PAGE * (page - 1) : SEARCH_PAGE * page]
            ]
        return render(
            request,
            "search.html",
            {
                "q": query,
                "hits": hits,
                "page": page,
                "has_next": has_next,
                "skema": skema,
                "status": status if statuses else "",
                "alle": bool(alle),
                "notice": notice,
                "schemes": _scheme_rows(vocab),
                "statuses": STATUSES,
            },
        )

    @r.get("/soeg/forslag", response_class=HTMLResponse)
    def suggestions(request: Request, q: str = "") -> HTMLResponse:
        vocab = _snapshot(request).vocab
        query = _clean(q)
        hits = []
        if len(query) >= 2:
            hits = [
                {"hit": h, "parent": (vocab.parents(h.concept) or [None])[0]}
                for h in _ffb_first(vocab.search(query, limit=SUGGESTIONS * 2))[:SUGGESTIONS]
            ]
        return render(request, "_suggestions.html", {"q": query, "hits": hits})

    @r.get("/begreb/{scheme}/{code:path}", response_class=HTMLResponse)
    def concept(request: Request, scheme: str, code: str, udgave: str = "") -> HTMLResponse:
        snapshot = _snapshot(request)
        vocab = snapshot.vocab
        try:
            meta = _scheme_meta(vocab, scheme, udgave)
        except UnknownConceptError as exc:
            return _not_found(request, str(exc))
        c = vocab.get(meta.system, code, meta.version)
        if c is None and not udgave:
            # A code dropped from the newest release still has a page: its last release.
            held = vocab.versions_of(meta.system, code)
            if held:
                c = vocab.get(meta.system, code, held[0])
                meta = vocab.release(meta.system, held[0])
        if c is None:
            return _not_found(
                request, f"Begrebet med koden »{code}« findes ikke i {meta.title or meta.name}."
            )
        out, into = mappings_of(snapshot, c)
        path = vocab.path_to_top(c)
        kind = snapshot.kinds.kind_of(c) if snapshot.kinds is not None else None
        return render(
            request,
            "concept.html",
            {
                "c": c,
                "meta": meta,
                "latest": c.version == vocab.default_version(c.system),
                "path": path[:-1],
                "other_parents": [p for p in vocab.parents(c) if p not in path],
                "children": vocab.children(c),
                "replacements": vocab.replacement(c),
                "kind": kind,
                "mappings_out": out,
                "mappings_in": into,
                "valuesets": valuesets_of(snapshot, c),
                "history": concept_history(vocab, c.system, c.code),
                "code_q": quote(c.code, safe=""),
                "system_q": quote(c.system, safe=""),
            },
        )

    @r.get("/skema", response_class=HTMLResponse)
    def schemes(request: Request) -> HTMLResponse:
        vocab = _snapshot(request).vocab
        return render(request, "schemes.html", {"schemes": _scheme_rows(vocab)})

    @r.get("/skema/{scheme}", response_class=HTMLResponse)
    def scheme(request: Request, scheme: str, udgave: str = "", aaben: str = "") -> HTMLResponse:
        snapshot = _snapshot(request)
        vocab = snapshot.vocab
        try:
            meta = _scheme_meta(vocab, scheme, udgave)
        except UnknownConceptError as exc:
            return _not_found(request, str(exc))
        concepts = list(vocab.concepts(meta.system, meta.version))
        # A small tool is shown whole: nothing to load, and nothing hidden from a reader
        # without JavaScript.
        open_codes = (
            frozenset(c.code for c in concepts) if len(concepts) <= SMALL_SCHEME else frozenset()
        )
        target = vocab.get(meta.system, aaben, meta.version) if aaben else None
        if target is not None:
            open_codes |= {target.code, *(a.code for a in vocab.ancestors(target))}
        tree = [_children(vocab, c, open_codes, 0) for c in _tops(vocab, meta)]
        sets = [
            ms
            for ms in snapshot.translator.mapping_sets
            if meta.system in (ms.subject_system, ms.object_system)
        ]
        return render(
            request,
            "scheme.html",
            {
                "meta": meta,
                "latest": meta.version == vocab.default_version(meta.system),
                "versions": vocab.versions(meta.system),
                "count": len(concepts),
                "tree": tree,
                "aaben": target.code if target is not None else "",
                "mapping_sets": sets,
            },
        )

    @r.get("/skema/{scheme}/under", response_class=HTMLResponse)
    def tree_children(
        request: Request, scheme: str, kode: str = "", udgave: str = ""
    ) -> HTMLResponse:
        vocab = _snapshot(request).vocab
        try:
            meta = _scheme_meta(vocab, scheme, udgave)
        except UnknownConceptError as exc:
            return _not_found(request, str(exc))
        c = vocab.get(meta.system, kode, meta.version)
        if c is None:
            return _not_found(request, f"Koden »{kode}« findes ikke i {meta.title or meta.name}.")
        node = _children(vocab, c, frozenset({c.code}), 0)
        latest = meta.version == vocab.default_version(meta.system)
        return render(
            request, "_tree_children.html", {"meta": meta, "node": node, "latest": latest}
        )

    @r.get("/mappinger", response_class=HTMLResponse)
    def mapping_sets(request: Request) -> HTMLResponse:
        snapshot = _snapshot(request)
        rows = [
            {"set": ms, "coverage": tool_coverage(snapshot, ms)}
            for ms in snapshot.translator.mapping_sets
        ]
        return render(request, "mapping_sets.html", {"sets": rows})

    @r.get("/mappinger/{set_id}", response_class=HTMLResponse)
    def mapping_set(
        request: Request,
        set_id: str,
        relation: str = "",
        status: str = "",
        sikkerhed: str = "",
        side: str = "1",
    ) -> HTMLResponse:
        snapshot = _snapshot(request)
        try:
            ms = snapshot.translator.mapping_set(set_id)
        except UnknownConceptError:
            return _not_found(request, f"Mappingsættet »{set_id}« findes ikke.")
        chosen = RowFilter.from_query(relation, status, sikkerhed)
        rows = [m for m in ms.mappings if chosen.accepts(m)]
        pages = max((len(rows) + MAPPING_PAGE - 1) // MAPPING_PAGE, 1)
        page = _int(side, 1, 1, pages)
        shown = rows[MAPPING_PAGE * (page - 1) : MAPPING_PAGE * page]
        return render(
            request,
            "mapping_set.html",
            {
                "ms": ms,
                "filter": chosen,
                "rows": [mapping_row(snapshot.vocab, ms, m) for m in shown],
                "matched": len(rows),
                "page": page,
                "pages": pages,
                "first_index": MAPPING_PAGE * (page - 1),
                "coverage": tool_coverage(snapshot, ms),
                "relations": RELATION_FILTERS,
                "confidences": CONFIDENCE_FILTERS,
            },
        )

    @r.get("/oversaet", response_class=HTMLResponse)
    def translate(
        request: Request, skema: str = "", kode: str = "", term: str = "", maal: str = "ffb"
    ) -> HTMLResponse:
        snapshot = _snapshot(request)
        ctx = _term_choice(snapshot, skema, kode, term)
        ctx["maal"] = "alle" if maal == "alle" else "ffb"
        ctx["results"] = None
        chosen = ctx["concept"]
        if chosen is not None:
            target = FFB_SYSTEM if ctx["maal"] == "ffb" else None
            ctx["results"] = snapshot.translator.translate(
                chosen.system, chosen.code, target_system=target
            )
        return render(request, "translate.html", ctx)

    @r.get("/oversaet/termer", response_class=HTMLResponse)
    def translate_terms(request: Request, skema: str = "") -> HTMLResponse:
        ctx = _term_choice(_snapshot(request), skema, "", "")
        return render(request, "_term_choice.html", ctx)

    return r


def _term_choice(snapshot, skema: str, kode: str, term: str) -> dict:
    """The tool, its terms and the chosen concept (or why none is chosen) for the translate page."""
    vocab = snapshot.vocab
    tools = _tools(snapshot)
    tool = next((t for t in tools if t.scheme == skema), None)
    ctx: dict = {
        "tools": tools,
        "tool": tool,
        "terms": None,
        "candidates": [],
        "concept": None,
        "kode": kode,
        "term": _clean(term),
        "message": None,
    }
    if skema and tool is None:
        ctx["message"] = f"»{skema}« er ikke et redskab med mappinger."
        return ctx
    if tool is None:
        return ctx
    concepts = sorted(vocab.concepts(tool.system), key=lambda c: c.display)
    if len(concepts) <= MAX_SELECT:
        ctx["terms"] = concepts
    if kode:
        ctx["concept"] = vocab.get(tool.system, kode)
        if ctx["concept"] is None:
            ctx["message"] = f"Koden »{kode}« findes ikke i {tool.title or tool.name}."
    elif ctx["term"]:
        hits = vocab.search(ctx["term"], systems=[tool.system], limit=10)
        if len(hits) == 1:
            ctx["concept"] = hits[0].concept
        elif hits:
            ctx["candidates"] = [h.concept for h in hits]
        else:
            ctx["message"] = f"Ingen termer i {tool.title or tool.name} matcher »{ctx['term']}«."
    return ctx
