"""Security headers on every response (OWASP ASVS V14.4): no sniffing, no framing, no referrer
leaks, and for the web pages a Content-Security-Policy that allows only our own files.

A plain ASGI middleware, like the others here: Starlette's ``@app.middleware("http")`` costs a
large share of a sub-millisecond request.
"""

from __future__ import annotations

COMMON = (
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
)
# The pages use no inline script or style (htmx is a file; its own indicator <style> is turned
# off in base.html), so 'self' is enough.
PAGE_POLICY = (
    b"default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    b"connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'self'; "
    b"object-src 'none'"
)
# FastAPI's /docs and /redoc load their viewer from a CDN; a policy would break them.
UNPOLICED = ("/docs", "/redoc")
# Answers that may hold a curator's data (or a freshly issued token) must never be stored by a
# browser or a shared cache (ASVS V8.2.1): every curation path, and any answer to a request that
# carries credentials, except the static files every page loads.
NO_STORE = (b"cache-control", b"no-store")
PRIVATE_PATHS = ("/kuratering", "/api/curation")
SESSION_COOKIE = b"ts_session="  # termserver.api.curation_routes.SESSION_COOKIE


def _private(scope) -> bool:
    path = scope["path"]
    if path.startswith(PRIVATE_PATHS):
        return True
    if path.startswith("/static/"):
        return False
    return any(
        name == b"authorization" or (name == b"cookie" and SESSION_COOKIE in value)
        for name, value in scope["headers"]
    )


class SecurityHeaders:
    """Adds :data:`COMMON` to every HTTP response and the CSP to HTML ones."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        police = not scope["path"].startswith(UNPOLICED)
        private = _private(scope)

        async def send_with_headers(message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.extend(COMMON)
                if private:
                    headers = [(k, v) for k, v in headers if k != b"cache-control"]
                    headers.append(NO_STORE)
                if police and any(
                    k == b"content-type" and v.startswith(b"text/html") for k, v in headers
                ):
                    headers.append((b"content-security-policy", PAGE_POLICY))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)
