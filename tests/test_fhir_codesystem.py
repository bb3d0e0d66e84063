"""FHIR CodeSystem services: metadata, read/search, $lookup, $validate-code, $subsumes."""

from __future__ import annotations

import pytest
from conftest import EGENOMSORG, FFB, VASKE_SIG

FHIR_JSON = "application/fhir+json"


def params(resp) -> dict:
    """Flatten a Parameters response: name → list of values (parts as dicts)."""
    out: dict = {}
    for p in resp.json()["parameter"]:
        if "part" in p:
            value = {
                q["name"]: next(v for k, v in q.items() if k.startswith("value")) for q in p["part"]
            }
        else:
            value = next(v for k, v in p.items() if k.startswith("value"))
        out.setdefault(p["name"], []).append(value)
    return out


def body(**kw) -> dict:
    parameter = []
    for name, value in kw.items():
        key = {
            "coding": "valueCoding",
            "codingA": "valueCoding",
            "codingB": "valueCoding",
            "codeableConcept": "valueCodeableConcept",
        }.get(name, "valueString")
        parameter.append({"name": name, key: value})
    return {"resourceType": "Parameters", "parameter": parameter}


def test_metadata_is_a_capability_statement_and_terminology_mode_lists_every_version(client):
    cap = client.get("/fhir/metadata").json()
    assert cap["resourceType"] == "CapabilityStatement" and cap["fhirVersion"] == "4.0.1"
    tc = client.get("/fhir/metadata", params={"mode": "terminology"}).json()
    assert tc["resourceType"] == "TerminologyCapabilities"
    ffb = next(cs for cs in tc["codeSystem"] if cs["uri"] == FFB)
    assert [v["code"] for v in ffb["version"]] == ["20240530", "20230517", "20200908"]
    assert ffb["version"][0]["isDefault"]


def test_codesystem_search_by_url_returns_all_three_ffb_releases(client):
    r = client.get("/fhir/CodeSystem", params={"url": FFB, "_summary": "true"})
    assert r.status_code == 200 and r.headers["content-type"].startswith(FHIR_JSON)
    bundle = r.json()
    assert bundle["total"] == 3
    assert {e["resource"]["version"] for e in bundle["entry"]} == {
        "20240530",
        "20230517",
        "20200908",
    }
    one = client.get(
        "/fhir/CodeSystem", params={"url": FFB, "version": "20230517", "_summary": "true"}
    ).json()
    assert one["total"] == 1


def test_codesystem_read_gives_the_whole_tree(client):
    cs = client.get("/fhir/CodeSystem/ffb-20240530").json()
    assert cs["url"] == FFB and cs["count"] == 220

    def count(items):
        return sum(1 + count(c.get("concept", [])) for c in items)

    assert count(cs["concept"]) == 220
    assert client.get("/fhir/CodeSystem/nope-1").status_code == 404


def test_lookup_returns_display_definition_parent_children_and_version(client):
    r = client.get("/fhir/CodeSystem/$lookup", params={"system": FFB, "code": EGENOMSORG})
    assert r.status_code == 200
    p = params(r)
    assert p["display"] == ["Egenomsorg"]
    assert p["version"] == ["20240530"]
    assert p["definition"][0].startswith("Egenomsorg")
    props = {}
    for prop in p["property"]:
        props.setdefault(prop["code"], []).append(prop["value"])
    assert props["parent"] == ["93433530-b85c-4d04-a4fb-5ae26cf16f1c"]
    assert VASKE_SIG in props["child"]
    assert props["inactive"] == [False]


def test_lookup_by_post_with_a_coding_and_an_old_version(client):
    r = client.post(
        "/fhir/CodeSystem/$lookup",
        json=body(
            coding={
                "system": FFB,
                "code": "af7624f8-affd-4a7e-8754-b1b1dd9d8def",
                "version": "20200908",
            }
        ),
    )
    assert r.status_code == 200
    assert params(r)["display"] == ["Ydelse\xa0\xa0"]


@pytest.mark.parametrize(
    ("query", "status", "words"),
    [
        ({"system": "http://example.org/nope", "code": VASKE_SIG}, 404, "unknown code system"),
        ({"system": FFB, "code": "nope"}, 404, "unknown code 'nope'"),
        ({"system": FFB, "code": VASKE_SIG, "version": "1999"}, 404, "no version '1999'"),
        ({"system": FFB}, 400, "'code'"),
        ({"code": VASKE_SIG}, 400, "code system is required"),
    ],
    ids=["unknown-system", "unknown-code", "unknown-version", "missing-code", "missing-system"],
)
def test_lookup_errors_are_operation_outcomes_with_the_right_status(client, query, status, words):
    r = client.get("/fhir/CodeSystem/$lookup", params=query)
    assert r.status_code == status
    oo = r.json()
    assert oo["resourceType"] == "OperationOutcome"
    assert words in oo["issue"][0]["diagnostics"]


