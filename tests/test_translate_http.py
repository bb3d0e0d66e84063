"""Translation over HTTP: FHIR ConceptMap read/search/$translate, the JSON API, a real FHIR
client, and reloading mapping files without losing the content being served."""

from __future__ import annotations

import shutil

import pytest
from conftest import FFB, ONTOLOGY, ROOT
from fhirpy import SyncFHIRClient

from termserver.api.state import (
    MappingCheckError,
    SnapshotHolder,
    build_snapshot,
    reload_snapshot,
)
from termserver.mappings import MappingFileError

VUM1 = "https://w3id.org/ffb-termserver/vum-1"
RELATIONER = "3856b434-f72e-42a5-b9d1-0cc93f48434b"
EGENOMSORG = "da3f488f-1742-4d00-b247-a7d47500b36b"


def params(body: dict, name: str) -> list:
    return [p for p in body["parameter"] if p["name"] == name]


def match_codings(body: dict) -> list[tuple[str, str]]:
    return [
        (part["valueCoding"]["system"], part["valueCoding"]["code"])
        for m in params(body, "match")
        for part in m["part"]
        if part["name"] == "concept"
    ]


def test_fhir_translate_socialt_liv_gives_relationer(client):
    r = client.get(
        "/fhir/ConceptMap/$translate",
        params={"system": VUM1, "code": "socialt-liv", "targetsystem": FFB},
    )
    assert r.status_code == 200
    body = r.json()
    assert params(body, "result")[0]["valueBoolean"] is True
    assert match_codings(body) == [(FFB, RELATIONER)]
    match = params(body, "match")[0]
    equivalence = next(p["valueCode"] for p in match["part"] if p["name"] == "equivalence")
    assert equivalence == "inexact"  # skos:closeMatch: interchangeable only in some uses
    path = next(e["valueString"] for e in match["extension"] if e["url"].endswith("Path"))
    assert "vum-1--ffb" in path and "socialt-liv" in path


def test_fhir_translate_post_reverse_from_ffb(client):
    body = {
        "resourceType": "Parameters",
        "parameter": [
            {"name": "system", "valueUri": FFB},
            {"name": "code", "valueCode": EGENOMSORG},
            {"name": "targetsystem", "valueUri": VUM1},
            {"name": "reverse", "valueBoolean": True},
        ],
    }
    r = client.post("/fhir/ConceptMap/$translate", json=body)
    assert r.status_code == 200
    assert match_codings(r.json()) == [(VUM1, "egenomsorg")]


def test_fhir_translate_unknown_system_is_404_outcome(client):
    r = client.get("/fhir/ConceptMap/$translate", params={"system": "urn:x-unknown", "code": "a"})
    assert r.status_code == 404
    assert r.json()["resourceType"] == "OperationOutcome"


def test_conceptmap_search_and_read(client):
    bundle = client.get("/fhir/ConceptMap").json()
    ids = {e["resource"]["id"] for e in bundle["entry"]}
    assert {"vum-1--ffb", "sel-50--barnets-lov", "forandringskompas-misbrug--ffb"} <= ids
    url = "https://w3id.org/ffb-termserver/mappings/vum-1--ffb"
    one = client.get("/fhir/ConceptMap", params={"url": url}).json()
    assert [e["resource"]["id"] for e in one["entry"]] == ["vum-1--ffb"]
    cm = client.get("/fhir/ConceptMap/vum-1--ffb").json()
    assert cm["resourceType"] == "ConceptMap" and cm["url"] == url
    assert cm["group"][0]["source"] == VUM1 and cm["group"][0]["target"] == FFB
    assert client.get("/fhir/ConceptMap/no-such-map").status_code == 404
    assert client.get("/fhir/ConceptMap", params={"foo": "x"}).status_code == 400


def test_capability_statement_lists_translate(client):
    cap = client.get("/fhir/metadata").json()
    resources = {r["type"]: r for r in cap["rest"][0]["resource"]}
    assert "translate" in {op["name"] for op in resources["ConceptMap"]["operation"]}


def test_json_translate_with_path_and_provenance(client):
    r = client.get(
        "/api/translate", params={"system": "vum-1", "code": "socialt-liv", "target": "ffb"}
    )
    assert r.status_code == 200
    [t] = r.json()
    assert t["target"]["code"] == RELATIONER and t["target"]["display"] == "Relationer"
    assert t["relation"] == "skos:closeMatch" and t["status"] == "proposed"
    step = t["path"][0]
    assert step["mappingSet"] == "vum-1--ffb"
    assert step["provenance"]["author"] and step["provenance"]["reason"]


