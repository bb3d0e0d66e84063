"""``/api/curation/...``: change records, review, releases, users and the audit log over HTTP.

Credentials: ``Authorization: Bearer <token>`` (scripts), or a session cookie from
``POST /api/curation/session`` plus the ``X-CSRF-Token`` header on every unsafe request (the web
UI). Edits name the version they change with ``If-Match`` (the ETag of the change, or of the
target for a new change to something that exists): 428 without it, 412 with the current record
when someone else got there first. Errors are ``{"error", "message", "where"}`` like all of /api.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header, Query, Request, Response
from fastapi import Path as FastAPIPath
from fastapi.routing import APIRoute
from pydantic import BaseModel, Field

from termserver.api.responses import JsonResponse
from termserver.curation.auth import AuthError, Forbidden, User, UserError
from termserver.curation.changes import KINDS, STATUSES, Change, ChangeError, StateError
from termserver.curation.releases import ReleaseError, ReleaseInfo
from termserver.curation.service import (
    Curation,
    NotFound,
    PreconditionRequired,
    PublishBlocked,
    TargetState,
    VersionConflict,
)
from termserver.curation.store import StoreError
from termserver.errors import TermserverError

SESSION_COOKIE = "ts_session"
CSRF_HEADER = "X-CSRF-Token"
_SAFE = frozenset({"GET", "HEAD", "OPTIONS"})
#: Security events (refused credentials, CSRF, roles): never a token, only who and what.
security_log = logging.getLogger("termserver.security")
ChangeKind = Literal[tuple(KINDS)]  # type: ignore[valid-type]
ChangeStatus = Literal[STATUSES]  # type: ignore[valid-type]

# Ids and offsets reach the database as 64-bit integers: a larger number is simply not found
# (422 from validation), never an overflow in the driver.
MAX_ID = 2**63 - 1
MAX_OFFSET = 10_000_000
ChangeId = Annotated[int, FastAPIPath(ge=1, le=MAX_ID)]


# --- models at the edge ------------------------------------------------------------------------


class ChangeIn(BaseModel):
    """A new change: its kind, what it changes (``payload``) and why."""

    kind: ChangeKind = Field(description="Ændringstypen, fx concept.label eller mapping.add.")
    payload: dict[str, Any] = Field(
        description="Felterne for typen, fx {scheme, code, label} for concept.label."
    )
    reason: str = Field(description="Begrundelsen (for mapninger: justifikationen).")


class ChangePatch(BaseModel):
    """New payload and/or reason for a draft."""

    payload: dict[str, Any] | None = None
    reason: str | None = None


class Decision(BaseModel):
    """An approver's note on a decision."""

    note: str | None = Field(default=None, max_length=4000)


class CommentIn(BaseModel):
    """A comment on a change."""

    body: str = Field(max_length=4000)


class CommentOut(BaseModel):
    id: int
    author: str
    body: str
    created_at: str


class ChangeOut(BaseModel):
    """A change record."""

    id: int
    kind: str
    target: str
    field: str
    payload: dict[str, Any]
    reason: str
    status: str
    author: str
    created_at: str
    updated_at: str
    proposed_at: str | None
    decided_by: str | None
    decided_at: str | None
    decision_note: str | None
    conflicts: list[int]
    release: str | None
    version: int
    etag: str
    comments: list[CommentOut] | None = None


class TargetOut(BaseModel):
    """A change target now: its value in the current release and the open changes on it."""

    key: str
    current: dict[str, Any] | None
    open_changes: list[ChangeOut]
    etag: str


class ReleaseOut(BaseModel):
    """A release's manifest (and, for one release, its changelog)."""

    number: int
    name: str
    parent: str | None
    created_at: str
    created_by: str
    current: bool
    changes: list[dict[str, Any]]
    scheme_versions: dict[str, str]
    changelog: str | None = None


class UserIn(BaseModel):
    name: str = Field(max_length=64)
    role: Literal["reader", "editor", "approver", "admin"]


class UserPatch(BaseModel):
    role: Literal["reader", "editor", "approver", "admin"] | None = None
    disabled: bool | None = None


class UserOut(BaseModel):
    name: str
    role: str
    created_at: str
    disabled: bool


class TokenOut(BaseModel):
    """A new API token; shown this once, only its hash is kept."""

    user: str
    token: str


class TokenInfoOut(BaseModel):
    """An API token as kept: its id (to revoke it), label and dates; never the token."""

    id: int
    label: str | None
    created_at: str
    revoked_at: str | None


