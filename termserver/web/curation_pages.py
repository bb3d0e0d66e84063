"""``/kuratering/...``: sign in, propose, review, publish, compare releases, audit log and QA.

Every page goes through :class:`termserver.curation.service.Curation`, the same façade the API
and the CLI use, so roles, four eyes, optimistic concurrency and the audit log apply unchanged.
Forms carry the ETag they were made from; a stale one gives a Danish conflict message with the
current value, and the user's text stays in the form. Every post checks the CSRF token.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.responses import HTMLResponse, RedirectResponse, Response

from termserver.curation.auth import ADMIN, APPROVER, EDITOR, AuthError, Forbidden
from termserver.curation.changes import PROPOSED, STATUSES, ChangeError
from termserver.curation.service import (
    Curation,
    NotFound,
    PreconditionRequired,
    VersionConflict,
)
from termserver.curation.store import StoreError
from termserver.errors import TermserverError, UnknownConceptError
from termserver.web.change_view import PROPOSAL_KINDS, diff_rows, target_link
from termserver.web.qa_view import SEVERITY_DA, cache_of
from termserver.web.render import CSRF_FIELD, ROLE_DA, render
from termserver.web.session import (
    CsrfRefused,
    WebUser,
    check_post,
    clear_session_cookies,
    curation_of,
    login_token,
    login_token_ok,
    safe_next,
    set_login_cookie,
    set_session_cookies,
    web_user,
)

MAX_FORM_FIELDS = 20
MAX_FIELD = 8000
PAGE = 50
AUDIT_PAGE = 100
_FORM_LIMITS = {"max_files": 0, "max_fields": MAX_FORM_FIELDS, "max_part_size": 64 * 1024}
#: Refused sign-ins, forged forms and refused roles (never a token): the API logs the same.
security_log = logging.getLogger("termserver.security")


class _Refused(Exception):
    """Ends a request with a ready response (sign-in redirect or an explanation page)."""

    def __init__(self, response: Response) -> None:
        self.response = response


def _page(request: Request, template: str, ctx: dict, status: int = 200) -> HTMLResponse:
    return render(request, template, ctx, status_code=status)


def _message(request: Request, title: str, message: str, status: int) -> HTMLResponse:
    return _page(request, "curation_message.html", {"title": title, "message": message}, status)


def _engine(request: Request) -> Curation:
    cur = curation_of(request)
    if cur is None:
        raise _Refused(
            _message(
                request,
                "Kuratering er ikke slået til",
                "Denne server kører uden datamappe, så ingen kan foreslå eller udgive ændringer "
                "her. Start serveren med »termserver serve --data-dir MAPPE« for at slå "
                "kuratering til; opret derefter brugere med »termserver user add NAVN --role "
                "editor«.",
                503,
            )
        )
    return cur


def _login_redirect(request: Request) -> Response:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    from urllib.parse import urlencode

    return RedirectResponse(f"/kuratering/log-ind?{urlencode({'naeste': target})}", 303)


def _viewer(request: Request, role: str = "reader") -> tuple[Curation, WebUser]:
    """The engine and the signed-in user with at least ``role`` (for GET pages)."""
    cur = _engine(request)
    who = web_user(request, cur)
    if who is None:
        raise _Refused(_login_redirect(request))
    request.state.web_user = who
    if not who.can(role):
        raise _Refused(_forbidden(request, who, role))
    return cur, who


def _forbidden(request: Request, who: WebUser, role: str) -> HTMLResponse:
    security_log.warning(
        "refused %s %s from %s: %s has role %s, needs %s",
        request.method, request.url.path, _client(request), who.name, who.role, role,
    )  # fmt: skip
    return _message(
        request,
        "Det har du ikke adgang til",
        f"Du ({who.name}) har rollen {ROLE_DA.get(who.role, who.role)}; det her kræver rollen "
        f"{ROLE_DA.get(role, role)} eller højere. Spørg en administrator.",
        403,
    )


async def _form(request: Request) -> FormData:
    try:
        return await request.form(**_FORM_LIMITS)
    except HTTPException:  # Starlette's answer to a malformed or oversized multipart body
        raise _Refused(
            _message(request, "Formularen kunne ikke læses", "Den var for stor eller ødelagt.", 400)
        ) from None


def _field(form: FormData, name: str) -> str:
    value = form.get(name)
    return value[:MAX_FIELD] if isinstance(value, str) else ""


async def _poster(request: Request, role: str) -> tuple[Curation, WebUser, FormData]:
    """The engine, the user (CSRF-checked, with at least ``role``) and the posted form."""
    cur = _engine(request)
    form = await _form(request)
    try:
        who = await run_in_threadpool(check_post, request, cur, _field(form, CSRF_FIELD))
    except CsrfRefused as exc:
        security_log.warning(
            "refused %s %s from %s: CSRF token missing or wrong",
            request.method, request.url.path, _client(request),
        )  # fmt: skip
        raise _Refused(_message(request, "Formularen blev afvist", str(exc), 403)) from None
    except AuthError:
        raise _Refused(_login_redirect(request)) from None
    request.state.web_user = who
    if not who.can(role):
        raise _Refused(_forbidden(request, who, role))
    return cur, who, form


def _client(request: Request) -> str | None:
    return request.client.host if request.client else None


def _storage_failed(request: Request, exc: StoreError) -> HTMLResponse:
    """The database failed: say so in Danish, keep the driver's text (host, account, SQL) in
    the log only."""
    logging.getLogger("termserver.curation").error(
        "curation database error on %s: %s", request.url.path, exc
    )
    return _message(
        request,
        "Databasen svarer ikke",
        "Handlingen blev ikke gennemført, fordi databasen ikke svarede. Prøv igen om lidt.",
        503,
    )


def _guard(handler):
    """Turn :class:`_Refused` into its response (keeps the handlers straight-line)."""
    import functools
    import inspect

    if inspect.iscoroutinefunction(handler):

        @functools.wraps(handler)
        async def run_async(*args, **kwargs):
            try:
                return await handler(*args, **kwargs)
            except _Refused as r:
                return r.response

        return run_async

    @functools.wraps(handler)
    def run(*args, **kwargs):
        try:
            return handler(*args, **kwargs)
        except _Refused as r:
            return r.response

    return run


def _int(text: str, default: int = 0) -> int:
    try:
        return max(int(text), 0)
    except ValueError:
        return default


def _concept_or_404(request: Request, cur: Curation, scheme: str, code: str):
    vocab = cur.snapshot().vocab
    try:
        system = vocab.system_of(scheme)
    except UnknownConceptError:
        system = None
    c = vocab.get(system, code) if system else None
    if c is None:
        raise _Refused(
            _message(request, "Ikke fundet", f"Begrebet {scheme}/{code} findes ikke.", 404)
        )
    return c


def _mapping_sets_for(cur: Curation, c) -> list:
    return [
        ms
        for ms in cur.snapshot().translator.mapping_sets
        if c.system in (ms.subject_system, ms.object_system)
    ]


def _payload(kind: str, c, form: FormData, sets: list) -> dict[str, Any]:
    """The change payload from the proposal form (the engine checks its shape)."""
    base = {"scheme": c.scheme, "code": c.code}
    if kind == "concept.definition":
        return {**base, "definition": _field(form, "definition")}
    if kind == "concept.label":
        return {**base, "label": _field(form, "label")}
    if kind == "concept.deprecate":
        codes = [x for x in _field(form, "replaced_by").replace(",", " ").split() if x]
        return {**base, "replaced_by": codes} if codes else base
    set_id = _field(form, "set")
    ms = next((m for m in sets if m.id == set_id), None)
    other = _field(form, "other").strip()
    here_is_subject = ms is not None and ms.subject_system == c.system
    payload: dict[str, Any] = {
        "set": set_id,
        "subject": c.code if here_is_subject else other,
        "object": other if here_is_subject else c.code,
        "predicate": _field(form, "predicate"),
    }
    confidence = _field(form, "confidence").strip().replace(",", ".")
    if confidence:
        try:
            payload["confidence"] = float(confidence)
        except ValueError:
            payload["confidence"] = confidence  # the engine names the field in its message
    if _field(form, "comment").strip():
        payload["comment"] = _field(form, "comment")
    return payload


def build_router() -> APIRouter:
    """The curation pages."""
    r = APIRouter(prefix="/kuratering", include_in_schema=False)

    # --- sign in and out -------------------------------------------------------------------------

    @r.get("/log-ind", response_class=HTMLResponse)
    @_guard
    def login_form(request: Request, naeste: str = "") -> Response:
        cur = _engine(request)
        who = web_user(request, cur)
        token = login_token(request)
        resp = _page(
            request,
            "login.html",
            {"login_token": token, "naeste": safe_next(naeste), "who": who, "error": None},
        )
        set_login_cookie(request, resp, token)
        return resp

    @r.post("/log-ind")
    @_guard
    async def login(request: Request) -> Response:
        cur = _engine(request)
        form = await _form(request)
        target = safe_next(_field(form, "naeste"))
        token = login_token(request)

        def again(message: str, status: int) -> Response:
            resp = _page(
                request,
                "login.html",
                {"login_token": token, "naeste": target, "who": None, "error": message},
                status,
            )
            set_login_cookie(request, resp, token)
            return resp

        if not login_token_ok(request, _field(form, CSRF_FIELD)):
            security_log.warning("sign-in refused from %s: form token", _client(request))
            return again("Formularen var forældet eller kom et andet sted fra; prøv igen.", 403)
        user = await run_in_threadpool(cur.authenticate, _field(form, "token").strip())
        if user is None:
            security_log.warning("sign-in refused from %s: unknown token", _client(request))
            return again("Ukendt eller tilbagekaldt token. Tjek at du har kopieret det helt.", 401)
        session = await run_in_threadpool(cur.start_session, user, _client(request))
        resp = RedirectResponse(target, 303)
        set_session_cookies(request, resp, session.session_id, session.csrf_token)
        return resp

    @r.post("/log-ud")
    @_guard
    async def logout(request: Request) -> Response:
        cur, who, _ = await _poster(request, "reader")
        from termserver.api.curation_routes import SESSION_COOKIE

        sid = request.cookies.get(SESSION_COOKIE, "")
        await run_in_threadpool(cur.end_session, who.user, sid, _client(request))
        resp = RedirectResponse("/kuratering/log-ind?ud=1", 303)
        clear_session_cookies(resp)
        return resp

    # --- proposals -------------------------------------------------------------------------------

    @r.get("", response_class=HTMLResponse)
    @_guard
    def overview(request: Request, status: str = PROPOSED, side: str = "1") -> Response:
        cur, who = _viewer(request)
        chosen = status if status in STATUSES else ""
        page = max(_int(side, 1), 1)
        found = cur.changes(status=chosen or None, limit=PAGE + 1, offset=PAGE * (page - 1))
        snap = cur.snapshot()
        rows = [{"c": c, "target": target_link(snap, c)} for c in found[:PAGE]]
        return _page(
            request,
            "curation_list.html",
            {
                "who": who,
                "rows": rows,
                "status": chosen,
                "statuses": STATUSES,
                "page": page,
                "has_next": len(found) > PAGE,
                "waiting": len(cur.changes(status="approved", limit=10_000)),
            },
        )

    def _proposal_ctx(cur, c, kind_key: str, values: dict, sets: list, state=None) -> dict:
        state = state or cur.target(f"concept:{c.scheme}/{c.code}")
        return {
            "c": c,
            "kinds": PROPOSAL_KINDS,
            "kind_key": kind_key,
            "values": values,
            "etag": state.etag,
            "current": state.current,
            "open_changes": state.open_changes,
            "sets": sets,
            "problems": [],
            "conflict": None,
        }

    @r.get("/foreslaa/{scheme}/{code}", response_class=HTMLResponse)
    @_guard
    def propose_form(request: Request, scheme: str, code: str, type: str = "definition"):
        cur, who = _viewer(request, EDITOR)
        c = _concept_or_404(request, cur, scheme, code)
        kind_key = type if type in PROPOSAL_KINDS else "definition"
        values = {"definition": c.definition or "", "label": c.display}
        ctx = _proposal_ctx(cur, c, kind_key, values, _mapping_sets_for(cur, c))
        return _page(request, "propose.html", {**ctx, "who": who})

    @r.post("/foreslaa/{scheme}/{code}", response_class=HTMLResponse)
    @_guard
    async def propose(request: Request, scheme: str, code: str) -> Response:
        cur, who, form = await _poster(request, EDITOR)
        c = _concept_or_404(request, cur, scheme, code)
        kind_key = _field(form, "type")
        if kind_key not in PROPOSAL_KINDS:
            kind_key = "definition"
        kind = PROPOSAL_KINDS[kind_key][0]
        sets = _mapping_sets_for(cur, c)
        values = {k: _field(form, k) for k in form if k != CSRF_FIELD}
        payload = _payload(kind, c, form, sets)
        reason = _field(form, "reason")
        etag = _field(form, "etag") or None
        if kind == "mapping.add":
            etag = None  # a new row has no earlier version to name

        def create():
            change = cur.create_change(
                who.user, kind, payload, reason, if_match=etag, client=_client(request)
            )
            return cur.propose(who.user, change.id, change.etag, _client(request))

        try:
            change = await run_in_threadpool(create)
        except VersionConflict as exc:
            ctx = _proposal_ctx(cur, c, kind_key, values, sets, exc.current)
            ctx["conflict"] = str(exc)
            return _page(request, "propose.html", {**ctx, "who": who}, 409)
        except StoreError as exc:
            return _storage_failed(request, exc)
        except (ChangeError, PreconditionRequired, TermserverError) as exc:
            ctx = _proposal_ctx(cur, c, kind_key, values, sets)
            ctx["etag"] = etag or ctx["etag"]  # keep what the user saw: a later submit checks it
            problems = getattr(exc, "problems", None)
            ctx["problems"] = [str(p) for p in problems] if problems else [str(exc)]
            return _page(request, "propose.html", {**ctx, "who": who}, 422)
        return RedirectResponse(f"/kuratering/forslag/{change.id}?sendt=1", 303)

    def _change_ctx(request: Request, cur: Curation, who: WebUser, change_id: int) -> dict:
        try:
            change = cur.change(change_id)
        except NotFound:
            return {}
        return {
            "who": who,
            "ch": change,
            "target": target_link(cur.snapshot(), change),
            "rows": diff_rows(
                cur, change, lambda name: cache_of(request.app).release_snapshot(cur, name)
            ),
            "comments": cur.comments(change_id),
            "is_author": change.author == who.name,
            "can_decide": who.can(APPROVER) and change.author != who.name,
            "can_edit": change.author == who.name or who.can(ADMIN),
            "note": "",
            "comment": "",
            "conflict": None,
            "error": None,
        }

    @r.get("/forslag/{change_id}", response_class=HTMLResponse)
    @_guard
    def proposal(request: Request, change_id: int, sendt: str = "") -> Response:
        cur, who = _viewer(request)
        ctx = _change_ctx(request, cur, who, change_id)
        if not ctx:
            return _message(request, "Ikke fundet", f"Ændring #{change_id} findes ikke.", 404)
        ctx["sent"] = bool(sendt)
        return _page(request, "proposal.html", ctx)

    async def _act(request: Request, change_id: int, action: str) -> Response:
        role = APPROVER if action in ("approve", "reject") else EDITOR
        cur, who, form = await _poster(request, role)
        etag = _field(form, "etag") or None
        note = _field(form, "note")
        client = _client(request)

        def run():
            if action in ("approve", "reject"):
                return getattr(cur, action)(who.user, change_id, etag, note or None, client)
            if action == "comment":
                return cur.comment(who.user, change_id, note, client)
            return getattr(cur, action)(who.user, change_id, etag, client)

        try:
            await run_in_threadpool(run)
        except StoreError as exc:
            return _storage_failed(request, exc)
        except (VersionConflict, Forbidden, TermserverError) as exc:
            ctx = _change_ctx(request, cur, who, change_id)
            if not ctx:
                return _message(request, "Ikke fundet", f"Ændring #{change_id} findes ikke.", 404)
            ctx["sent"] = False
            ctx["note" if action != "comment" else "comment"] = note
            if isinstance(exc, VersionConflict):
                ctx["conflict"] = (
                    "Nogen har ændret forslaget, mens du læste det. Siden viser det, som det er "
                    "nu; din tekst er bevaret nedenfor, så du kan sende den igen."
                )
                status = 409
            else:
                ctx["error"] = str(exc)
                status = 403 if isinstance(exc, Forbidden) else 409
            return _page(request, "proposal.html", ctx, status)
        return RedirectResponse(f"/kuratering/forslag/{change_id}", 303)

    for path, action in (
        ("godkend", "approve"),
        ("afvis", "reject"),
        ("send", "propose"),
        ("traek-tilbage", "withdraw"),
        ("kommentar", "comment"),
    ):

        def make(action=action):
            async def endpoint(request: Request, change_id: int) -> Response:
                try:
                    return await _act(request, change_id, action)
                except _Refused as refused:
                    return refused.response

            return endpoint

        r.add_api_route(f"/forslag/{{change_id}}/{path}", make(), methods=["POST"])

    # --- releases ------------------------------------------------------------------------------

    def _releases_ctx(cur: Curation, who: WebUser) -> dict:
        current = cur.data.current_name()
        snap = cur.snapshot()
        approved = [c for c in cur.changes(status="approved", limit=10_000) if c.release is None]
        return {
            "who": who,
            "releases": list(reversed(cur.releases())),
            "current": current,
            "approved": [{"c": c, "target": target_link(snap, c)} for c in approved],
            "can_publish": who.can(APPROVER),
            "error": None,
        }

    @r.get("/udgivelser", response_class=HTMLResponse)
    @_guard
    def releases(request: Request) -> Response:
        cur, who = _viewer(request)
        return _page(request, "releases.html", _releases_ctx(cur, who))

    @r.post("/udgivelser", response_class=HTMLResponse)
    @_guard
    async def publish(request: Request) -> Response:
        cur, who, _ = await _poster(request, APPROVER)
        try:
            info = await run_in_threadpool(cur.publish, who.user, _client(request))
        except StoreError as exc:
            return _storage_failed(request, exc)
        except TermserverError as exc:
            ctx = _releases_ctx(cur, who)
            ctx["error"] = str(exc)
            return _page(request, "releases.html", ctx, 409)
        from urllib.parse import urlencode

        query = urlencode({"fra": info.parent or "", "til": info.name, "udgivet": 1})
        return RedirectResponse(f"/kuratering/sammenlign?{query}", 303)

    @r.get("/sammenlign", response_class=HTMLResponse)
    @_guard
    async def compare(request: Request, fra: str = "", til: str = "", udgivet: str = ""):
        cur, who = _viewer(request)
        infos = cur.releases()
        names = [i.name for i in infos]
        til = til if til in names else (names[-1] if names else "")
        if fra not in names:
            after = next((i for i in infos if i.name == til), None)
            fra = after.parent if after is not None and after.parent else names[0]
        # Deferred for start-up time: termserver.diff loads at the first comparison.
        from termserver.diff import CLASS_TITLES_DA, CLASSES, MAPPING_TITLES_DA, changelog_markdown

        diff = markdown = None
        if fra and til and fra != til:
            from termserver.curation.releases import release_diff

            cache = cache_of(request.app)

            def make():
                before = cache.release_snapshot(cur, fra)
                return release_diff(before, cache.release_snapshot(cur, til), fra, til)

            diff = await run_in_threadpool(cache.diff, (fra, til), make)
            markdown = changelog_markdown(diff)
        return _page(
            request,
            "compare.html",
            {
                "who": who,
                "names": list(reversed(names)),
                "fra": fra,
                "til": til,
                "diff": diff,
                "markdown": markdown,
                "classes": CLASSES,
                "class_titles": CLASS_TITLES_DA,
                "mapping_titles": MAPPING_TITLES_DA,
                "published": bool(udgivet),
            },
        )

    # --- audit log and QA ------------------------------------------------------------------------

    @r.get("/log", response_class=HTMLResponse)
    @_guard
    def audit_log(
        request: Request,
        bruger: str = "",
        handling: str = "",
        objekt: str = "",
        fra: str = "",
        til: str = "",
        side: str = "1",
    ) -> Response:
        cur, who = _viewer(request, APPROVER)
        page = max(_int(side, 1), 1)
        kind, _, ident = objekt.strip().partition(":")
        filters = {
            "actor": bruger.strip()[:64] or None,
            "action": handling.strip()[:64] or None,
            "object_type": kind[:32] if ident else None,
            "object_id": (ident or kind)[:500] or None,
            "since": fra.strip()[:40] or None,
            "until": til.strip()[:40] or None,
        }
        entries = cur.audit(who.user, **filters, limit=AUDIT_PAGE + 1,
                            offset=AUDIT_PAGE * (page - 1))  # fmt: skip
        return _page(
            request,
            "audit.html",
            {
                "who": who,
                "entries": entries[:AUDIT_PAGE],
                "has_next": len(entries) > AUDIT_PAGE,
                "page": page,
                "f": {
                    "bruger": bruger,
                    "handling": handling,
                    "objekt": objekt,
                    "fra": fra,
                    "til": til,
                },
            },
        )

    @r.get("/kvalitet", response_class=HTMLResponse)
    @_guard
    async def qa_report(request: Request) -> Response:
        cur, who = _viewer(request)
        info = cur.data.current()
        snap = cur.snapshot()
        page = await run_in_threadpool(
            cache_of(request.app).qa, info.name, info.path / "ontology", snap
        )
        return _page(request, "qa.html", {"who": who, "qa": page, "severity_da": SEVERITY_DA})

    return r
