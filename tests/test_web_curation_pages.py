"""The curation pages without a browser: sign-in, CSRF, roles, four eyes, conflicts, escaping."""

from __future__ import annotations

import html as htmllib
import re

import pytest
from test_web_pages import Page

pytest_plugins = ["curation_fixtures"]

VASKE_SIG = "885400cc-dd71-479e-8993-3fc48fdd6710"
CONCEPT = f"/kuratering/foreslaa/ffb/{VASKE_SIG}"
NEW_DEFINITION = "At vaske sig er en aktivitet, der består i at vaske og tørre sig på kroppen."


@pytest.fixture()
def database_url():
    """SQLite only: the pages use the engine, whose storage is tested on both databases."""
    return None


@pytest.fixture()
def app(curation):
    from termserver.api.app import create_app
    from termserver.curation.server import attach

    return attach(create_app(curation.snapshot()), curation)


@pytest.fixture()
def browser_for(app, people):
    """A signed-in TestClient per user name (each its own cookie jar)."""
    from fastapi.testclient import TestClient

    made = []

    def sign_in(name: str, base_url: str = "http://testserver"):
        c = TestClient(app, base_url=base_url, raise_server_exceptions=True)
        made.append(c)
        login = c.get("/kuratering/log-ind")
        r = c.post(
            "/kuratering/log-ind",
            data={"csrf": hidden(login.text, "csrf"), "token": people[name][1], "naeste": "/"},
            follow_redirects=False,
        )
        assert r.status_code == 303, r.text[:300]
        return c

    yield sign_in
    for c in made:
        c.close()


def hidden(page: str, name: str) -> str:
    m = re.search(rf'name="{name}" value="([^"]*)"', page)
    assert m, f"no hidden field {name}"
    return htmllib.unescape(m.group(1))


def propose_definition(c, text: str = NEW_DEFINITION, reason: str = "Dobbelt 'der'") -> int:
    form = c.get(CONCEPT).text
    r = c.post(
        CONCEPT,
        data={"csrf": hidden(form, "csrf"), "etag": hidden(form, "etag"), "type": "definition",
              "definition": text, "reason": reason},
        follow_redirects=False,
    )  # fmt: skip
    assert r.status_code == 303, r.text[:2000]
    return int(re.search(r"/forslag/(\d+)", r.headers["location"]).group(1))


def post_form(c, url: str, action: str, **fields):
    """Post the form on ``url`` whose action is ``action``, with its hidden fields."""
    page = c.get(url).text
    return c.post(
        action,
        data={"csrf": hidden(page, "csrf"), "etag": hidden(page, "etag"), **fields},
        follow_redirects=False,
    )


def test_every_curation_page_is_danish_accessible_html(browser_for, curation, people):
    anna = browser_for("anna")
    ebba = browser_for("ebba")
    cid = propose_definition(ebba)
    pages = [
        "/kuratering",
        "/kuratering?status=alle",
        f"/kuratering/forslag/{cid}",
        CONCEPT,
        f"{CONCEPT}?type=betegnelse",
        f"{CONCEPT}?type=udfas",
        f"{CONCEPT}?type=mapping",
        "/kuratering/udgivelser",
        "/kuratering/sammenlign",
        "/kuratering/log",
        f"/kuratering/log?bruger=ebba&objekt=change:{cid}",
        "/kuratering/kvalitet",
    ]
    for url in pages:
        r = anna.get(url)
        assert r.status_code == 200, (url, r.text[:500])
        p = Page(r.text)
        assert p.lang == "da" and p.h1 == 1, url
        assert len(p.ids) == len(set(p.ids)), f"duplicate ids on {url}"
        for field in p.fields:
            assert field.get("id") in p.label_for or field.get("aria-label"), (url, field)
        assert "Logget ind som <strong>anna</strong> (godkender)" in r.text
        # Every form that posts carries the CSRF token.
        for form in re.findall(r'<form[^>]*method="post".*?</form>', r.text, re.S):
            assert 'name="csrf"' in form, (url, form[:200])


def test_without_a_data_directory_the_pages_say_curation_is_off(client):
    r = client.get("/kuratering")
    assert r.status_code == 503
    assert "Kuratering er ikke slået til" in r.text and "--data-dir" in r.text
    concept = client.get(f"/begreb/ffb/{VASKE_SIG}").text
    assert "Foreslå ændring" not in concept and 'href="/kuratering"' not in concept