class SessionOut(BaseModel):
    """A browser session: send ``csrf_token`` as X-CSRF-Token on every unsafe request."""

    user: str
    role: str
    csrf_token: str
    expires_at: str


class AuditOut(BaseModel):
    id: int
    at: str
    actor: str
    action: str
    object_type: str
    object_id: str
    client: str | None
    detail: dict[str, Any]


# --- errors ------------------------------------------------------------------------------------


def _error(status: int, code: str, message: str, where: str | None = None, **extra: Any):
    return JsonResponse(
        {"error": code, "message": message, "where": where, **extra}, status_code=status
    )


def _error_response(exc: TermserverError):
    if isinstance(exc, AuthError):
        resp = _error(401, "unauthorized", str(exc), "Authorization")
        resp.headers["WWW-Authenticate"] = "Bearer"
        return resp
    if isinstance(exc, Forbidden):
        return _error(403, "forbidden", str(exc))
    if isinstance(exc, NotFound | ReleaseError):
        return _error(404, "not-found", str(exc))
    if isinstance(exc, PreconditionRequired):
        return _error(428, "precondition-required", str(exc), "If-Match")
    if isinstance(exc, VersionConflict):
        current = exc.current
        body = _target_out(current) if isinstance(current, TargetState) else _change_out(current)
        resp = _error(
            412, "precondition-failed", str(exc), "If-Match", current_etag=exc.etag,
            current=body.model_dump(),
        )  # fmt: skip
        resp.headers["ETag"] = exc.etag
        return resp
    if isinstance(exc, ChangeError):
        first = exc.problems[0]
        problems = [{"where": p.where, "message": p.message} for p in exc.problems]
        return _error(422, "invalid-change", str(exc), first.where, problems=problems)
    if isinstance(exc, StateError | PublishBlocked):
        return _error(409, "conflict", str(exc))
    if isinstance(exc, UserError):
        return _error(409 if "findes allerede" in str(exc) else 400, "invalid-user", str(exc))
    if isinstance(exc, NotConfigured):
        return _error(503, "not-configured", str(exc))
    if isinstance(exc, StoreError):
        # The driver's text can name the host, the account or the SQL: the log keeps it.
        logging.getLogger("termserver.curation").error("curation database error: %s", exc)
        return _error(503, "storage", "databasen svarer ikke; prøv igen om lidt")
    return _error(400, "invalid", str(exc))


class CurationRoute(APIRoute):
    """Turns the engine's errors into /api error objects with the right status."""

    def get_route_handler(self) -> Callable:
        handler = super().get_route_handler()

        async def guarded(request: Request):
            try:
                return await handler(request)
            except TermserverError as exc:
                if isinstance(exc, AuthError | Forbidden):
                    security_log.warning(
                        "refused %s %s from %s: %s",
                        request.method, request.url.path, client_of(request), exc,
                    )  # fmt: skip
                return _error_response(exc)

        return guarded


# --- dependencies ------------------------------------------------------------------------------


def curation(request: Request) -> Curation:
    """The engine, or 503 when the server runs without a data directory."""
    cur = getattr(request.app.state, "curation", None)
    if cur is None:
        raise NotConfigured()
    return cur


CurDep = Annotated[Curation, Depends(curation)]


class NotConfigured(TermserverError):
    def __init__(self) -> None:
        super().__init__(
            "kuratering er ikke slået til: start serveren med --data-dir (eller $TERMSERVER_DATA)"
        )


def current_user(request: Request, cur: CurDep) -> User | None:
    """Who is calling: a bearer token, a session cookie (CSRF-checked), or nobody."""
    header = request.headers.get("authorization")
    if header:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise AuthError("Authorization skal være 'Bearer <token>'")
        user = cur.authenticate(token.strip())
        if user is None:
            raise AuthError("ukendt eller tilbagekaldt token")
        return user
    session = request.cookies.get(SESSION_COOKIE)
    if session:
        return cur.session_user(
            session, request.headers.get(CSRF_HEADER), unsafe=request.method not in _SAFE
        )
    return None


UserDep = Annotated[User | None, Depends(current_user)]


def reader(cur: CurDep, user: UserDep) -> User | None:
    """Reads are open unless the server says otherwise."""
    cur.can_read(user)
    return user


ReaderDep = Annotated[User | None, Depends(reader)]


def client_of(request: Request) -> str | None:
    """Where a request came from, for the audit log (the direct peer; no proxy headers are
    trusted, since any client could set them)."""
    return request.client.host if request.client else None


# --- serialisation -----------------------------------------------------------------------------


