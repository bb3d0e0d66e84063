"""Signing a browser in for the curation pages, and the CSRF check every form post passes.

There are no passwords: a curator signs in once with their API token (``termserver user add``
prints it), which starts a session (:func:`termserver.curation.auth.start_session`). The session
cookie is the API's, so the same browser may also call ``/api/curation``. The database keeps only
the hash of the session's CSRF token, so the page keeps the token itself in a second HttpOnly
cookie and writes it into every form; a post is accepted only when the form's token matches the
session's hash. Another site can neither read that cookie nor (SameSite=Lax) send it with a post.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response

from termserver.api.curation_routes import SESSION_COOKIE
from termserver.curation.auth import AuthError, Forbidden, User
from termserver.curation.service import Curation

CSRF_COOKIE = "ts_csrf"
LOGIN_COOKIE = "ts_login"
SESSION_SECONDS = 8 * 3600


class CsrfRefused(Forbidden):
    """A form post without the session's CSRF token."""


@dataclass(frozen=True)
class WebUser:
    """The signed-in curator and the CSRF token their forms carry."""

    user: User
    csrf: str

    @property
    def name(self) -> str:
        return self.user.name

    @property
    def role(self) -> str:
        return self.user.role

    def can(self, role: str) -> bool:
        return self.user.can(role)


def curation_of(request: Request) -> Curation | None:
    """The curation engine, or None when the server runs without a data directory."""
    return getattr(request.app.state, "curation", None)


def web_user(request: Request, cur: Curation) -> WebUser | None:
    """Who is signed in (None if nobody, or the session has expired)."""
    sid = request.cookies.get(SESSION_COOKIE)
    csrf = request.cookies.get(CSRF_COOKIE, "")
    if not sid:
        return None
    try:
        user = cur.session_user(sid, None, unsafe=False)
    except AuthError:
        return None
    return WebUser(user, csrf)


def check_post(request: Request, cur: Curation, form_token: str | None) -> WebUser:
    """The user of a form post, after checking the form's CSRF token against the session."""
    sid = request.cookies.get(SESSION_COOKIE)
    if not sid:
        raise AuthError("du er ikke logget ind (eller sessionen er udløbet)")
    try:
        user = cur.session_user(sid, form_token or "", unsafe=True)
    except Forbidden:
        raise CsrfRefused(
            "Formularen mangler et gyldigt sikkerhedstoken (CSRF). Hent siden igen og prøv igen."
        ) from None
    return WebUser(user, form_token or "")


def _secure(request: Request) -> bool:
    return request.url.scheme == "https"


def set_session_cookies(request: Request, response: Response, session_id: str, csrf: str) -> None:
    """The session and CSRF cookies: HttpOnly, SameSite=Lax, Secure over https."""
    for name, value in ((SESSION_COOKIE, session_id), (CSRF_COOKIE, csrf)):
        response.set_cookie(
            name,
            value,
            max_age=SESSION_SECONDS,
            httponly=True,
            samesite="lax",
            secure=_secure(request),
            path="/",
        )


def clear_session_cookies(response: Response) -> None:
    """Forget the session in the browser."""
    for name in (SESSION_COOKIE, CSRF_COOKIE):
        response.delete_cookie(name, path="/")


def login_token(request: Request) -> str:
    """The token the sign-in form carries. There is no session yet to tie it to, so it is a
    double-submit cookie: the browser's own, or a fresh one for :func:`set_login_cookie`."""
    token = request.cookies.get(LOGIN_COOKIE) or ""
    return token if len(token) >= 20 else secrets.token_urlsafe(24)


def set_login_cookie(request: Request, response: Response, token: str) -> None:
    """Give the browser the sign-in form's token."""
    response.set_cookie(
        LOGIN_COOKIE,
        token,
        max_age=3600,
        httponly=True,
        samesite="lax",
        secure=_secure(request),
        path="/kuratering",
    )


def login_token_ok(request: Request, form_token: str | None) -> bool:
    """True if the sign-in form echoes the browser's sign-in cookie."""
    cookie = request.cookies.get(LOGIN_COOKIE) or ""
    return len(cookie) >= 20 and hmac.compare_digest(cookie, form_token or "")


def safe_next(target: str | None) -> str:
    """A local path to go to after signing in (never another site). Browsers drop tabs and
    newlines from a URL and read ``\\`` as ``/``, so ``/<tab>/evil.example`` in a link would be
    ``//evil.example``: a target with a control character or a backslash is refused."""
    if (
        target
        and target.startswith("/")
        and not target.startswith("//")
        and not any(ch < " " or ch in "\\\x7f" for ch in target)
    ):
        return target[:500]
    return "/kuratering"
