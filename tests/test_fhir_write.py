"""Admins put CodeSystems, ValueSets and ConceptMaps on the server (PUT/POST/DELETE /fhir/...).

Fixtures are the HL7 terminology ecosystem suite's own resources (tests/data/tx-ecosystem).
Runs on SQLite and on PostgreSQL like the other curation tests.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

pytest_plugins = ["curation_fixtures"]

SUITE = Path(__file__).parent / "data" / "tx-ecosystem" / "tests" / "simple"
SIMPLE = "http://hl7.org/fhir/test/CodeSystem/simple"
FFB = "http://fhir.kl.dk/term/CodeSystem/CareSocialCodes"
FHIR_JSON = {"content-type": "application/fhir+json"}


def resource(name: str) -> dict:
    return json.loads((SUITE / name).read_text("utf-8"))


def as_(people, name: str) -> dict:
    return {"Authorization": f"Bearer {people[name][1]}"} | FHIR_JSON


def put(http, people, path: str, doc: dict, who: str = "ada", **headers):
    return http.put(path, content=json.dumps(doc), headers=as_(people, who) | headers)


def test_an_admin_puts_a_code_system_and_every_operation_uses_it(http, people):
    r = put(http, people, "/fhir/CodeSystem/simple", resource("codesystem-simple.json"))
    assert r.status_code == 201, r.text
    assert r.headers["etag"] == 'W/"1"'
    assert r.headers["location"].endswith("/fhir/CodeSystem/simple/_history/1")
    assert r.json()["meta"]["versionId"] == "1"

    lookup = http.get("/fhir/CodeSystem/$lookup", params={"system": SIMPLE, "code": "code1"})
    assert lookup.status_code == 200, lookup.text
    display = [p for p in lookup.json()["parameter"] if p["name"] == "display"]
    assert display[0]["valueString"] == "Display 1"
    r5 = http.get("/fhir/r5/CodeSystem/$validate-code", params={"url": SIMPLE, "code": "code2"})
    assert {p["name"]: p.get("valueBoolean") for p in r5.json()["parameter"]}["result"] is True

    assert put(http, people, "/fhir/ValueSet/simple-all", resource("valueset-all.json")).is_success
    expanded = http.get(
        "/fhir/ValueSet/$expand", params={"url": "http://hl7.org/fhir/test/ValueSet/simple-all"}
    )
    assert expanded.status_code == 200, expanded.text
    assert "code1" in {c["code"] for c in expanded.json()["expansion"]["contains"]}

    read = http.get("/fhir/CodeSystem/simple")
    assert read.json()["url"] == SIMPLE and read.headers["etag"] == 'W/"1"'
    found = http.get("/fhir/CodeSystem", params={"url": SIMPLE}).json()
    assert [e["resource"]["id"] for e in found["entry"]] == ["simple"]
    # Official content is still there, unchanged.
    assert http.get("/fhir/CodeSystem", params={"url": FFB}).json()["total"] >= 1


def test_updates_need_the_current_version_and_every_version_stays_readable(http, people):
    doc = resource("codesystem-simple.json")
    assert put(http, people, "/fhir/CodeSystem/simple", doc).status_code == 201
    renamed = doc | {"title": "Simple, renamed"}
    r = put(http, people, "/fhir/CodeSystem/simple", renamed, **{"If-Match": 'W/"1"'})
    assert r.status_code == 200 and r.headers["etag"] == 'W/"2"'
    stale = put(http, people, "/fhir/CodeSystem/simple", doc, **{"If-Match": 'W/"1"'})
    assert stale.status_code == 412
    assert 'version W/"2"' in stale.json()["issue"][0]["diagnostics"]

    history = http.get("/fhir/CodeSystem/simple/_history").json()
    assert history["type"] == "history" and history["total"] == 2
    first = http.get("/fhir/CodeSystem/simple/_history/1").json()
    assert first["title"] == "Simple Test Code System"
    assert http.get("/fhir/CodeSystem/simple").json()["title"] == "Simple, renamed"


def test_only_an_admins_bearer_token_may_write(http, people):
    doc = json.dumps(resource("codesystem-simple.json"))
    anonymous = http.put("/fhir/CodeSystem/simple", content=doc, headers=FHIR_JSON)
    assert anonymous.status_code == 401
    assert anonymous.headers["www-authenticate"].startswith("Bearer")
    wrong = http.put(
        "/fhir/CodeSystem/simple",
        content=doc,
        headers=FHIR_JSON | {"Authorization": "Bearer not-a-token"},
    )
    assert wrong.status_code == 401
    for role_holder in ("ebba", "anna"):  # an editor and an approver
        r = put(http, people, "/fhir/CodeSystem/simple", json.loads(doc), who=role_holder)
        assert r.status_code == 403, r.text
    # A signed-in browser session is not a credential here: no CSRF route into a write.
    http.cookies.set("ts_session", "anything")
    assert http.put("/fhir/CodeSystem/simple", content=doc, headers=FHIR_JSON).status_code == 401
    assert http.get("/fhir/CodeSystem/simple").status_code == 404  # nothing was stored


@pytest.mark.parametrize(
    ("path", "change", "status", "where"),
    [
        ("/fhir/CodeSystem/simple", {"id": "other"}, 400, "CodeSystem.id"),
        ("/fhir/CodeSystem/simple", {"resourceType": "ValueSet"}, 400, "resourceType"),
        ("/fhir/CodeSystem/simple", {"url": None}, 400, "CodeSystem.url"),
        ("/fhir/CodeSystem/simple", {"concept": [{"display": "no code"}]}, 400, "concept[0]"),
        ("/fhir/CodeSystem/simple", {"url": FFB}, 409, "CodeSystem.url"),
        ("/fhir/CodeSystem/bad$id", {"id": "bad$id"}, 400, "id"),
    ],
)
def test_a_bad_resource_is_refused_saying_where_and_nothing_is_stored(
    http, people, path, change, status, where
):
    doc = {k: v for k, v in (resource("codesystem-simple.json") | change).items() if v is not None}
    r = put(http, people, path, doc)
    assert r.status_code == status, r.text
    issue = r.json()["issue"][0]
    assert where in (issue.get("expression") or [""])[0] + issue["diagnostics"]
    assert http.get("/fhir/CodeSystem/simple/_history").status_code == 404


def test_a_body_that_is_not_fhir_json_is_refused(http, people):
    headers = as_(people, "ada")
    r = http.put(
        "/fhir/CodeSystem/simple",
        content=b"<CodeSystem/>",
        headers=headers | {"content-type": "application/fhir+xml"},
    )
    assert r.status_code == 415
    r = http.put("/fhir/CodeSystem/simple", content=b"{not json", headers=headers)
    assert r.status_code == 400 and "not valid JSON" in r.json()["issue"][0]["diagnostics"]


def test_two_stored_resources_may_not_share_a_url(http, people):
    doc = resource("codesystem-simple.json")
    assert put(http, people, "/fhir/CodeSystem/simple", doc).status_code == 201
    twin = put(http, people, "/fhir/CodeSystem/twin", doc | {"id": "twin"})
    assert twin.status_code == 409
    assert "CodeSystem/simple already has the url" in twin.json()["issue"][0]["diagnostics"]


def test_create_assigns_an_id_and_delete_keeps_the_history(http, people, curation):
    r = http.post(
        "/fhir/ValueSet",
        content=json.dumps(resource("valueset-all.json")),
        headers=as_(people, "ada"),
    )
    assert r.status_code == 201, r.text
    new_id = r.json()["id"]
    assert new_id != "simple-all" and r.headers["location"].endswith(
        f"/ValueSet/{new_id}/_history/1"
    )

    gone = http.delete(f"/fhir/ValueSet/{new_id}", headers=as_(people, "ada"))
    assert gone.status_code == 200 and gone.headers["etag"] == 'W/"2"'
    assert http.get(f"/fhir/ValueSet/{new_id}").status_code == 410
    assert http.get(f"/fhir/ValueSet/{new_id}/_history/1").json()["url"].endswith("simple-all")
    assert http.get(f"/fhir/ValueSet/{new_id}/_history/2").status_code == 410
    assert http.delete(f"/fhir/ValueSet/{new_id}", headers=as_(people, "ada")).status_code == 404
    # A deleted value set is no longer expanded.
    expanded = http.get(
        "/fhir/ValueSet/$expand", params={"url": "http://hl7.org/fhir/test/ValueSet/simple-all"}
    )
    assert expanded.status_code == 404

    entries = curation.audit(people["ada"][0], object_type="ValueSet")
    assert [e.action for e in entries][-2:] in (
        ["fhir.create", "fhir.delete"],
        ["fhir.delete", "fhir.create"],
    )


def test_a_concept_map_put_by_an_admin_translates_on_the_r5_endpoint(http, people):
    cm = {
        "resourceType": "ConceptMap",
        "id": "simple-map",
        "url": "http://hl7.org/fhir/test/ConceptMap/simple-map",
        "status": "draft",
        "group": [
            {
                "source": SIMPLE,
                "target": "http://hl7.org/fhir/test/CodeSystem/simple",
                "element": [
                    {"code": "code1", "target": [{"code": "code2", "relationship": "equivalent"}]}
                ],
            }
        ],
    }
    assert put(http, people, "/fhir/ConceptMap/simple-map", cm).status_code == 201
    r = http.get(
        "/fhir/r5/ConceptMap/$translate",
        params={"url": cm["url"], "sourceCode": "code1", "system": SIMPLE},
    )
    assert r.status_code == 200, r.text
    assert {p["name"]: p.get("valueBoolean") for p in r.json()["parameter"]}["result"] is True


def test_a_write_through_one_app_reaches_another_on_the_same_database(curation, people):
    from fastapi.testclient import TestClient

    from termserver.api.app import create_app
    from termserver.curation.server import attach

    first = attach(create_app(curation.snapshot()), curation)
    second = attach(create_app(curation.snapshot()), curation)
    with TestClient(first) as a, TestClient(second) as b:
        params = {"system": SIMPLE, "code": "code1"}
        assert b.get("/fhir/CodeSystem/$lookup", params=params).status_code == 404
        assert put(
            a, people, "/fhir/CodeSystem/simple", resource("codesystem-simple.json")
        ).is_success
        assert b.get("/fhir/CodeSystem/$lookup", params=params).status_code == 404  # not polled
        assert second.state.fhir_store.refresh() is True  # what its poller does every 2 s
        assert b.get("/fhir/CodeSystem/$lookup", params=params).status_code == 200


def test_concurrent_updates_lose_no_version(http, people):
    doc = resource("codesystem-simple.json")
    assert put(http, people, "/fhir/CodeSystem/simple", doc).status_code == 201
    answers: list[int] = []

    def update(i: int) -> None:
        r = put(http, people, "/fhir/CodeSystem/simple", doc | {"title": f"t{i}"})
        answers.append(r.status_code)

    threads = [threading.Thread(target=update, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert set(answers) <= {200, 409}, answers
    history = http.get("/fhir/CodeSystem/simple/_history").json()
    # Every 200 is a version of its own; a 409 said "retry" and stored nothing.
    assert history["total"] == 1 + answers.count(200)
    titles = {e["resource"]["title"] for e in history["entry"]}
    assert len(titles) == history["total"]


def test_the_servers_own_content_wins_over_a_stored_resource_with_the_same_url(
    curation, people, caplog
):
    from termserver.fhir.overlay import Overlay, build_overlay, parse_resources
    from termserver.fhir.stored import StoredResources

    snap = curation.snapshot()
    base = Overlay(snap.vocab, snap.valuesets)
    stored = StoredResources(curation.store)
    doc = resource("codesystem-simple.json")
    stored.put(people["ada"][0], "CodeSystem", "simple", doc, if_match=None, served=frozenset())
    assert stored.view(base).vocab.get(SIMPLE, "code1").display == "Display 1"

    # Later the server itself serves that URL (as a release or --fhir-dir would): it wins.
    own = doc | {"concept": [{"code": "code1", "display": "The server's own"}]}
    served = build_overlay(base, parse_resources([own], where="release", single=True))
    with caplog.at_level("ERROR", logger="termserver.fhir.stored"):
        shown = stored.view(served)
    assert shown.vocab.get(SIMPLE, "code1").display == "The server's own"
    assert "stored CodeSystem/simple is not shown" in caplog.text


def test_the_database_refuses_to_change_or_delete_a_stored_version(http, people, curation):
    from termserver.curation.store import StoreError

    assert put(
        http, people, "/fhir/CodeSystem/simple", resource("codesystem-simple.json")
    ).is_success
    with pytest.raises(StoreError, match="append-only"), curation.store.transaction() as tx:
        tx.execute("UPDATE fhir_resources SET body = '{}'")
    with pytest.raises(StoreError, match="append-only"), curation.store.transaction() as tx:
        tx.execute("DELETE FROM fhir_resources")
    assert http.get("/fhir/CodeSystem/simple").json()["url"] == SIMPLE
