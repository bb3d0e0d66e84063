"""The curation API: roles, tokens, sessions with CSRF, ETag/If-Match, errors and OpenAPI."""

from __future__ import annotations

import pytest

pytest_plugins = ["curation_fixtures"]

VASKE_SIG = "885400cc-dd71-479e-8993-3fc48fdd6710"
sqlite_only = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


@pytest.fixture()
def http(curation):
    from fastapi.testclient import TestClient

    from termserver.api.app import create_app
    from termserver.curation.server import attach

    app = attach(create_app(curation.snapshot()), curation)
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


def bearer(people, name):
    return {"Authorization": f"Bearer {people[name][1]}"}


def rename(label):
    return {
        "kind": "concept.label",
        "payload": {"scheme": "ffb", "code": VASKE_SIG, "label": label},
        "reason": "Tydeligere",
    }


def test_two_editors_on_one_concept_one_wins_the_other_gets_412_with_the_current_state(
    http, people
):
    ebba, erik = bearer(people, "ebba"), bearer(people, "erik")
    seen_by_ebba = http.get(f"/api/curation/concepts/ffb/{VASKE_SIG}", headers=ebba)
    seen_by_erik = http.get(f"/api/curation/concepts/ffb/{VASKE_SIG}", headers=erik)
    assert seen_by_ebba.headers["ETag"] == seen_by_erik.headers["ETag"]

    won = http.post(
        "/api/curation/changes",
        headers={**ebba, "If-Match": seen_by_ebba.headers["ETag"]},
        json=rename("Vaske sig og tørre sig"),
    )
    assert won.status_code == 201
    lost = http.post(
        "/api/curation/changes",
        headers={**erik, "If-Match": seen_by_erik.headers["ETag"]},
        json=rename("Personlig vask"),
    )
    assert lost.status_code == 412
    body = lost.json()
    assert body["error"] == "precondition-failed" and body["where"] == "If-Match"
    assert "#" + str(won.json()["id"]) in body["message"] and "ebba" in body["message"]
    assert body["current"]["open_changes"][0]["payload"]["label"] == "Vaske sig og tørre sig"
    assert lost.headers["ETag"] == body["current_etag"] != seen_by_erik.headers["ETag"]
    # Nothing was lost: Ebba's change is intact, and Erik can retry with the current ETag.
    assert http.get(f"/api/curation/changes/{won.json()['id']}").json()["payload"]["label"] == (
        "Vaske sig og tørre sig"
    )
    retry = http.post(
        "/api/curation/changes",
        headers={**erik, "If-Match": body["current_etag"]},
        json=rename("Personlig vask"),
    )
    assert retry.status_code == 201


def test_editing_a_change_needs_its_current_etag(http, people):
    ebba = bearer(people, "ebba")
    etag = http.get(f"/api/curation/concepts/ffb/{VASKE_SIG}").headers["ETag"]
    c = http.post(
        "/api/curation/changes", headers={**ebba, "If-Match": etag}, json=rename("Vaske sig selv")
    )
    url = f"/api/curation/changes/{c.json()['id']}"
    missing = http.patch(url, headers=ebba, json={"reason": "Bedre begrundelse"})
    assert missing.status_code == 428 and missing.json()["where"] == "If-Match"
    ok = http.patch(
        url, headers={**ebba, "If-Match": c.headers["ETag"]}, json={"reason": "Bedre begrundelse"}
    )
    assert ok.status_code == 200 and ok.json()["version"] == 2
    stale = http.patch(
        url, headers={**ebba, "If-Match": c.headers["ETag"]}, json={"reason": "Forældet"}
    )
    assert stale.status_code == 412
    assert stale.json()["current"]["reason"] == "Bedre begrundelse"
    assert http.get(url).json()["reason"] == "Bedre begrundelse"


@sqlite_only
def test_every_write_needs_a_token_and_the_right_role(http, people):
    assert http.post("/api/curation/changes", json=rename("X")).status_code == 401
    bad = http.post(
        "/api/curation/changes", headers={"Authorization": "Bearer nope"}, json=rename("X")
    )
    assert bad.status_code == 401 and bad.headers["WWW-Authenticate"] == "Bearer"
    assert http.post("/api/curation/releases", headers=bearer(people, "ebba")).status_code == 403
    assert http.get("/api/curation/users", headers=bearer(people, "anna")).status_code == 403
    assert http.get("/api/curation/audit", headers=bearer(people, "ebba")).status_code == 403
    # Reads are open.
    assert http.get("/api/curation/changes").status_code == 200
    assert http.get("/api/curation/releases").json()[0]["name"] == "content-20240530"


@sqlite_only
def test_admin_creates_a_user_whose_token_works_and_disabling_revokes_it(http, people):
    admin = bearer(people, "ada")
    made = http.post("/api/curation/users", headers=admin, json={"name": "mette", "role": "editor"})
    assert made.status_code == 201 and made.json()["token"].startswith("tsk_")
    mette = {"Authorization": f"Bearer {made.json()['token']}"}
    assert http.get("/api/curation/me", headers=mette).json()["role"] == "editor"
    dup = http.post("/api/curation/users", headers=admin, json={"name": "mette", "role": "admin"})
    assert dup.status_code == 409
    off = http.patch("/api/curation/users/mette", headers=admin, json={"disabled": True})
    assert off.status_code == 200 and off.json()["disabled"] is True
    assert http.get("/api/curation/me", headers=mette).status_code == 401


