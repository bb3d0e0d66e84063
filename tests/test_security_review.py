"""The security review (docs/security-review.md): each finding it fixed, and the attacks it tried
against a real server, so a regression shows here."""

from __future__ import annotations

import html as htmllib
import logging
import re

import httpx
import pytest
from conftest import serving

pytest_plugins = ["curation_fixtures"]

VASKE_SIG = "885400cc-dd71-479e-8993-3fc48fdd6710"
TARGET = f"concept:ffb/{VASKE_SIG}"
sqlite_only = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
EVIL = '<script>alert("x")</script><img src=x onerror=alert(1)>'


def _user(people, name):
    return people[name][0]


def _relabel(curation, people, author: str, label: str = "Vaske sig og tørre sig"):
    etag = curation.target(TARGET).etag
    payload = {"scheme": "ffb", "code": VASKE_SIG, "label": label}
    return curation.create_change(
        _user(people, author), "concept.label", payload, "Tydeligere", if_match=etag
    )


def bearer(people, name):
    return {"Authorization": f"Bearer {people[name][1]}"}


def hidden(page: str, name: str) -> str:
    m = re.search(rf'name="{name}" value="([^"]*)"', page)
    assert m, f"no hidden field {name}"
    return htmllib.unescape(m.group(1))


# --- V4 access control: four eyes -------------------------------------------------------------


def test_an_admin_who_rewrote_someone_elses_change_cannot_approve_it(curation, people):
    from termserver.curation.auth import Forbidden

    change = _relabel(curation, people, "ebba")
    ada = _user(people, "ada")
    # An admin may edit another's draft (to help); the words are then theirs, not the author's.
    edited = curation.edit_change(
        ada, change.id, change.etag,
        payload={"scheme": "ffb", "code": VASKE_SIG, "label": "Adas egen tekst"},
    )  # fmt: skip
    proposed = curation.propose(ada, change.id, edited.etag)
    with pytest.raises(Forbidden, match="selv rettet"):
        curation.approve(ada, change.id, proposed.etag)
    assert curation.change(change.id).status == "proposed"
    # A third person, who neither wrote nor edited it, may approve it.
    approved = curation.approve(_user(people, "anna"), change.id, proposed.etag)
    assert approved.status == "approved" and approved.decided_by == "anna"


def test_an_approver_who_only_commented_may_still_approve(curation, people):
    change = _relabel(curation, people, "ebba")
    proposed = curation.propose(_user(people, "ebba"), change.id, change.etag)
    anna = _user(people, "anna")
    curation.comment(anna, change.id, "Ser fint ud")
    assert curation.approve(anna, change.id, proposed.etag).status == "approved"


# --- V3 session management ---------------------------------------------------------------------


@sqlite_only
def test_a_session_cannot_outlive_its_absolute_timeout_by_a_new_session_or_token(http, people):
    first = http.post("/api/curation/session", headers=bearer(people, "anna"))
    assert first.status_code == 200
    csrf = first.json()["csrf_token"]
    # With only the session cookie (and its CSRF token) a new 8-hour session is refused.
    again = http.post("/api/curation/session", headers={"X-CSRF-Token": csrf})
    assert again.status_code == 401
    assert "set-cookie" not in again.headers
    # Nor may it mint itself (or anyone) an API token, which never expires.
    minted = http.post("/api/curation/users/anna/tokens", headers={"X-CSRF-Token": csrf})
    assert minted.status_code == 401 and "token" not in minted.json()
    # The token itself still starts a session, and issues a new token.
    http.cookies.clear()
    assert http.post("/api/curation/session", headers=bearer(people, "anna")).status_code == 200
    http.cookies.clear()
    again = http.post("/api/curation/users/anna/tokens", headers=bearer(people, "anna"))
    assert again.status_code == 201 and again.json()["token"].startswith("tsk_")


