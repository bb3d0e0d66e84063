"""``/sparql``: the SPARQL 1.1 Protocol query endpoint (read-only) over :mod:`termserver.sparql`.

Requests follow the protocol: ``GET ?query=``, ``POST`` with ``application/sparql-query`` (the
body is the query) or ``application/x-www-form-urlencoded`` (``query=`` in the body), and
``default-graph-uri`` / ``named-graph-uri`` to choose the dataset. The result format comes from
the Accept header; a ``format`` parameter (``json``, ``xml``, ``csv``, ``tsv``, ``turtle``, ...
or a media type) overrides it for clients that cannot set headers.

Errors are JSON ``{"error": code, "message": text}``:

* 400: no query, a syntax error (the parser's message), an update (``read-only``), ``SERVICE``,
  a bad graph IRI, a result over the size limit (``too-many-results``);
* 406: no acceptable result format; 413: query text over the limit; 415: unknown POST type;
* 503 with ``Retry-After``: the query hit the time or memory limit, or every worker was busy.
  503 rather than 504 because no upstream server is involved: this server chose to stop.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from urllib.parse import parse_qsl

from fastapi import APIRouter, FastAPI, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from termserver.api.responses import JsonResponse, read_body
from termserver.settings import Settings
from termserver.sparql import (
    READ_ONLY_MESSAGE,
    EngineBusy,
    EngineFailure,
    ForbiddenFeature,
    InvalidRequest,
    NotAcceptable,
    QueryAborted,
    QueryEvaluationError,
    QuerySyntaxError,
    QueryTimeout,
    QueryTooLarge,
    SparqlEngine,
    SparqlError,
    TooManyResults,
    UpdateRefused,
    accept_for_format,
    engine_from_env,
)

log = logging.getLogger("termserver")

QUERY_TYPE = "application/sparql-query"
UPDATE_TYPE = "application/sparql-update"
FORM_TYPE = "application/x-www-form-urlencoded"
RETRY_AFTER = "5"

STATUS: dict[type[SparqlError], int] = {
    InvalidRequest: 400,
    QuerySyntaxError: 400,
    UpdateRefused: 400,
    ForbiddenFeature: 400,
    TooManyResults: 400,
    QueryEvaluationError: 400,
    NotAcceptable: 406,
    QueryTooLarge: 413,
    QueryTimeout: 503,
    QueryAborted: 503,
    EngineBusy: 503,
    EngineFailure: 500,
}


def create_engine(settings: Settings | None = None) -> SparqlEngine:
    """The app's engine: the ontology directory and limits as configured in the environment;
    ``settings`` give the query time limit and the largest result.

    Cheap to call; nothing is loaded until :func:`lifespan` starts it or the first query.
    """
    if settings is None:
        return engine_from_env()
    return engine_from_env(timeout=settings.query_timeout, max_results=settings.max_results)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Start the SPARQL workers with the server and stop them with it."""
    engine: SparqlEngine = app.state.sparql

    def start() -> None:
        try:
            engine.start(wait=False)
        except SparqlError:
            log.exception("the SPARQL engine did not start; /sparql will retry on its first query")

    # Build the store beside the server, not before it: terminology requests are answered at
    # once (startup to first answer), and a SPARQL query arriving early waits on the engine's
    # lock rather than failing.
    starter = threading.Thread(target=start, name="termserver-sparql-start", daemon=True)
    starter.start()
    try:
        yield
    finally:
        await run_in_threadpool(starter.join)
        await run_in_threadpool(engine.close)


def error_response(exc: SparqlError) -> JsonResponse:
    """The JSON error for ``exc`` with its status code (and Retry-After when worth retrying)."""
    status = STATUS.get(type(exc), 400)
    headers = {"Retry-After": RETRY_AFTER} if status == 503 else None
    return JsonResponse(
        {"error": exc.code, "message": str(exc)}, status_code=status, headers=headers
    )


def _decode(body: bytes) -> str:
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidRequest(f"the request body is not UTF-8: {exc}") from None


async def _params(request: Request, engine: SparqlEngine) -> list[tuple[str, str]]:
    """All protocol parameters, from the URL and, for POST, the body."""
    params = list(request.query_params.multi_items())
    if request.method != "POST":
        return params
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type == UPDATE_TYPE:
        raise UpdateRefused(READ_ONLY_MESSAGE)
    if media_type == QUERY_TYPE:
        if any(name == "query" for name, _ in params):
            raise InvalidRequest("with application/sparql-query, send the query as the body only")
        body = await read_body(request, engine.max_query_bytes, QueryTooLarge)
        return [*params, ("query", _decode(body))]
    if media_type == FORM_TYPE:
        # Percent-encoding can triple a query's size; the engine checks the decoded size.
        body = await read_body(request, 3 * engine.max_query_bytes + 4096, QueryTooLarge)
        return params + parse_qsl(_decode(body), keep_blank_values=True)
    raise _Unsupported(media_type)


class _Unsupported(Exception):
    def __init__(self, media_type: str) -> None:
        super().__init__(media_type)
        self.media_type = media_type


async def _answer(request: Request) -> Response:
    engine: SparqlEngine = request.app.state.sparql
    try:
        params = await _params(request, engine)
        if any(name == "update" for name, _ in params):
            raise UpdateRefused(READ_ONLY_MESSAGE)
        queries = [value for name, value in params if name == "query"]
        if len(queries) != 1:
            raise InvalidRequest(
                "send exactly one SPARQL query in the 'query' parameter"
                if not queries
                else f"got {len(queries)} 'query' parameters; send exactly one"
            )
        formats = [value for name, value in params if name == "format"]
        accept = accept_for_format(formats[-1]) if formats else request.headers.get("accept")
        default = [value for name, value in params if name == "default-graph-uri"]
        named = [value for name, value in params if name == "named-graph-uri"]
        result = await run_in_threadpool(
            engine.query,
            queries[0],
            accept=accept,
            # Either parameter given means the client defines the whole dataset (§2.1.4).
            default_graph_uris=default if default or named else None,
            named_graph_uris=named if default or named else None,
        )
    except SparqlError as exc:
        return error_response(exc)
    except _Unsupported as exc:
        message = (
            f"unsupported content type {exc.media_type or '(none)'!r}; POST the query as "
            f"{QUERY_TYPE} or as {FORM_TYPE} with query="
        )
        return JsonResponse({"error": "unsupported-media-type", "message": message}, 415)
    return Response(result.content, media_type=result.media_type, headers={"Vary": "Accept"})


def build_router() -> APIRouter:
    """The ``/sparql`` routes (GET and POST)."""
    r = APIRouter(tags=["SPARQL"])
    description = (
        "SPARQL 1.1 Protocol, read-only. The default graph is the newest release of every "
        "scheme plus the core model; GRAPH reaches every release."
    )

    @r.get("/sparql", summary="SPARQL query (GET ?query=)", description=description)
    async def sparql_get(request: Request) -> Response:
        return await _answer(request)

    @r.post("/sparql", summary="SPARQL query (POST)", description=description)
    async def sparql_post(request: Request) -> Response:
        return await _answer(request)

    return r
