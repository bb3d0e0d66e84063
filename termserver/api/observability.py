"""Seeing inside a running server: probes, Prometheus metrics, request ids and JSON logs.

``/healthz`` says the process answers; ``/readyz`` says it has a snapshot to serve and, when
curation is switched on, that its database answers. ``/metrics`` is the Prometheus text format.
:class:`Observability` is a plain ASGI middleware (Starlette's ``@app.middleware("http")`` costs
a large share of a sub-millisecond request, bench/RESULTS.md): it gives every request an id
(the client's ``X-Request-Id`` when it is sane), echoes it in the response, counts the request
by route template and status, times it, and writes one JSON access-log line.
"""

from __future__ import annotations

import contextvars
import json
import logging
import os
import re
import time
from typing import Any

from fastapi import APIRouter, Request
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily, InfoMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.registry import Collector
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from termserver.api.responses import JsonResponse

REQUEST_ID_HEADER = b"x-request-id"
# Letters, digits and the punctuation ids are made of (UUIDs, ULIDs, trace ids); anything else
# could forge a log line or a header, so it is replaced rather than echoed.
_SANE_ID = re.compile(rb"[A-Za-z0-9._:@-]{1,128}")
#: The route label of a request no route matched: one series, however many paths are probed.
UNMATCHED = "unmatched"
#: Latency buckets in seconds: most answers take well under a millisecond to a few.
BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
#: Curation change states that wait for someone: review (proposed) and publishing (approved).
QUEUE_STATES = ("proposed", "approved")

request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "termserver_request_id", default=None
)
access_log = logging.getLogger("termserver.access")
log = logging.getLogger("termserver")


# --- metrics ------------------------------------------------------------------------------------


class _StateCollector(Collector):
    """Metrics read from the app at scrape time: the release served and the curation queue."""

    def __init__(self, state: Any) -> None:
        self.state = state

    def collect(self):
        release = InfoMetricFamily(
            "termserver_release", "The content release this process serves.", labels=()
        )
        release.add_metric((), {"release": self.state.holder.current.release})
        yield release
        cur = getattr(self.state, "curation", None)
        if cur is None:
            return
        queue = GaugeMetricFamily(
            "termserver_curation_queue",
            "Curation changes waiting: proposed (for review) and approved (for publishing).",
            labels=["status"],
        )
        try:
            counts = curation_queue(cur)
        except Exception:
            # A scrape must not fail with the database; /readyz reports that.
            log.warning("curation queue size unavailable", exc_info=True)
            return
        for status in QUEUE_STATES:
            queue.add_metric([status], counts.get(status, 0))
        yield queue


def curation_queue(cur: Any) -> dict[str, int]:
    """How many changes wait in each of :data:`QUEUE_STATES`."""
    marks = ", ".join("?" for _ in QUEUE_STATES)
    with cur.store.transaction() as tx:
        rows = tx.all(
            f"SELECT status, COUNT(*) AS n FROM changes WHERE status IN ({marks}) GROUP BY status",
            QUEUE_STATES,
        )
    return {row["status"]: int(row["n"]) for row in rows}


class Metrics:
    """The app's own registry, so several apps in one process (tests) never share counters."""

    def __init__(self, state: Any) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "termserver_http_requests",
            "HTTP requests answered, by method, route template and status code.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "termserver_http_request_duration_seconds",
            "Time from receiving a request to sending the end of its answer.",
            ["method", "route"],
            buckets=BUCKETS,
            registry=self.registry,
        )
        self.in_progress = Gauge(
            "termserver_http_requests_in_progress",
            "Requests being answered now.",
            registry=self.registry,
        )
        self.registry.register(_StateCollector(state))
        # Label lookups take a lock and build a tuple; the same few series repeat, so keep them.
        self._counters: dict[tuple[str, str, int], Any] = {}
        self._histograms: dict[tuple[str, str], Any] = {}

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        """Count one answered request and its duration."""
        key = (method, route, status)
        counter = self._counters.get(key)
        if counter is None:
            counter = self._counters[key] = self.requests.labels(method, route, str(status))
        counter.inc()
        hkey = (method, route)
        hist = self._histograms.get(hkey)
        if hist is None:
            hist = self._histograms[hkey] = self.latency.labels(method, route)
        hist.observe(seconds)

    def exposition(self) -> bytes:
        """The Prometheus text format of every metric."""
        return generate_latest(self.registry)


# --- the middleware -----------------------------------------------------------------------------


def request_id_from(headers: list[tuple[bytes, bytes]]) -> str:
    """The client's ``X-Request-Id`` when it is sane, else a fresh one."""
    for name, value in headers:
        if name == REQUEST_ID_HEADER:
            if _SANE_ID.fullmatch(value):
                return value.decode("ascii")
            break
    # 128 random bits as 32 hex digits, like uuid4().hex at a fifth of its cost.
    return os.urandom(16).hex()