def _change_out(c: Change, comments: list | None = None) -> ChangeOut:
    return ChangeOut(
        id=c.id,
        kind=c.kind,
        target=c.target,
        field=c.field,
        payload=c.payload,
        reason=c.reason,
        status=c.status,
        author=c.author,
        created_at=c.created_at,
        updated_at=c.updated_at,
        proposed_at=c.proposed_at,
        decided_by=c.decided_by,
        decided_at=c.decided_at,
        decision_note=c.decision_note,
        conflicts=list(c.conflicts),
        release=c.release,
        version=c.version,
        etag=c.etag,
        comments=None
        if comments is None
        else [CommentOut(id=x.id, author=x.author, body=x.body, created_at=x.created_at)
              for x in comments],
    )  # fmt: skip


def _target_out(t: TargetState) -> TargetOut:
    return TargetOut(
        key=t.key,
        current=t.current,
        open_changes=[_change_out(c) for c in t.open_changes],
        etag=t.etag,
    )


def _release_out(info: ReleaseInfo, current: str, changelog: bool = False) -> ReleaseOut:
    text = None
    if changelog:
        path = info.path / "changelog.md"
        text = path.read_text("utf-8") if path.is_file() else None
    return ReleaseOut(
        number=info.number,
        name=info.name,
        parent=info.parent,
        created_at=info.created_at,
        created_by=info.created_by,
        current=info.name == current,
        changes=list(info.changes),
        scheme_versions=info.scheme_versions,
        changelog=text,
    )


def _user_out(u: User) -> UserOut:
    return UserOut(name=u.name, role=u.role, created_at=u.created_at, disabled=u.disabled)


def _with_etag(response: Response, etag: str) -> None:
    response.headers["ETag"] = etag


# --- the router --------------------------------------------------------------------------------