def test_pages_need_sign_in_and_return_to_where_the_user_was(app):
    from fastapi.testclient import TestClient

    with TestClient(app) as c:
        r = c.get(CONCEPT, follow_redirects=False)
        assert r.status_code == 303
        assert (
            r.headers["location"]
            == f"/kuratering/log-ind?naeste=%2Fkuratering%2Fforeslaa%2Fffb%2F{VASKE_SIG}"
        )
        concept = c.get(f"/begreb/ffb/{VASKE_SIG}").text
        assert f'href="{CONCEPT}"' in concept and "Foreslå ændring" in concept


def test_sign_in_sets_httponly_lax_cookies_secure_over_https(app, people):
    from fastapi.testclient import TestClient

    with TestClient(app, base_url="https://testserver") as c:
        login = c.get("/kuratering/log-ind?naeste=/kuratering/udgivelser")
        r = c.post(
            "/kuratering/log-ind",
            data={"csrf": hidden(login.text, "csrf"), "token": people["ebba"][1],
                  "naeste": hidden(login.text, "naeste")},
            follow_redirects=False,
        )  # fmt: skip
        assert r.status_code == 303 and r.headers["location"] == "/kuratering/udgivelser"
        cookies = [h for k, h in r.headers.multi_items() if k == "set-cookie"]
        assert {h.split("=")[0] for h in cookies} == {"ts_session", "ts_csrf"}
        for h in cookies:
            assert "HttpOnly" in h and "SameSite=lax" in h and "Secure" in h


def test_sign_in_refuses_a_wrong_token_and_a_forged_form(app, people):
    from fastapi.testclient import TestClient

    with TestClient(app) as c:
        login = c.get("/kuratering/log-ind")
        r = c.post("/kuratering/log-ind", data={"csrf": hidden(login.text, "csrf"),
                                                "token": "tsk_forkert"})  # fmt: skip
        assert r.status_code == 401 and "Ukendt eller tilbagekaldt token" in r.text
        r = c.post("/kuratering/log-ind", data={"csrf": "forfalsket", "token": people["ebba"][1]})
        assert r.status_code == 403 and "ts_session" not in r.headers.get("set-cookie", "")
        # The next page after a refused sign-in is never another site.
        r = c.post(
            "/kuratering/log-ind",
            data={"csrf": hidden(login.text, "csrf"), "token": people["ebba"][1],
                  "naeste": "//evil.example/"},
            follow_redirects=False,
        )  # fmt: skip
        assert r.headers["location"] == "/kuratering"


def test_a_form_post_without_the_csrf_token_is_refused_and_changes_nothing(browser_for, curation):
    ebba = browser_for("ebba")
    form = ebba.get(CONCEPT).text
    fields = {"etag": hidden(form, "etag"), "type": "definition", "definition": "x",
              "reason": "y"}  # fmt: skip
    for token in (None, "", "et-andet-token"):
        data = fields if token is None else {**fields, "csrf": token}
        r = ebba.post(CONCEPT, data=data)
        assert r.status_code == 403
        assert "sikkerhedstoken (CSRF)" in r.text
    # The token of another user's session does not work either.
    erik_form = browser_for("erik").get(CONCEPT).text
    r = ebba.post(CONCEPT, data={**fields, "csrf": hidden(erik_form, "csrf")})
    assert r.status_code == 403
    assert curation.changes() == []


def test_a_reader_cannot_propose_and_an_editor_cannot_publish_or_read_the_audit_log(
    browser_for, curation, people
):
    people["rita"] = curation.add_user(None, "rita", "reader", by="test")
    rita = browser_for("rita")
    r = rita.get(CONCEPT)
    assert r.status_code == 403 and "rollen læser" in r.text and "redaktør" in r.text
    page = rita.get("/kuratering").text
    r = rita.post(CONCEPT, data={"csrf": hidden(page, "csrf"), "type": "definition",
                                 "definition": "x", "reason": "y"})  # fmt: skip
    assert r.status_code == 403 and curation.changes() == []

    ebba = browser_for("ebba")
    anna = browser_for("anna")
    cid = propose_definition(ebba)
    assert post_form(anna, f"/kuratering/forslag/{cid}", f"/kuratering/forslag/{cid}/godkend")
    releases = len(curation.releases())
    page = ebba.get("/kuratering/udgivelser").text
    assert "Kun en godkender kan udgive" in page and "Udgiv 1 ændring" not in page
    r = ebba.post("/kuratering/udgivelser", data={"csrf": hidden(page, "csrf")})
    assert r.status_code == 403 and "rollen redaktør" in r.text
    assert len(curation.releases()) == releases
    assert ebba.get("/kuratering/log").status_code == 403