@sqlite_only
def test_signing_in_always_starts_a_new_session_never_the_one_the_browser_had(app, http, people):
    from fastapi.testclient import TestClient

    # An attacker's own valid session id planted in the victim's browser (fixation).
    erik = http.post("/api/curation/session", headers=bearer(people, "erik"))
    planted = erik.cookies["ts_session"]
    with TestClient(app) as c:
        c.cookies.set("ts_session", planted)
        login = c.get("/kuratering/log-ind")
        r = c.post("/kuratering/log-ind", data={"csrf": hidden(login.text, "csrf"),
                                                "token": people["ebba"][1]},
                   follow_redirects=False)  # fmt: skip
        assert r.status_code == 303
        given = r.cookies["ts_session"]
        assert given and given != planted
    with TestClient(app, headers={"Cookie": f"ts_session={given}"}) as fresh:
        assert fresh.get("/api/curation/me").json()["name"] == "ebba"
    with TestClient(app, headers={"Cookie": f"ts_session={planted}"}) as attacker:
        assert attacker.get("/api/curation/me").json()["name"] == "erik"  # still only erik


@pytest.mark.parametrize(
    "target",
    ["/\t/evil.example/", "/\n/evil.example/", "/\r\n/evil.example", "/\\evil.example",
     "/x\\..\\evil", "/\x7f/evil.example", "//evil.example", "https://evil.example/"],
)  # fmt: skip
def test_the_page_after_sign_in_is_never_another_site(target):
    from termserver.web.session import safe_next

    assert safe_next(target) == "/kuratering"


def test_local_pages_after_sign_in_are_kept():
    from termserver.web.session import safe_next

    for target in ("/kuratering/udgivelser", "/kuratering/log?bruger=ebba&side=2", "/begreb/a b"):
        assert safe_next(target) == target


@sqlite_only
def test_the_continue_link_for_a_signed_in_user_stays_on_this_site(app, people):
    from fastapi.testclient import TestClient

    with TestClient(app) as c:
        login = c.get("/kuratering/log-ind")
        c.post("/kuratering/log-ind", data={"csrf": hidden(login.text, "csrf"),
                                            "token": people["ebba"][1]})  # fmt: skip
        page = c.get("/kuratering/log-ind", params={"naeste": "/\t/evil.example/"}).text
        assert "Du er allerede logget ind som ebba" in page
        assert 'href="/kuratering">Fortsæt' in page and "evil.example" not in page


# --- V7 errors and logging ---------------------------------------------------------------------


DB_SECRET = 'connection to server at "db.intern" failed: password authentication for "ts_admin"'


@sqlite_only
def test_a_database_failure_names_no_host_account_or_sql_in_the_api(http, curation, people, caplog):
    from termserver.curation.store import StoreError

    def broken(**_):
        raise StoreError(DB_SECRET)

    curation.changes = broken
    with caplog.at_level(logging.ERROR, logger="termserver.curation"):
        r = http.get("/api/curation/changes", headers=bearer(people, "ebba"))
    assert r.status_code == 503 and r.json()["error"] == "storage"
    assert "db.intern" not in r.text and "ts_admin" not in r.text
    assert "databasen svarer ikke" in r.json()["message"]
    assert any("db.intern" in rec.getMessage() for rec in caplog.records)  # for the operator


@sqlite_only
def test_a_database_failure_names_no_host_account_or_sql_on_the_pages(app, curation, people):
    from fastapi.testclient import TestClient

    from termserver.curation.store import StoreError

    change = _relabel(curation, people, "ebba")
    curation.propose(_user(people, "ebba"), change.id, change.etag)

    def broken(*_, **__):
        raise StoreError(DB_SECRET)

    with TestClient(app) as c:
        login = c.get("/kuratering/log-ind")
        c.post("/kuratering/log-ind", data={"csrf": hidden(login.text, "csrf"),
                                            "token": people["anna"][1]})  # fmt: skip
        page = c.get(f"/kuratering/forslag/{change.id}").text
        curation.approve = broken
        curation.publish = broken
        for url, data in (
            (f"/kuratering/forslag/{change.id}/godkend", {"etag": hidden(page, "etag")}),
            ("/kuratering/udgivelser", {}),
        ):
            r = c.post(url, data={"csrf": hidden(page, "csrf"), **data})
            assert r.status_code == 503, url
            assert "Databasen svarer ikke" in r.text
            assert "db.intern" not in r.text and "ts_admin" not in r.text