def client_address(scope: dict) -> str | None:
    """The direct peer's address (the limits module decides about proxies)."""
    client = scope.get("client")
    return client[0] if client else None


class Observability:
    """Request id, metrics and access log for every HTTP request."""

    def __init__(self, app, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        rid = request_id_from(scope["headers"])
        token = request_id_var.set(rid)
        rid_header = (REQUEST_ID_HEADER, rid.encode("ascii"))
        status = 500

        async def send_with_id(message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), rid_header]
            await send(message)

        metrics = self.metrics
        metrics.in_progress.inc()
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            metrics.in_progress.dec()
            route = scope.get("route")
            template = getattr(route, "path", None) or UNMATCHED
            metrics.observe(scope["method"], template, status, elapsed)
            if access_log.isEnabledFor(logging.INFO):
                access_log.info(
                    "%s %s %d",
                    scope["method"],
                    scope["path"],
                    status,
                    extra={
                        "http": {
                            "method": scope["method"],
                            "path": scope["path"],
                            "route": template,
                            "status": status,
                            "duration_ms": round(elapsed * 1000, 3),
                            "client": client_address(scope),
                        }
                    },
                )
            request_id_var.reset(token)


# --- probes and the metrics endpoint ------------------------------------------------------------


def check_database(cur: Any) -> None:
    """Raise unless the curation database answers a trivial query."""
    with cur.store.transaction() as tx:
        tx.one("SELECT 1 AS ok")


def build_router() -> APIRouter:
    """``/healthz``, ``/readyz`` and ``/metrics``."""
    router = APIRouter(tags=["Operations"])

    @router.get("/healthz", summary="Liveness: the process answers")
    async def healthz() -> JsonResponse:
        return JsonResponse({"status": "ok"})

    @router.get("/readyz", summary="Readiness: a snapshot is loaded and the database answers")
    async def readyz(request: Request) -> JsonResponse:
        state = request.app.state
        snap = state.holder.current
        checks: dict[str, str] = {}
        ready = True
        if snap is not None and snap.vocab.systems():
            checks["snapshot"] = "ok"
        else:
            checks["snapshot"] = "no content loaded"
            ready = False
        cur = getattr(state, "curation", None)
        if cur is not None:
            try:
                await run_in_threadpool(check_database, cur)
                checks["database"] = "ok"
            except Exception as exc:
                log.warning("readiness: the curation database does not answer: %s", exc)
                checks["database"] = "unreachable"
                ready = False
        body = {
            "status": "ready" if ready else "unavailable",
            "release": snap.release if snap is not None else None,
            "checks": checks,
        }
        return JsonResponse(body, status_code=200 if ready else 503)

    @router.get("/metrics", summary="Prometheus metrics (text exposition format)")
    async def metrics(request: Request) -> Response:
        # Collecting may query the curation database: keep it off the event loop.
        body = await run_in_threadpool(request.app.state.metrics.exposition)
        return Response(body, media_type=CONTENT_TYPE_LATEST)

    return router


# --- logs ---------------------------------------------------------------------------------------


class RequestIdFilter(logging.Filter):
    """Stamps each record with the id of the request it was logged for (if any)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request id and extra fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        rid = getattr(record, "request_id", None) or request_id_var.get()
        if rid:
            entry["request_id"] = rid
        http = getattr(record, "http", None)
        if http:
            entry["http"] = http
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


JsonFormatter.converter = time.gmtime


def log_config(level: str = "info", fmt: str = "json") -> dict[str, Any]:
    """A :func:`logging.config.dictConfig` for the server and uvicorn (``uvicorn.run``'s
    ``log_config``).

    ``fmt`` is ``json`` (one object a line, for a log collector) or ``text`` (for a terminal).
    """
    level = level.upper()
    formatter = (
        {"()": f"{__name__}.JsonFormatter"}
        if fmt == "json"
        else {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"}
    )
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"request_id": {"()": f"{__name__}.RequestIdFilter"}},
        "formatters": {"default": formatter},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "stream": "ext://sys.stderr",
                "formatter": "default",
                "filters": ["request_id"],
            }
        },
        "loggers": {
            "termserver": {"handlers": ["stderr"], "level": level, "propagate": False},
            "uvicorn": {"handlers": ["stderr"], "level": level, "propagate": False},
            "uvicorn.error": {"level": level},
            # Our access log carries the request id and route; uvicorn's would repeat it.
            "uvicorn.access": {"handlers": [], "level": "WARNING", "propagate": False},
        },
    }