def test_four_eyes_the_author_cannot_approve_their_own_change_even_as_approver(
    browser_for, curation
):
    anna = browser_for("anna")
    cid = propose_definition(anna)
    page = anna.get(f"/kuratering/forslag/{cid}").text
    assert "Du kan ikke godkende dit eget forslag" in page
    assert ">Godkend</button>" not in page
    r = post_form(anna, f"/kuratering/forslag/{cid}", f"/kuratering/forslag/{cid}/godkend")
    assert r.status_code == 403 and "en anden skal godkende den" in r.text
    assert curation.change(cid).status == "proposed"


def test_approve_with_a_stale_version_shows_the_conflict_and_keeps_the_note(browser_for, curation):
    ebba, aksel = browser_for("ebba"), browser_for("aksel")
    cid = propose_definition(ebba)
    stale = aksel.get(f"/kuratering/forslag/{cid}").text
    # Meanwhile the author withdraws it to draft.
    r = post_form(ebba, f"/kuratering/forslag/{cid}", f"/kuratering/forslag/{cid}/traek-tilbage")
    assert r.status_code == 303
    r = aksel.post(
        f"/kuratering/forslag/{cid}/godkend",
        data={"csrf": hidden(stale, "csrf"), "etag": hidden(stale, "etag"),
              "note": "Min grundige begrundelse"},
    )  # fmt: skip
    assert r.status_code == 409
    assert "Nogen har ændret forslaget, mens du læste det" in r.text
    assert "Min grundige begrundelse" in r.text  # the user's text is kept
    assert "kladde" in r.text  # and the page shows the change as it is now
    assert curation.change(cid).status == "draft"


def test_propose_with_a_stale_target_shows_the_current_value_and_keeps_the_text(
    browser_for, curation
):
    ebba, erik = browser_for("ebba"), browser_for("erik")
    stale = erik.get(CONCEPT).text
    propose_definition(ebba)
    r = erik.post(
        CONCEPT,
        data={"csrf": hidden(stale, "csrf"), "etag": hidden(stale, "etag"), "type": "definition",
              "definition": "Eriks definition", "reason": "Eriks grund"},
    )  # fmt: skip
    assert r.status_code == 409
    assert "Begrebet er ændret, mens du skrev" in r.text and "ebba" in r.text
    assert ">Eriks definition</textarea>" in r.text and ">Eriks grund</textarea>" in r.text
    assert len(curation.changes(author="erik")) == 0


def test_invalid_proposal_names_the_problem_and_keeps_the_form(browser_for, curation):
    ebba = browser_for("ebba")
    form = ebba.get(f"{CONCEPT}?type=mapping").text
    r = ebba.post(
        CONCEPT,
        data={"csrf": hidden(form, "csrf"), "type": "mapping", "set": "fsiii--ffb",
              "other": "", "predicate": "closeMatch", "reason": "Samme aktivitet"},
    )  # fmt: skip
    assert r.status_code == 422
    assert "Forslaget blev ikke gemt" in r.text and "payload." in r.text
    assert ">Samme aktivitet</textarea>" in r.text
    assert curation.changes() == []


def test_user_text_is_escaped_on_every_page_it_appears(browser_for, curation):
    evil = '<script>alert("x")</script><img src=x onerror=alert(1)>'
    ebba, anna = browser_for("ebba"), browser_for("anna")
    cid = propose_definition(ebba, text=f"Ny {evil}", reason=f"Grund {evil}")
    r = post_form(ebba, f"/kuratering/forslag/{cid}", f"/kuratering/forslag/{cid}/kommentar",
                  note=f"Kommentar {evil}")  # fmt: skip
    assert r.status_code == 303
    for url in (
        f"/kuratering/forslag/{cid}",
        "/kuratering",
        f"/kuratering/log?objekt=change:{cid}",
    ):
        page = anna.get(url).text
        assert "<script>alert" not in page and "<img src=x" not in page, url
    page = anna.get(f"/kuratering/forslag/{cid}").text
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in page
    assert page.count("&lt;img src=x onerror=alert(1)&gt;") >= 3  # definition, reason, comment


def test_approve_publish_and_compare_show_the_classified_change(browser_for, curation):
    ebba, anna = browser_for("ebba"), browser_for("anna")
    cid = propose_definition(ebba)
    r = post_form(anna, f"/kuratering/forslag/{cid}", f"/kuratering/forslag/{cid}/godkend",
                  note="Godt fanget")  # fmt: skip
    assert r.status_code == 303 and curation.change(cid).status == "approved"
    page = anna.get("/kuratering/udgivelser").text
    assert "Klar til udgivelse (1)" in page
    r = anna.post("/kuratering/udgivelser", data={"csrf": hidden(page, "csrf")},
                  follow_redirects=False)  # fmt: skip
    assert r.status_code == 303
    info = curation.releases()[-1]
    assert info.parent and f"til={info.name}" in r.headers["location"]
    compare = anna.get(r.headers["location"]).text
    assert "Ændrede definitioner (1)" in compare
    assert f'href="/begreb/ffb/{VASKE_SIG}">Vaske sig</a>' in compare
    assert curation.change(cid).status == "published"
    assert NEW_DEFINITION in anna.get(f"/begreb/ffb/{VASKE_SIG}").text
    # Nothing left to publish: a second publish is refused in Danish, not a crash.
    r = anna.post("/kuratering/udgivelser", data={"csrf": hidden(page, "csrf")})
    assert r.status_code == 409 and "ingen godkendte ændringer" in r.text


