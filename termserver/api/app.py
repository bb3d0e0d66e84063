"""``create_app``: the FastAPI application, built around one snapshot holder."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.staticfiles import StaticFiles

from termserver import __version__
from termserver.api import (
    curation_routes,
    diff_routes,
    fhir_routes,
    iri_routes,
    json_routes,
    mapping_routes,
    observability,
    sparql_routes,
    validate_routes,
)
from termserver.api.limits import Limits
from termserver.api.responses import FhirResponse, JsonResponse
from termserver.api.security_headers import SecurityHeaders
from termserver.api.state import Snapshot, SnapshotHolder
from termserver.fhir.outcome import FhirError, operation_outcome
from termserver.fhir.xml import FhirXmlMiddleware
from termserver.settings import Settings
from termserver.web import routes as web_routes
from termserver.web.render import render


class ReleaseHeader:
    """Adds ``X-Termserver-Release`` to every response.

    A plain ASGI middleware: Starlette's ``@app.middleware("http")`` wraps each response in extra
    tasks and costs a large share of a sub-millisecond request (measured in bench_http.py).
    """

    def __init__(self, app, holder: SnapshotHolder) -> None:
        self.app = app
        self.holder = holder

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        release = self.holder.current.release.encode()

        async def send_with_header(message) -> None:
            if message["type"] == "http.response.start":
                headers = message.get("headers", [])
                message["headers"] = [*headers, (b"x-termserver-release", release)]
            await send(message)

        await self.app(scope, receive, send_with_header)


def create_app(snapshot: Snapshot, settings: Settings | None = None) -> FastAPI:
    """Build the app serving ``snapshot``; no global state, so tests can build as many as needed.

    ``settings`` (default: read from the environment now) give the limits the app enforces.
    """
    app = FastAPI(
        title="termserver",
        version=__version__,
        description=(
            "Terminologiserver for KL's Fælles Faglige Begreber (FFB): "
            "FHIR R4 terminologitjenester under /fhir og et enkelt JSON-API under /api."
        ),
        lifespan=sparql_routes.lifespan,
    )
    app.state.holder = SnapshotHolder(snapshot)
    app.state.settings = settings = settings or Settings.from_env()
    app.state.sparql = sparql_routes.create_engine(settings)
    app.state.metrics = metrics = observability.Metrics(app.state)
    # Before fhir_routes: its catch-all answers every other /fhir path.
    app.include_router(validate_routes.build_router())
    app.include_router(fhir_routes.build_router())
    app.include_router(json_routes.build_router())
    app.include_router(mapping_routes.build_router())
    app.include_router(iri_routes.build_router())
    app.include_router(sparql_routes.build_router())
    app.include_router(diff_routes.build_router())
    app.include_router(curation_routes.build_router())
    app.include_router(web_routes.build_router())
    # Last: probes are asked for seldom, and each router before a route costs every request.
    app.include_router(observability.build_router())
    app.mount("/static", StaticFiles(directory=web_routes.STATIC), name="static")

    app.add_middleware(Limits, settings=settings)
    app.add_middleware(ReleaseHeader, holder=app.state.holder)
    app.add_middleware(SecurityHeaders)
    app.add_middleware(FhirXmlMiddleware)
    # Outermost: counts and logs every answer, the limits' refusals included.
    app.add_middleware(observability.Observability, metrics=metrics)

    def is_fhir(request: Request) -> bool:
        return request.url.path.startswith("/fhir")

    def wants_html(request: Request) -> bool:
        # A person's browser on a mistyped address; API clients keep their JSON.
        path = request.url.path
        accept = request.headers.get("accept", "")
        return "text/html" in accept and not path.startswith(("/api", "/sparql", "/id"))

    @app.exception_handler(FhirError)
    async def fhir_error(request: Request, exc: FhirError):
        if is_fhir(request):
            # A 401 carries its challenge (WWW-Authenticate) on the error itself.
            headers = getattr(exc, "headers", None)
            return FhirResponse(exc.outcome(), status_code=exc.status, headers=headers)
        body = {"error": exc.code, "message": exc.diagnostics}
        if exc.expression:
            body["where"] = exc.expression
        return JsonResponse(body, status_code=exc.status)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError):
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()))
        msg = f"{where}: {first.get('msg', 'invalid request')}"
        if is_fhir(request):
            return FhirResponse(operation_outcome("error", "invalid", msg, where), status_code=400)
        return JsonResponse({"error": "invalid", "message": msg, "where": where}, status_code=400)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException):
        code = "not-found" if exc.status_code == 404 else "processing"
        if is_fhir(request):
            return FhirResponse(
                operation_outcome("error", code, str(exc.detail)), status_code=exc.status_code
            )
        if exc.status_code == 404 and wants_html(request):
            return render(request, "not_found.html", {"message": "Siden findes ikke."}, 404)
        return JsonResponse(
            {"error": code, "message": str(exc.detail)}, status_code=exc.status_code
        )

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception):
        # Never leak a stack trace; the log keeps the details.
        import logging

        logging.getLogger("termserver").exception("unhandled error on %s", request.url.path)
        if is_fhir(request):
            return FhirResponse(
                operation_outcome("fatal", "exception", "internal server error"), status_code=500
            )
        return JsonResponse(
            {"error": "exception", "message": "internal server error"}, status_code=500
        )

    return app
