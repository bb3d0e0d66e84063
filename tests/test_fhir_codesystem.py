"""FHIR CodeSystem services: metadata, read/search, $lookup, $validate-code, $subsumes."""

from __future__ import annotations

import pytest
from conftest import EGENOMSORG, FFB, VASKE_SIG
from test_fhir_hostile import DRIKKE, KLAEDE, SPISE, TEST_SYSTEM, open_slice_client

FHIR_JSON = "application/fhir+json"
slice_client = pytest.fixture(scope="module", name="slice_client")(open_slice_client)


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


# --- review findings: semantics, search, capability ----------------------------------------------


def test_validate_code_display_check_is_exact_but_for_case_and_spaces(client):
    def result(display: str) -> bool:
        query = {"url": FFB, "code": VASKE_SIG, "display": display}
        return params(client.get("/fhir/CodeSystem/$validate-code", params=query))["result"][0]

    assert result("  VASKE\u00a0 sig ")
    assert not result("Vaaske sig")  # the search normaliser took this for a typo of the label
    assert not result("Vaske")


def test_validate_code_refuses_url_and_system_that_disagree(client):
    r = client.get(
        "/fhir/CodeSystem/$validate-code",
        params={"url": FFB, "system": "http://fhir.kl.dk/term/CodeSystem/FBOE", "code": VASKE_SIG},
    )
    assert r.status_code == 400 and r.json()["issue"][0]["expression"] == ["url"]


def test_validate_code_refuses_a_coding_whose_code_is_not_a_string(client):
    cc = {"coding": [{"system": FFB, "code": 42}]}
    r = client.post("/fhir/CodeSystem/$validate-code", json=body(codeableConcept=cc))
    assert r.status_code == 400
    assert r.json()["issue"][0]["expression"] == ["codeableConcept.coding[0].code"]


def test_validate_code_of_an_unknown_system_is_200_false_with_a_message(client):
    r = client.get("/fhir/CodeSystem/$validate-code", params={"url": "urn:x:nope", "code": "a"})
    assert r.status_code == 200
    p = params(r)
    assert p["result"] == [False] and "unknown code system" in p["message"][0]


def test_validate_code_of_a_retired_code_is_true_inactive_and_names_the_replacement(
    slice_client,
):
    r = slice_client.get(
        "/fhir/CodeSystem/$validate-code", params={"url": TEST_SYSTEM, "code": SPISE}
    )
    p = params(r)
    assert p["result"] == [True] and p["inactive"] == [True]
    assert "retired" in p["message"][0] and DRIKKE in p["message"][0]
    assert "'Drikke'" in p["message"][0]


def test_validate_code_of_a_deprecated_code_is_true_with_a_warning(slice_client):
    query = {"url": TEST_SYSTEM, "code": KLAEDE}
    p = params(slice_client.get("/fhir/CodeSystem/$validate-code", params=query))
    assert p["result"] == [True] and "inactive" not in p
    assert "deprecated" in p["message"][0]


def test_lookup_property_filter_limits_what_comes_back(client):
    query = [("system", FFB), ("code", VASKE_SIG), ("property", "parent")]
    p = params(client.get("/fhir/CodeSystem/$lookup", params=query))
    assert [prop["code"] for prop in p["property"]] == ["parent"]
    assert "designation" not in p and "definition" not in p
    query += [("property", "designation"), ("property", "definition")]
    p = params(client.get("/fhir/CodeSystem/$lookup", params=query))
    assert p["designation"][0]["value"] == "Vaske sig" and p["definition"]


def test_lookup_replaced_by_and_inactive_of_a_retired_code(slice_client):
    query = [("system", TEST_SYSTEM), ("code", SPISE), ("property", "replacedBy")]
    query.append(("property", "inactive"))
    p = params(slice_client.get("/fhir/CodeSystem/$lookup", params=query))
    assert {prop["code"]: prop["value"] for prop in p["property"]} == {
        "replacedBy": DRIKKE,
        "inactive": True,
    }


def test_lookup_display_language_picks_the_designation_in_that_language(slice_client):
    query = {"system": TEST_SYSTEM, "code": VASKE_SIG, "displayLanguage": "en"}
    p = params(slice_client.get("/fhir/CodeSystem/$lookup", params=query))
    assert p["display"] == ["Washing oneself"]
    assert {"language": "en", "value": "Washing oneself"} in p["designation"]


def test_subsumes_with_codings_a_and_b(client):
    a = {"system": FFB, "code": EGENOMSORG}
    b = {"system": FFB, "code": VASKE_SIG}
    r = client.post("/fhir/CodeSystem/$subsumes", json=body(codingA=a, codingB=b))
    assert params(r)["outcome"] == ["subsumes"]
    other = {"system": "http://fhir.kl.dk/term/CodeSystem/FBOE", "code": VASKE_SIG}
    r = client.post("/fhir/CodeSystem/$subsumes", json=body(codingA=a, codingB=other))
    assert r.status_code == 400


@pytest.mark.parametrize("resource", ["CodeSystem", "ValueSet", "ConceptMap"])
def test_search_by_name_is_case_insensitive_starts_with(client, resource):
    every = client.get(f"/fhir/{resource}").json()
    name = every["entry"][0]["resource"]["name"]
    prefix = name[: max(3, len(name) // 2)].swapcase()
    found = client.get(f"/fhir/{resource}", params={"name": prefix}).json()
    names = [e["resource"]["name"] for e in found["entry"]]
    assert name in names
    assert all(n.casefold().startswith(prefix.casefold()) for n in names)
    assert client.get(f"/fhir/{resource}", params={"name": name[1:]}).json()["total"] < len(
        every["entry"]
    ) or not name[1:].casefold().startswith(name.casefold())


@pytest.mark.parametrize("resource", ["CodeSystem", "ValueSet", "ConceptMap"])
def test_search_summary_count_paging_and_elements_work_alike(client, resource):
    total = client.get(f"/fhir/{resource}", params={"_summary": "true"}).json()["total"]
    assert total >= 2
    counted = client.get(f"/fhir/{resource}", params={"_summary": "count"}).json()
    assert counted == {"resourceType": "Bundle", "type": "searchset", "total": total}
    first = client.get(f"/fhir/{resource}", params={"_count": 1, "_summary": "true"}).json()
    assert first["total"] == total and len(first["entry"]) == 1
    following = next(link["url"] for link in first["link"] if link["relation"] == "next")
    second = client.get(following.removeprefix("http://testserver")).json()
    assert len(second["entry"]) == 1
    assert second["entry"][0]["fullUrl"] != first["entry"][0]["fullUrl"]
    trimmed = client.get(f"/fhir/{resource}", params={"_elements": "url,name"}).json()
    for entry in trimmed["entry"]:
        assert set(entry["resource"]) <= {"resourceType", "id", "meta", "url", "name"}
        assert entry["resource"]["meta"]["tag"][0]["code"] == "SUBSETTED"
    assert client.get(f"/fhir/{resource}", params={"_elements": "a<b"}).status_code == 400


def test_capability_statement_dates_from_the_content_and_offers_xml(client):
    cap = client.get("/fhir/metadata").json()
    assert cap["date"] == "2025-05-30"  # the newest dated release (CareSocialCodes, LTT)
    assert "application/fhir+xml" in cap["format"]