@sqlite_only
def test_refused_credentials_csrf_and_roles_are_logged_without_the_token(app, http, people, caplog):
    from fastapi.testclient import TestClient

    wrong = "tsk_" + "A" * 43
    with caplog.at_level(logging.WARNING, logger="termserver.security"):
        http.get("/api/curation/me", headers={"Authorization": f"Bearer {wrong}"})
        http.post("/api/curation/releases", headers=bearer(people, "ebba"))
        with TestClient(app) as c:
            login = c.get("/kuratering/log-ind")
            c.post("/kuratering/log-ind", data={"csrf": hidden(login.text, "csrf"),
                                                "token": wrong})  # fmt: skip
            c.post("/kuratering/log-ind", data={"csrf": hidden(login.text, "csrf"),
                                                "token": people["ebba"][1]})  # fmt: skip
            c.post("/kuratering/udgivelser", data={"csrf": "forfalsket"})
            page = c.get("/kuratering").text
            c.post("/kuratering/udgivelser", data={"csrf": hidden(page, "csrf")})
    lines = [rec.getMessage() for rec in caplog.records if rec.name == "termserver.security"]
    text = "\n".join(lines)
    assert "refused GET /api/curation/me" in text and "ukendt eller tilbagekaldt" in text
    assert "refused POST /api/curation/releases" in text and "kræver approver" in text
    assert "sign-in refused" in text and "unknown token" in text
    assert "CSRF token missing or wrong" in text
    assert "ebba has role editor, needs approver" in text
    for secret in (wrong, people["ebba"][1], hidden(page, "csrf")):
        assert secret not in text


# --- V8 data protection: nothing private is cached ---------------------------------------------


@sqlite_only
def test_curation_answers_and_requests_with_credentials_are_never_stored(http, people):
    from termserver.api.curation_routes import SESSION_COOKIE as COOKIE_NAME
    from termserver.api.security_headers import SESSION_COOKIE

    assert f"{COOKIE_NAME}=".encode() == SESSION_COOKIE  # the middleware's copy of the name
    token = http.post("/api/curation/users/ebba/tokens", headers=bearer(people, "ada"))
    assert token.status_code == 201 and token.headers["cache-control"] == "no-store"
    for url in ("/api/curation/changes", "/kuratering/log-ind", "/kuratering"):
        assert http.get(url, follow_redirects=False).headers["cache-control"] == "no-store", url
    # A public page asked with credentials may show who is signed in: not stored either.
    signed = http.get(f"/begreb/ffb/{VASKE_SIG}", headers=bearer(people, "ebba"))
    assert signed.headers["cache-control"] == "no-store"
    http.cookies.set("ts_session", "x")
    assert http.get(f"/begreb/ffb/{VASKE_SIG}").headers["cache-control"] == "no-store"
    http.cookies.clear()
    # Public answers and the static files keep whatever caching they had.
    assert "cache-control" not in http.get(f"/begreb/ffb/{VASKE_SIG}").headers
    css = http.get("/static/site.css", headers=bearer(people, "ebba"))
    assert css.status_code == 200 and "cache-control" not in css.headers


# --- the attacks, against a real server --------------------------------------------------------


