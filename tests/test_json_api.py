"""The plain JSON API under /api, and its OpenAPI documentation."""

from __future__ import annotations

from urllib.parse import quote

import pytest
from conftest import EGENOMSORG, FFB, FFB_TILSTANDE, KL_SCHEMES, LOCAL_SCHEMES, VASKE_SIG
from test_fhir_hostile import SLASH_CODE, open_slice_client

slice_client = pytest.fixture(scope="module", name="slice_client")(open_slice_client)


def test_schemes_lists_every_scheme_with_versions(client):
    schemes = {s["scheme"]: s for s in client.get("/api/schemes").json()}
    assert set(schemes) == KL_SCHEMES | LOCAL_SCHEMES
    assert [v["version"] for v in schemes["ffb"]["versions"]] == [
        "20240530",
        "20230517",
        "20200908",
    ]
    assert schemes["ffb"]["system"] == FFB


def test_concept_by_scheme_and_code(client):
    c = client.get(f"/api/concepts/ffb/{VASKE_SIG}").json()
    assert c["display"] == "Vaske sig" and c["status"] == "active" and c["active"]
    assert c["parents"][0]["code"] == EGENOMSORG
    assert c["versions"] == ["20240530", "20230517", "20200908"]
    assert c["labels"] == {"da": "Vaske sig"}


def test_concept_by_iri_and_by_system_url(client):
    iri = f"https://w3id.org/ffb-termserver/ffb/{VASKE_SIG}"
    assert client.get("/api/concept", params={"iri": iri}).json()["code"] == VASKE_SIG
    by_system = client.get(
        "/api/concept", params={"system": FFB, "code": VASKE_SIG, "version": "20200908"}
    ).json()
    assert by_system["version"] == "20200908"


def test_children_and_ancestors(client):
    kids = client.get(f"/api/concepts/ffb/{EGENOMSORG}/children").json()
    assert VASKE_SIG in {k["code"] for k in kids}
    anc = client.get(f"/api/concepts/ffb/{VASKE_SIG}/ancestors").json()
    assert anc[-1]["code"] == FFB_TILSTANDE


def test_search_finds_a_misspelled_danish_label_limited_to_a_scheme(client):
    hits = client.get("/api/search", params={"q": "vasek sig", "scheme": "ffb"}).json()
    assert hits[0]["concept"]["code"] == VASKE_SIG and hits[0]["scheme"] == "ffb"


def test_subsumes(client):
    r = client.get("/api/subsumes", params={"scheme": "ffb", "a": EGENOMSORG, "b": VASKE_SIG})
    assert r.json() == {"outcome": "subsumes"}


def test_unknown_things_get_404_with_a_message(client):
    r = client.get("/api/concepts/ffb/nope")
    assert r.status_code == 404 and "unknown code 'nope'" in r.json()["message"]
    assert client.get("/api/concepts/nope/x").status_code == 404
    assert (
        client.get(f"/api/concepts/ffb/{VASKE_SIG}", params={"version": "1999"}).status_code == 404
    )


def test_bad_parameters_get_400_with_where(client):
    r = client.get("/api/search", params={"q": ""})
    assert r.status_code == 400 and r.json()["where"] == "query.q"
    assert client.get("/api/search", params={"q": "x", "limit": 100000}).status_code == 400
    assert client.get("/api/search", params={"q": "x", "status": "alive"}).status_code == 400
    assert client.get("/api/concept").status_code == 400


def test_hostile_search_strings_do_not_break_the_server(client):
    for q in ["' OR 1=1 --", "(a+)+$", "\x00\x01", "ø" * 200, "%00", "<script>alert(1)</script>"]:
        r = client.get("/api/search", params={"q": q})
        assert r.status_code in (200, 400)


def test_openapi_documents_the_json_api(client):
    spec = client.get("/openapi.json").json()
    assert "/api/concepts/{scheme}/{code}" in spec["paths"]
    assert "ConceptOut" in spec["components"]["schemas"]
    assert client.get("/docs").status_code == 200


def test_concept_tells_its_ffb_kind_from_the_owl_model(client):
    kinds = client.get(f"/api/concepts/ffb/{VASKE_SIG}").json()["kinds"]
    assert [k["label"]["da"] for k in kinds] == ["Aktivitet og deltagelse", "Tilstand"]
    maalgruppe = client.get("/api/search", params={"q": "Demens", "scheme": "ffb"}).json()[0]
    demens = client.get(f"/api/concepts/ffb/{maalgruppe['concept']['code']}").json()
    assert demens["kinds"][0]["label"]["da"] == "Målgruppe"
    fsiii = client.get("/api/search", params={"q": "vaske sig", "scheme": "fsiii"}).json()[0]
    assert client.get(f"/api/concepts/fsiii/{fsiii['concept']['code']}").json()["kinds"] == []


def test_a_code_with_a_slash_works_with_and_without_a_suffix(slice_client):
    base = f"/api/concepts/testslice/{quote(SLASH_CODE, safe='')}"
    assert slice_client.get(base).json()["code"] == SLASH_CODE
    ancestors = slice_client.get(f"{base}/ancestors").json()
    assert [a["display"] for a in ancestors][:1] == ["Mobilitet"]
    assert slice_client.get(f"{base}/children").json() == []
    assert slice_client.get(f"/api/concepts/testslice/{SLASH_CODE}").json()["code"] == SLASH_CODE