@sqlite_only
def test_browser_session_needs_the_csrf_token_on_writes(http, people):
    s = http.post("/api/curation/session", headers=bearer(people, "ebba"))
    assert s.status_code == 200
    csrf = s.json()["csrf_token"]
    assert "ts_session" in http.cookies
    assert http.get("/api/curation/me").json()["name"] == "ebba"
    etag = http.get(f"/api/curation/concepts/ffb/{VASKE_SIG}").headers["ETag"]
    forged = http.post(
        "/api/curation/changes", headers={"If-Match": etag}, json=rename("Vaske sig selv")
    )
    assert forged.status_code == 403 and "CSRF" in forged.json()["message"]
    ok = http.post(
        "/api/curation/changes",
        headers={"If-Match": etag, "X-CSRF-Token": csrf},
        json=rename("Vaske sig selv"),
    )
    assert ok.status_code == 201 and ok.json()["author"] == "ebba"
    assert http.delete("/api/curation/session", headers={"X-CSRF-Token": csrf}).status_code == 204
    http.cookies.clear()
    assert http.get("/api/curation/me").status_code == 401


@sqlite_only
def test_invalid_change_is_422_naming_the_field(http, people):
    etag = http.get(f"/api/curation/concepts/ffb/{VASKE_SIG}").headers["ETag"]
    r = http.post(
        "/api/curation/changes",
        headers={**bearer(people, "ebba"), "If-Match": etag},
        json={"kind": "concept.label", "payload": {"scheme": "ffb", "code": VASKE_SIG},
              "reason": "x"},
    )  # fmt: skip
    assert r.status_code == 422
    assert (r.json()["where"], r.json()["problems"][0]["message"]) == ("payload.label", "mangler")
    unknown = http.post("/api/curation/changes", headers=bearer(people, "ebba"),
                        json={"kind": "concept.delete", "payload": {}, "reason": "x"})  # fmt: skip
    assert unknown.status_code == 400 and unknown.json()["where"].startswith("body.kind")
    assert http.get("/api/curation/changes/999999").status_code == 404


def test_curation_api_answers_503_without_a_data_directory_and_is_documented(client):
    r = client.get("/api/curation/changes")
    assert r.status_code == 503 and "--data-dir" in r.json()["message"]
    paths = client.get("/openapi.json").json()["paths"]
    for path in (
        "/api/curation/changes",
        "/api/curation/changes/{change_id}/approve",
        "/api/curation/releases",
        "/api/curation/audit",
        "/api/curation/users",
    ):
        assert path in paths


@sqlite_only
def test_curation_reads_need_a_token_when_the_server_says_so(data_dir, database_url, monkeypatch):
    from fastapi.testclient import TestClient

    from termserver.curation.server import READS_ENV_VAR, create_server_app

    monkeypatch.setenv(READS_ENV_VAR, "token")
    app = create_server_app(data_dir, database_url, watch=False)
    cur = app.state.curation
    try:
        _, token = cur.add_user(None, "rita", "reader", by="test")
        with TestClient(app) as http:
            assert http.get("/api/curation/changes").status_code == 401
            ok = http.get("/api/curation/changes", headers={"Authorization": f"Bearer {token}"})
            assert ok.status_code == 200
    finally:
        cur.close()


def test_one_leaked_token_is_revoked_and_the_users_other_tokens_keep_working(http, people):
    ebba_first = bearer(people, "ebba")
    issued = http.post("/api/curation/users/ebba/tokens", headers=ebba_first)
    assert issued.status_code == 201
    ebba_second = {"Authorization": f"Bearer {issued.json()['token']}"}

    listed = http.get("/api/curation/users/ebba/tokens", headers=ebba_second)
    assert listed.status_code == 200
    tokens = listed.json()
    assert len(tokens) == 2 and all(t["revoked_at"] is None for t in tokens)
    assert "tsk_" not in listed.text  # the listing never holds a token
    # Another editor may neither see nor revoke ebba's tokens.
    assert (
        http.get("/api/curation/users/ebba/tokens", headers=bearer(people, "erik")).status_code
        == 403
    )
    first_id = tokens[0]["id"]
    refused = http.delete(
        f"/api/curation/users/ebba/tokens/{first_id}", headers=bearer(people, "erik")
    )
    assert refused.status_code == 403

    gone = http.delete(f"/api/curation/users/ebba/tokens/{first_id}", headers=ebba_second)
    assert gone.status_code == 204
    assert http.get("/api/curation/me", headers=ebba_first).status_code == 401
    assert http.get("/api/curation/me", headers=ebba_second).json()["name"] == "ebba"
    again = http.delete(f"/api/curation/users/ebba/tokens/{first_id}", headers=ebba_second)
    assert again.status_code == 404
    audit = http.get(
        "/api/curation/audit", params={"action": "token.revoke"}, headers=bearer(people, "ada")
    )
    assert [(e["actor"], e["object_id"]) for e in audit.json()] == [("ebba", "ebba")]