def test_repeated_single_parameter_is_refused(client):
    r = client.get(f"/fhir/CodeSystem/$lookup?system={FFB}&code={VASKE_SIG}&code={EGENOMSORG}")
    assert r.status_code == 400
    assert "only once" in r.json()["issue"][0]["diagnostics"]


@pytest.mark.parametrize(
    "payload",
    [
        b"{not json",
        b"[]",
        b'{"resourceType": "Patient"}',
        b'{"resourceType": "Parameters", "parameter": {}}',
        b'{"resourceType": "Parameters", "parameter": [{"name": "code"}]}',
        b"[" * 5000 + b"]" * 5000,
    ],
    ids=[
        "not-json",
        "array",
        "wrong-resource",
        "parameter-not-array",
        "parameter-without-value",
        "deeply-nested",
    ],
)
def test_malformed_parameters_bodies_get_400(client, payload):
    r = client.post(
        "/fhir/CodeSystem/$lookup", content=payload, headers={"content-type": FHIR_JSON}
    )
    assert r.status_code == 400
    assert r.json()["resourceType"] == "OperationOutcome"


def test_oversized_body_gets_413(client):
    r = client.post(
        "/fhir/CodeSystem/$lookup", content=b" " * 2_000_000, headers={"content-type": FHIR_JSON}
    )
    assert r.status_code == 413
    assert r.json()["resourceType"] == "OperationOutcome"


def test_validate_code_accepts_the_right_display(client):
    r = client.get(
        "/fhir/CodeSystem/$validate-code",
        params={"url": FFB, "code": VASKE_SIG, "display": "vaske sig"},
    )
    p = params(r)
    assert p["result"] == [True] and p["display"] == ["Vaske sig"]


def test_validate_code_with_a_wrong_display_says_why(client):
    r = client.get(
        "/fhir/CodeSystem/$validate-code",
        params={"url": FFB, "code": VASKE_SIG, "display": "Vaske tøj"},
    )
    assert r.status_code == 200
    p = params(r)
    assert p["result"] == [False]
    assert "Wrong display 'Vaske tøj'" in p["message"][0] and "'Vaske sig'" in p["message"][0]


def test_validate_code_of_unknown_code_is_false_not_an_error(client):
    p = params(client.get("/fhir/CodeSystem/$validate-code", params={"url": FFB, "code": "nope"}))
    assert p["result"] == [False] and "unknown code" in p["message"][0]


def test_validate_codeable_concept_by_post(client):
    cc = {
        "coding": [
            {"system": "http://example.org/other", "code": "x"},
            {"system": FFB, "code": VASKE_SIG},
        ]
    }
    p = params(client.post("/fhir/CodeSystem/$validate-code", json=body(codeableConcept=cc)))
    assert p["result"] == [True]


def test_subsumes_vaske_sig_under_egenomsorg(client):
    r = client.get(
        "/fhir/CodeSystem/$subsumes",
        params={"system": FFB, "codeA": EGENOMSORG, "codeB": VASKE_SIG},
    )
    assert params(r)["outcome"] == ["subsumes"]
    r = client.post(
        "/fhir/CodeSystem/$subsumes", json=body(system=FFB, codeA=VASKE_SIG, codeB=EGENOMSORG)
    )
    assert params(r)["outcome"] == ["subsumed-by"]
    r = client.get(
        "/fhir/CodeSystem/$subsumes", params={"system": FFB, "codeA": EGENOMSORG, "codeB": "nope"}
    )
    assert r.status_code == 404


def test_every_response_names_the_release(client):
    assert client.get("/fhir/metadata").headers["x-termserver-release"] == "test"


def test_lookup_answers_in_fhir_xml_when_asked(client):
    import xml.etree.ElementTree as ET

    r = client.get(
        "/fhir/CodeSystem/$lookup",
        params={"system": FFB, "code": VASKE_SIG},
        headers={"accept": "application/fhir+xml"},
    )
    assert r.headers["content-type"].startswith("application/fhir+xml")
    root = ET.fromstring(r.content)
    ns = {"f": "http://hl7.org/fhir"}
    assert root.tag == "{http://hl7.org/fhir}Parameters"
    display = [
        p.find("f:valueString", ns).get("value")
        for p in root.findall("f:parameter", ns)
        if p.find("f:name", ns).get("value") == "display"
    ]
    assert display == ["Vaske sig"]


def test_errors_and_format_parameter_in_xml(client):
    import xml.etree.ElementTree as ET

    r = client.get(
        "/fhir/CodeSystem/$lookup", params={"system": FFB, "code": "nope", "_format": "xml"}
    )
    assert r.status_code == 404
    root = ET.fromstring(r.content)
    assert root.tag == "{http://hl7.org/fhir}OperationOutcome"
    json_again = client.get("/fhir/metadata", headers={"accept": "application/fhir+json"})
    assert json_again.json()["resourceType"] == "CapabilityStatement"
