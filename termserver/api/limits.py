"""Request limits enforced before a route runs: body size and per-client request rate.

A plain ASGI middleware like :class:`termserver.api.app.ReleaseHeader`. A body larger than
``Settings.max_body_bytes`` is refused with 413: at once when ``Content-Length`` says so, else as
soon as the streamed body passes the cap, so an oversized body is never held whole. A client
over its rate gets 429 with ``Retry-After``. Under ``/fhir`` the answer is an OperationOutcome,
elsewhere the JSON error the rest of the API uses.
"""

from __future__ import annotations

import ipaddress
import math
import time

import orjson

from termserver import settings as settings_module
from termserver.fhir.outcome import FhirError, operation_outcome
from termserver.settings import Settings

#: Probes and scrapes come from the load balancer and Prometheus, often; never throttle them.
UNLIMITED_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
#: Clients remembered at most; beyond it, the ones with a full bucket (idle) are forgotten.
MAX_TRACKED_CLIENTS = 100_000
_BODYLESS = frozenset({"GET", "HEAD", "OPTIONS", "DELETE"})


class BodyTooLarge(FhirError):
    """The request body passed ``max_body_bytes`` while it streamed in."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, "too-costly", body_message(limit))


def body_message(limit: int) -> str:
    """The 413 message, in Danish and English."""
    return (
        f"forespørgslens indhold er større end {limit:,} bytes "
        f"(request body larger than {limit:,} bytes)"
    )


async def send_error(
    scope: dict,
    send,
    status: int,
    code: str,
    message: str,
    headers: tuple[tuple[bytes, bytes], ...] = (),
) -> None:
    """Answer ``status`` as an OperationOutcome under /fhir, else as the API's JSON error."""
    if scope["path"].startswith("/fhir"):
        body = orjson.dumps(operation_outcome("error", code, message))
        media = b"application/fhir+json"
    else:
        body = orjson.dumps({"error": code, "message": message})
        media = b"application/json"
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", media),
                (b"content-length", str(len(body)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class TokenBuckets:
    """One token bucket per client: ``rate`` tokens a second, holding at most ``burst``."""

    def __init__(self, rate: float, burst: int) -> None:
        self.rate = rate
        self.burst = float(burst)
        self._buckets: dict[str, list[float]] = {}

    def take(self, client: str, now: float | None = None) -> float:
        """Spend a token for ``client``: 0 when allowed, else the seconds until one is free."""
        now = time.monotonic() if now is None else now
        bucket = self._buckets.get(client)
        if bucket is None:
            if len(self._buckets) >= MAX_TRACKED_CLIENTS:
                self._forget_idle(now)
            bucket = self._buckets[client] = [self.burst, now]
        tokens = min(self.burst, bucket[0] + (now - bucket[1]) * self.rate)
        bucket[1] = now
        if tokens >= 1.0:
            bucket[0] = tokens - 1.0
            return 0.0
        bucket[0] = tokens
        return (1.0 - tokens) / self.rate

    def _forget_idle(self, now: float) -> None:
        full = [
            c for c, (tokens, last) in self._buckets.items()
            if tokens + (now - last) * self.rate >= self.burst
        ]  # fmt: skip
        for c in full:
            del self._buckets[c]
        if len(self._buckets) >= MAX_TRACKED_CLIENTS:
            # Everyone is busy (a flood of addresses): start over rather than grow without end.
            self._buckets.clear()


def client_of(scope: dict, headers: list[tuple[bytes, bytes]], trusted: tuple) -> str:
    """The client's address: the peer, or when the peer is a trusted proxy, the right-most
    ``X-Forwarded-For`` address that is not itself a trusted proxy."""
    peer = scope.get("client")
    address = peer[0] if peer else "unknown"
    if not trusted or not _is_trusted(address, trusted):
        return address
    forwarded = [v for n, v in headers if n == b"x-forwarded-for"]
    if not forwarded:
        return address
    hops = [h.strip() for h in b",".join(forwarded).decode("latin-1").split(",")]
    for hop in reversed(hops):
        try:
            ipaddress.ip_address(hop)
        except ValueError:
            # A proxy we trust wrote this list; a malformed entry means a client forged it.
            return address
        if not _is_trusted(hop, trusted):
            return hop
        address = hop
    return address


def _is_trusted(address: str, trusted: tuple) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in net for net in trusted)


class Limits:
    """Body size cap and per-client rate limit, as ``settings`` say."""

    def __init__(self, app, settings: Settings) -> None:
        self.app = app
        self.settings = settings
        self.max_body = settings.max_body_bytes
        self.trusted = settings.trusted_proxies
        self.buckets = (
            TokenBuckets(settings.rate_limit, settings.rate_burst) if settings.rate_limit else None
        )

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        token = settings_module.use(self.settings)
        try:
            await self._limited(scope, receive, send)
        finally:
            settings_module.reset(token)

    async def _limited(self, scope, receive, send) -> None:
        headers = scope["headers"]
        if self.buckets is not None and scope["path"] not in UNLIMITED_PATHS:
            wait = self.buckets.take(client_of(scope, headers, self.trusted))
            if wait:
                retry = str(max(1, math.ceil(wait)))
                await send_error(
                    scope,
                    send,
                    429,
                    "throttled",
                    f"for mange forespørgsler; prøv igen om {retry} s "
                    f"(too many requests; retry after {retry} s)",
                    ((b"retry-after", retry.encode()),),
                )
                return
        if scope["method"] in _BODYLESS and not _has_body(headers):
            await self.app(scope, receive, send)
            return
        for name, value in headers:
            if name == b"content-length":
                if not value.isdigit():
                    await send_error(scope, send, 400, "invalid", "malformed Content-Length")
                    return
                if int(value) > self.max_body:
                    await send_error(scope, send, 413, "too-costly", body_message(self.max_body))
                    return
        limit = self.max_body
        received = 0

        async def counted_receive():
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        await self.app(scope, counted_receive, send)


def _has_body(headers: list[tuple[bytes, bytes]]) -> bool:
    return any(n in (b"content-length", b"transfer-encoding") for n, _ in headers)