@sqlite_only
def test_attacks_on_a_live_server_are_refused(data_dir, curation, people):
    tokens = {name: token for name, (_, token) in people.items()}
    tokens["rolf"] = curation.add_user(None, "rolf", "reader", by="test")[1]
    curation.close()  # the server below opens the same data directory and SQLite file
    # As in production: behind a trusted TLS-terminating proxy (here: the test itself).
    proxy = ("--trusted-proxies", "127.0.0.1")
    with serving("--data-dir", str(data_dir), *proxy) as base, httpx.Client(base_url=base) as h:

        def auth(name):
            return {"Authorization": f"Bearer {tokens[name]}"}

        # An editor proposes a relabel whose label, reason and comment are scripts.
        etag = h.get(f"/api/curation/concepts/ffb/{VASKE_SIG}").headers["etag"]
        label = f"Vaske {EVIL}"
        body = {"kind": "concept.label", "reason": f"Grund {EVIL}",
                "payload": {"scheme": "ffb", "code": VASKE_SIG, "label": label}}  # fmt: skip
        made = h.post(
            "/api/curation/changes", json=body, headers={**auth("ebba"), "If-Match": etag}
        )
        assert made.status_code == 201, made.text
        cid = made.json()["id"]
        proposed = h.post(f"/api/curation/changes/{cid}/propose",
                          headers={**auth("ebba"), "If-Match": made.headers["etag"]})  # fmt: skip
        assert proposed.status_code == 200
        etag = proposed.headers["etag"]
        h.post(f"/api/curation/changes/{cid}/comments", json={"body": f"Se {EVIL}"},
               headers=auth("erik"))  # fmt: skip

        # Neither a reader's token nor the author's (an editor) can approve (V4.1.1).
        for name, why in (("rolf", "rollen reader"), ("ebba", "rollen editor")):
            r = h.post(f"/api/curation/changes/{cid}/approve",
                       headers={**auth(name), "If-Match": etag})  # fmt: skip
            assert r.status_code == 403 and why in r.json()["message"], name
        # A token in the query string is not a credential (V13.1.3 / V8.1.1).
        r = h.post(f"/api/curation/changes/{cid}/approve?access_token={tokens['anna']}",
                   headers={"If-Match": etag})  # fmt: skip
        assert r.status_code == 401

        # A browser session: writes without the CSRF header are refused.
        s = h.post("/api/curation/session", headers={**auth("anna"), "X-Forwarded-Proto": "https"})
        session, csrf = s.cookies["ts_session"], s.json()["csrf_token"]
        flags = s.headers["set-cookie"].lower()
        assert "httponly" in flags and "secure" in flags and "samesite=strict" in flags
        cookie = {"Cookie": f"ts_session={session}"}
        r = h.post(f"/api/curation/changes/{cid}/approve", headers={**cookie, "If-Match": etag})
        assert r.status_code == 403 and "CSRF" in r.json()["message"]
        assert h.get(f"/api/curation/changes/{cid}").json()["status"] == "proposed"

        # The review page escapes every piece of user text (V5.3.1) and is not cached.
        page = h.get(f"/kuratering/forslag/{cid}", headers=cookie)
        assert page.status_code == 200 and page.headers["cache-control"] == "no-store"
        assert "default-src 'self'" in page.headers["content-security-policy"]
        assert "<script>alert" not in page.text and "<img src=x" not in page.text
        assert page.text.count("&lt;img src=x onerror=alert(1)&gt;") >= 3  # label, reason, comment

        # Release names are looked up, never joined to a path (V12.3.1).
        for name in ("..%2F..%2F..%2Fetc%2Fpasswd", "..%2Fcurrent", "%2E%2E", "current"):
            r = h.get(f"/api/curation/releases/{name}")
            assert r.status_code == 404 and "root:" not in r.text, name

        # Sign out; the old cookie is dead on the server, not only forgotten by the browser.
        out = h.request("DELETE", "/api/curation/session",
                        headers={**cookie, "X-CSRF-Token": csrf})  # fmt: skip
        assert out.status_code == 204
        h.cookies.clear()
        assert h.get("/api/curation/me", headers=cookie).status_code == 401
        r = h.post(f"/api/curation/changes/{cid}/approve",
                   headers={**cookie, "X-CSRF-Token": csrf, "If-Match": etag})  # fmt: skip
        assert r.status_code == 401
        page = h.get("/kuratering", headers=cookie, follow_redirects=False)
        assert page.status_code == 303 and "/kuratering/log-ind" in page.headers["location"]

        # Another approver decides, as four eyes intends.
        r = h.post(
            f"/api/curation/changes/{cid}/approve", headers={**auth("anna"), "If-Match": etag}
        )
        assert r.status_code == 200 and r.json()["decided_by"] == "anna"


# --- V14.2 dependencies ------------------------------------------------------------------------

#: Direct dependencies whose older releases have published advisories that reach us: the
#: smallest version with the fix (ASVS V14.2.1). Starlette is imported directly, so it is named.
FIXED_IN = {
    "python-multipart": ((0, 0, 18), "CVE-2024-53981: multipart boundary DoS (form posts)"),
    "starlette": ((0, 49, 1), "CVE-2025-62727: Range header DoS in FileResponse (/static)"),
    "jinja2": ((3, 1, 6), "CVE-2024-34064 (xmlattr) and the sandbox escapes up to 3.1.6"),
}


def test_dependency_floors_exclude_releases_with_known_advisories():
    import tomllib
    from pathlib import Path

    doc = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text("utf-8"))
    floors = {}
    for spec in doc["project"]["dependencies"]:
        m = re.match(r"([A-Za-z0-9_.-]+)(?:\[[^]]*\])?>=([0-9.]+)", spec)
        if m:
            floors[m.group(1).lower()] = tuple(int(x) for x in m.group(2).split("."))
    for name, (fixed, why) in FIXED_IN.items():
        assert name in floors, f"{name} must be a dependency with a lower bound ({why})"
        assert floors[name] >= fixed, f"{name}>={floors[name]} allows {why}"