def test_json_translate_sel50_as_of_2025_reaches_barnets_lov(client):
    r = client.get(
        "/api/translate",
        params={"system": "sel-50", "code": "familieforhold", "target": "barnets-lov"},
    )
    before = {t["target"]["code"] for t in r.json()}
    r = client.get(
        "/api/translate",
        params={
            "system": "sel-50",
            "code": "familieforhold",
            "target": "barnets-lov",
            "as_of": "2025-01-01",
        },
    )
    assert r.status_code == 200
    assert {t["target"]["code"] for t in r.json()} == before == {"bfu-familien"}
    # and on a day before Barnets lov existed there is nothing to point to
    r = client.get(
        "/api/translate",
        params={
            "system": "sel-50",
            "code": "familieforhold",
            "target": "barnets-lov",
            "as_of": "2020-01-01",
        },
    )
    assert r.json() == []


@pytest.mark.parametrize(
    ("query", "status", "where"),
    [
        ({"system": "vum-1", "code": "no-such-theme"}, 404, "code"),
        ({"system": "no-such-scheme", "code": "x"}, 404, "code"),
        ({"system": "vum-1", "code": "socialt-liv", "as_of": "1. januar"}, 400, "as_of"),
        ({"system": "vum-1", "code": "socialt-liv", "max_steps": "9"}, 400, None),
    ],
)
def test_json_translate_bad_input(client, query, status, where):
    r = client.get("/api/translate", params=query)
    assert r.status_code == status
    body = r.json()
    assert body["error"] and body["message"]
    if where:
        assert body["where"] == where


def test_json_mapping_sets_and_rows(client):
    sets = client.get("/api/mappings").json()
    vum = next(s for s in sets if s["id"] == "vum-1--ffb")
    assert vum["subject"]["scheme"] == "vum-1" and vum["object"]["system"] == FFB
    assert "mappings" not in vum
    full = client.get("/api/mappings/vum-1--ffb").json()
    assert len(full["mappings"]) == full["rows"] == vum["rows"]
    row = next(m for m in full["mappings"] if m["subject"]["code"] == "socialt-liv")
    assert row["object"]["code"] == RELATIONER and row["line"] > 0
    assert client.get("/api/mappings/nope").status_code == 404


def test_real_fhir_client_reads_a_conceptmap_and_translates(live_server):
    fhir = SyncFHIRClient(f"{live_server}/fhir")
    cm = fhir.reference("ConceptMap", "vum-1--ffb").to_resource()
    assert cm["resourceType"] == "ConceptMap"
    out = fhir.execute(
        "ConceptMap/$translate",
        method="get",
        params={"system": VUM1, "code": "socialt-liv", "targetsystem": FFB},
    )
    assert match_codings(out) == [(FFB, RELATIONER)]


# --- reloading -----------------------------------------------------------------------------------


@pytest.fixture()
def content(tmp_path):
    """A private copy of the repository's ontology and mappings, for a test to break."""
    shutil.copytree(ONTOLOGY, tmp_path / "ontology")
    shutil.copytree(ROOT / "mappings", tmp_path / "mappings")
    return tmp_path


def test_snapshot_reads_the_mappings_beside_the_ontology(content):
    snap = build_snapshot(content / "ontology")
    assert {ms.id for ms in snap.translator.mapping_sets} >= {"vum-1--ffb", "sel-50--ffb"}


def test_broken_mapping_file_is_refused_and_the_server_keeps_its_content(content):
    holder = SnapshotHolder(build_snapshot(content / "ontology"))
    before = holder.current
    path = content / "mappings" / "vum-1--ffb.yaml"
    text = path.read_text("utf-8")
    path.write_text(text.replace("predicate: closeMatch", "predicate: sameAs", 1), "utf-8")
    with pytest.raises(MappingFileError) as err:
        reload_snapshot(holder, content / "ontology")
    assert "vum-1--ffb.yaml" in str(err.value) and "line" in str(err.value)
    assert holder.current is before


def test_unknown_code_in_a_mapping_is_refused_with_every_problem(content):
    holder = SnapshotHolder(build_snapshot(content / "ontology"))
    before = holder.current
    path = content / "mappings" / "vum-1--ffb.yaml"
    text = path.read_text("utf-8")
    path.write_text(
        text.replace(
            f"object: {RELATIONER}", "object: 00000000-dead-beef-0000-000000000000", 1
        ).replace("object: da3f488f-1742-4d00-b247-a7d47500b36b", "object: not-a-code", 1),
        "utf-8",
    )
    with pytest.raises(MappingCheckError) as err:
        reload_snapshot(holder, content / "ontology")
    assert len(err.value.problems) == 2
    assert "00000000-dead-beef" in str(err.value) and "not-a-code" in str(err.value)
    assert holder.current is before


def test_good_edit_is_picked_up_by_reload(content):
    holder = SnapshotHolder(build_snapshot(content / "ontology"))
    path = content / "mappings" / "vum-1--ffb.yaml"
    (content / "mappings" / "sel-50--barnets-lov.yaml").unlink()
    fresh = reload_snapshot(holder, content / "ontology")
    assert holder.current is fresh
    assert "sel-50--barnets-lov" not in {ms.id for ms in fresh.translator.mapping_sets}
    assert path.exists()