def test_audit_log_filters_by_user_object_and_time(browser_for, curation):
    ebba, anna = browser_for("ebba"), browser_for("anna")
    cid = propose_definition(ebba)
    everything = anna.get("/kuratering/log").text
    assert "session.start" in everything and "change.create" in everything
    by_ebba = anna.get("/kuratering/log?bruger=ebba").text
    assert "change.propose" in by_ebba and "<td>anna</td>" not in by_ebba
    on_change = anna.get(f"/kuratering/log?objekt=change:{cid}").text
    assert "change.create" in on_change and "session.start" not in on_change
    future = anna.get("/kuratering/log?fra=2999-01-01").text
    assert "Ingen poster matcher" in future


def test_logout_ends_the_session(browser_for):
    ebba = browser_for("ebba")
    page = ebba.get("/kuratering").text
    r = ebba.post("/kuratering/log-ud", data={"csrf": hidden(page, "csrf")},
                  follow_redirects=False)  # fmt: skip
    assert r.status_code == 303
    assert ebba.get("/kuratering", follow_redirects=False).status_code == 303


def test_qa_report_lists_findings_by_rule_and_coverage_and_is_computed_once(
    app, browser_for, monkeypatch
):
    import termserver.web.qa_view as qa_view

    calls = []
    real = qa_view.run_check
    monkeypatch.setattr(qa_view, "run_check", lambda *a, **k: calls.append(a) or real(*a, **k))
    anna = browser_for("anna")
    page = anna.get("/kuratering/kvalitet").text
    assert "Kvalitetsrapport" in page and "duplicate-label" in page and "0 fejl" in page
    assert "Voksenudredningsmetoden" in page  # a local tool's coverage row
    anna.get("/kuratering/kvalitet")
    assert len(calls) == 1


def test_mapping_proposal_from_an_ffb_page_puts_the_local_term_first(browser_for, curation):
    personlig_hygiejne = "17312894-b23f-43d9-9723-b725ac25d872"  # FSIII, broader than Vaske sig
    ebba = browser_for("ebba")
    form = ebba.get(f"{CONCEPT}?type=mapping").text
    assert '<option value="fsiii--ffb"' in form
    r = ebba.post(
        CONCEPT,
        data={"csrf": hidden(form, "csrf"), "type": "mapping", "set": "fsiii--ffb",
              "other": personlig_hygiejne, "predicate": "narrowMatch", "confidence": "0,7",
              "reason": "FSIII's Personlig hygiejne omfatter at vaske sig"},
        follow_redirects=False,
    )  # fmt: skip
    assert r.status_code == 303, r.text[-3000:]
    (change,) = curation.changes()
    assert change.kind == "mapping.add" and change.status == "proposed"
    assert change.payload["subject"] == personlig_hygiejne
    assert change.payload["object"] == VASKE_SIG
    assert change.payload["confidence"] == 0.7
    page = ebba.get(r.headers["location"]).text
    assert "til-begrebet er snævrere" in page and "fsiii--ffb" in page


def test_deprecation_proposal_shows_status_and_replacement_before_and_after(browser_for):
    ebba = browser_for("ebba")
    form = ebba.get(f"{CONCEPT}?type=udfas").text
    r = ebba.post(
        CONCEPT,
        data={"csrf": hidden(form, "csrf"), "etag": hidden(form, "etag"), "type": "udfas",
              "replaced_by": "da3f488f-1742-4d00-b247-a7d47500b36b", "reason": "Prøve"},
        follow_redirects=False,
    )  # fmt: skip
    assert r.status_code == 303, r.text[-3000:]
    rows = re.findall(r"<tr><th scope=\"row\">(.*?)</th>(.*?)</tr>", ebba.get(
        r.headers["location"]).text, re.S)  # fmt: skip
    text = {k: " ".join(re.sub(r"<[^>]+>", " ", v).split()) for k, v in rows}
    assert text["Status"] == "aktiv frarådet"
    assert text["Erstattet af"] == "(intet) Egenomsorg (da3f488f-1742-4d00-b247-a7d47500b36b)"