def build_router() -> APIRouter:
    """The curation API."""
    r = APIRouter(prefix="/api/curation", tags=["curation"], route_class=CurationRoute)

    @r.get("/changes", response_model=list[ChangeOut], summary="Ændringer, nyeste først")
    def list_changes(
        *,
        status: ChangeStatus | None = None,
        target: str | None = Query(default=None, max_length=500),
        author: str | None = Query(default=None, max_length=64),
        limit: int = Query(default=100, ge=1, le=1000),
        offset: int = Query(default=0, ge=0, le=MAX_OFFSET),
        cur: CurDep,
        _: ReaderDep,
    ):
        found = cur.changes(status=status, target=target, author=author, limit=limit, offset=offset)
        return [_change_out(c) for c in found]

    @r.post(
        "/changes", status_code=201, response_model=ChangeOut, summary="Opret en ændring (kladde)"
    )
    def create_change(
        *,
        body: ChangeIn,
        request: Request,
        response: Response,
        if_match: str | None = Header(default=None),
        cur: CurDep,
        user: UserDep,
    ):
        c = cur.create_change(
            user, body.kind, body.payload, body.reason, if_match=if_match,
            client=client_of(request),
        )  # fmt: skip
        _with_etag(response, c.etag)
        response.headers["Location"] = f"/api/curation/changes/{c.id}"
        return _change_out(c)

    @r.get("/changes/{change_id}", response_model=ChangeOut, summary="Én ændring med kommentarer")
    def get_change(
        *,
        change_id: ChangeId,
        response: Response,
        cur: CurDep,
        _: ReaderDep,
    ):
        c = cur.change(change_id)
        _with_etag(response, c.etag)
        return _change_out(c, cur.comments(change_id))

    @r.patch("/changes/{change_id}", response_model=ChangeOut, summary="Ret en kladde")
    def patch_change(
        *,
        change_id: ChangeId,
        body: ChangePatch,
        request: Request,
        response: Response,
        if_match: str | None = Header(default=None),
        cur: CurDep,
        user: UserDep,
    ):
        c = cur.edit_change(
            user, change_id, if_match, payload=body.payload, reason=body.reason,
            client=client_of(request),
        )  # fmt: skip
        _with_etag(response, c.etag)
        return _change_out(c)

    def transition(name: str, summary: str, with_note: bool) -> None:
        def endpoint(
            *,
            change_id: ChangeId,
            request: Request,
            response: Response,
            body: Decision | None = None,
            if_match: str | None = Header(default=None),
            cur: CurDep,
            user: UserDep,
        ):
            client = client_of(request)
            if with_note:
                note = body.note if body else None
                c = getattr(cur, name)(user, change_id, if_match, note, client)
            else:
                c = getattr(cur, name)(user, change_id, if_match, client)
            _with_etag(response, c.etag)
            return _change_out(c)

        r.add_api_route(
            f"/changes/{{change_id}}/{name}",
            endpoint,
            methods=["POST"],
            response_model=ChangeOut,
            summary=summary,
            name=f"change_{name}",
        )

    transition("propose", "Send til godkendelse (tjekkes mod den gældende udgivelse)", False)
    transition("withdraw", "Træk et forslag tilbage til kladde", False)
    transition("approve", "Godkend (godkenderen er aldrig forfatteren)", True)
    transition("reject", "Afvis", True)

    @r.post(
        "/changes/{change_id}/comments",
        status_code=201,
        response_model=CommentOut,
        summary="Kommentér en ændring",
    )
    def add_comment(
        *,
        change_id: ChangeId,
        body: CommentIn,
        request: Request,
        cur: CurDep,
        user: UserDep,
    ):
        c = cur.comment(user, change_id, body.body, client_of(request))
        return CommentOut(id=c.id, author=c.author, body=c.body, created_at=c.created_at)

    @r.get("/targets", response_model=TargetOut, summary="Et mål nu, med ETag til If-Match")
    def get_target(
        *,
        response: Response,
        key: str = Query(max_length=1000, description="fx concept:ffb/<kode>"),
        cur: CurDep,
        _: ReaderDep,
    ):
        t = cur.target(key)
        _with_etag(response, t.etag)
        return _target_out(t)

    @r.get(
        "/concepts/{scheme}/{code}",
        response_model=TargetOut,
        summary="Et begreb nu og de åbne ændringer på det, med ETag til If-Match",
    )
    def get_concept(
        *,
        scheme: str,
        code: str,
        response: Response,
        cur: CurDep,
        _: ReaderDep,
    ):
        t = cur.target(f"concept:{scheme}/{code}")
        if t.current is None:
            raise NotFound(f"ukendt begreb {scheme}/{code}")
        _with_etag(response, t.etag)
        return _target_out(t)

    @r.get("/releases", response_model=list[ReleaseOut], summary="Alle udgivelser, ældste først")
    def list_releases(cur: CurDep, _: ReaderDep):
        current = cur.data.current_name()
        return [_release_out(i, current) for i in cur.releases()]

    @r.get("/releases/{name}", response_model=ReleaseOut, summary="Én udgivelse med ændringslog")
    def get_release(name: str, cur: CurDep, _: ReaderDep):
        return _release_out(cur.release(name), cur.data.current_name(), changelog=True)

    @r.get("/releases/{name}/diff", summary="Klassificeret diff mod den forrige udgivelse")
    def release_diff(*, name: str, cur: CurDep, _: ReaderDep):
        from termserver.curation.releases import release_diff as make_diff

        info = cur.release(name)
        if info.parent is None:
            raise NotFound(f"{info.name} er den første udgivelse og har ingen forgænger")
        before = cur.release_snapshot(info.parent)
        after = cur.release_snapshot(info.name)
        return make_diff(before, after, info.parent, info.name).to_dict()

    @r.get(
        "/releases/{name}/concepts/{scheme}/{code}",
        summary="Et begreb som det stod i en bestemt udgivelse",
    )
    def release_concept(
        *,
        name: str,
        scheme: str,
        code: str,
        cur: CurDep,
        _: ReaderDep,
    ):
        from termserver.curation.service import target_value

        snap = cur.release_snapshot(name)
        value = target_value(snap, f"concept:{scheme}/{code}")
        if value is None:
            raise NotFound(f"{scheme}/{code} findes ikke i {name}")
        return {"release": snap.release, **value}

    @r.post(
        "/releases",
        status_code=201,
        response_model=ReleaseOut,
        summary="Udgiv alle godkendte ændringer som en ny udgivelse",
    )
    def publish(
        *,
        request: Request,
        cur: CurDep,
        user: UserDep,
    ):
        info = cur.publish(user, client_of(request))
        return _release_out(info, cur.data.current_name(), changelog=True)

    @r.get("/audit", response_model=list[AuditOut], summary="Revisionsloggen (godkender/admin)")
    def get_audit(
        *,
        actor: str | None = Query(default=None, max_length=64),
        action: str | None = Query(default=None, max_length=64),
        object_type: str | None = Query(default=None, max_length=32),
        object_id: str | None = Query(default=None, max_length=500),
        since: str | None = Query(default=None, max_length=40, description="ISO-tid eller dato"),
        until: str | None = Query(default=None, max_length=40, description="ISO-tid, eksklusiv"),
        limit: int = Query(default=100, ge=1, le=1000),
        offset: int = Query(default=0, ge=0, le=MAX_OFFSET),
        cur: CurDep,
        user: UserDep,
    ):
        from termserver.curation.auth import require

        entries = cur.audit(
            require(user, "approver"), actor=actor, action=action, object_type=object_type,
            object_id=object_id, since=since, until=until, limit=limit, offset=offset,
        )  # fmt: skip
        return [AuditOut(**e.__dict__) for e in entries]

    @r.get("/me", response_model=UserOut, summary="Hvem er jeg")
    def me(user: UserDep):
        if user is None:
            raise AuthError("ikke logget ind")
        return _user_out(user)

    @r.get("/users", response_model=list[UserOut], summary="Brugere (admin)")
    def users(cur: CurDep, user: UserDep):
        from termserver.curation.auth import require

        return [_user_out(u) for u in cur.users(require(user, "admin"))]

    @r.post("/users", status_code=201, response_model=TokenOut, summary="Opret bruger (admin)")
    def add_user(
        *,
        body: UserIn,
        request: Request,
        cur: CurDep,
        user: UserDep,
    ):
        from termserver.curation.auth import require

        created, token = cur.add_user(
            require(user, "admin"), body.name, body.role, client_of(request)
        )
        return TokenOut(user=created.name, token=token)

    @r.patch("/users/{name}", response_model=UserOut, summary="Skift rolle eller deaktivér")
    def patch_user(
        *,
        name: str,
        body: UserPatch,
        request: Request,
        cur: CurDep,
        user: UserDep,
    ):
        from termserver.curation.auth import require

        updated = cur.update_user(
            require(user, "admin"), name, role=body.role, disabled=body.disabled,
            client=client_of(request),
        )  # fmt: skip
        return _user_out(updated)

    @r.post(
        "/users/{name}/tokens",
        status_code=201,
        response_model=TokenOut,
        summary="Nyt API-token (admin, eller brugeren selv)",
    )
    def new_token(
        *,
        name: str,
        request: Request,
        cur: CurDep,
        user: UserDep,
    ):
        from termserver.curation.auth import require

        # A browser session (at most 8 hours) must not mint itself a token that never expires.
        if user is not None and not request.headers.get("authorization"):
            raise AuthError("et nyt token kræver Authorization: Bearer <token>, ikke en session")
        token = cur.new_token(require(user, "reader"), name, client_of(request))
        return TokenOut(user=name, token=token)

    @r.get(
        "/users/{name}/tokens",
        response_model=list[TokenInfoOut],
        summary="En brugers API-tokens uden selve tokenet (admin, eller brugeren selv)",
    )
    def list_tokens(*, name: str, cur: CurDep, user: UserDep):
        from termserver.curation.auth import require

        return [
            TokenInfoOut(id=t.id, label=t.label, created_at=t.created_at, revoked_at=t.revoked_at)
            for t in cur.tokens(require(user, "reader"), name)
        ]

    @r.delete(
        "/users/{name}/tokens/{token_id}",
        status_code=204,
        summary="Tilbagekald ét API-token, fx et lækket (admin, eller brugeren selv)",
    )
    def revoke_token(
        *,
        name: str,
        token_id: Annotated[int, FastAPIPath(ge=1, le=MAX_ID)],
        request: Request,
        cur: CurDep,
        user: UserDep,
    ) -> Response:
        from termserver.curation.auth import require

        cur.revoke_token(require(user, "reader"), name, token_id, client_of(request))
        return Response(status_code=204)

    @r.post("/session", response_model=SessionOut, summary="Log en browser ind med et token")
    def start_session(
        *,
        request: Request,
        response: Response,
        cur: CurDep,
        user: UserDep,
    ):
        # Only a token starts a session: a session starting another would outlive its 8 hours.
        if user is None or not request.headers.get("authorization"):
            raise AuthError("log ind med Authorization: Bearer <token>")
        s = cur.start_session(user, client_of(request))
        response.set_cookie(
            SESSION_COOKIE,
            s.session_id,
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
            path="/",
        )
        return SessionOut(
            user=user.name, role=user.role, csrf_token=s.csrf_token, expires_at=s.expires_at
        )

    @r.delete("/session", status_code=204, summary="Log ud")
    def end_session(
        *,
        request: Request,
        cur: CurDep,
        user: UserDep,
    ):
        session = request.cookies.get(SESSION_COOKIE)
        if user is None or not session:
            raise AuthError("ingen session")
        cur.end_session(user, session, client_of(request))
        resp = Response(status_code=204)
        resp.delete_cookie(SESSION_COOKIE, path="/")
        return resp

    return r
