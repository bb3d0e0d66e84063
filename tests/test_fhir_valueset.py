"""FHIR ValueSet services: KL's value sets at their canonical URLs, $expand and $validate-code."""

from __future__ import annotations

import pytest
from conftest import EGENOMSORG, FFB, VASKE_SIG
from test_fhir_hostile import open_slice_client

KL = "http://fhir.kl.dk/term/ValueSet/"
AD = KL + "KLConditionADCodesFFB"
slice_client = pytest.fixture(scope="module", name="slice_client")(open_slice_client)


def expand(client, **query):
    r = client.get("/fhir/ValueSet/$expand", params=query)
    assert r.status_code == 200, r.text
    return r.json()["expansion"]


def test_kl_value_sets_are_published_at_their_canonical_urls(client):
    bundle = client.get("/fhir/ValueSet", params={"url": AD}).json()
    assert bundle["total"] == 1
    vs = bundle["entry"][0]["resource"]
    assert vs["url"] == AD and vs["compose"]["include"][0]["system"] == FFB
    assert (
        client.get("/fhir/ValueSet/KLConditionADCodesFFB").json()["name"] == "KLConditionADCodesFFB"
    )
    names = {e["resource"]["name"] for e in client.get("/fhir/ValueSet").json()["entry"]}
    assert {
        "KLConditionCodesFFB",
        "KLThemesFFB",
        "KLTargetGroupsFFB",
        "KLInterventionsFFB",
        "KLGoalTypeCodes",
    } <= names


def test_expand_ad_conditions_page_by_page(client):
    first = expand(client, url=AD, count=10, offset=0)
    total = first["total"]
    assert total == 31 and len(first["contains"]) == 10  # the 31 A&D sub-themes of FFB 20240530
    seen = [c["code"] for c in first["contains"]]
    offset = 10
    while offset < total:
        page = expand(client, url=AD, count=10, offset=offset)
        assert page["total"] == total and page["offset"] == offset
        seen += [c["code"] for c in page["contains"]]
        offset += 10
    assert len(seen) == len(set(seen)) == total
    assert VASKE_SIG in seen and EGENOMSORG not in seen


def test_expand_with_a_misspelled_filter(client):
    exp = expand(client, url=AD, filter="vasek sig")
    assert exp["contains"][0]["code"] == VASKE_SIG
    assert {"name": "filter", "valueString": "vasek sig"} in exp["parameter"]


def test_expand_by_post_with_designations_and_used_codesystem(client):
    body = {
        "resourceType": "Parameters",
        "parameter": [
            {"name": "url", "valueUri": KL + "KLSeveritiesFFB"},
            {"name": "includeDesignations", "valueBoolean": True},
        ],
    }
    r = client.post("/fhir/ValueSet/$expand", json=body)
    exp = r.json()["expansion"]
    assert {c["display"] for c in exp["contains"]} >= {
        "Let nedsat funktionsevne",
        "Fuldstændig nedsat funktionsevne",
    }
    assert all("designation" in c for c in exp["contains"])
    assert {"name": "used-codesystem", "valueUri": f"{FFB}|20240530"} in exp["parameter"]


def test_expand_an_inline_value_set(client):
    vs = {
        "resourceType": "ValueSet",
        "url": "http://example.org/vs/egenomsorg",
        "status": "draft",
        "compose": {
            "include": [
                {
                    "system": FFB,
                    "filter": [{"property": "concept", "op": "is-a", "value": EGENOMSORG}],
                }
            ]
        },
    }
    r = client.post(
        "/fhir/ValueSet/$expand",
        json={"resourceType": "Parameters", "parameter": [{"name": "valueSet", "resource": vs}]},
    )
    codes = {c["code"] for c in r.json()["expansion"]["contains"]}
    assert EGENOMSORG in codes and VASKE_SIG in codes


def test_validate_code_in_a_value_set(client):
    ok = client.get(
        "/fhir/ValueSet/$validate-code", params={"url": AD, "system": FFB, "code": VASKE_SIG}
    ).json()
    assert ok["parameter"][0] == {"name": "result", "valueBoolean": True}
    no = client.get(
        "/fhir/ValueSet/$validate-code", params={"url": AD, "system": FFB, "code": EGENOMSORG}
    ).json()
    assert no["parameter"][0]["valueBoolean"] is False
    bad = client.get(
        "/fhir/ValueSet/$validate-code",
        params={"url": AD, "system": FFB, "code": VASKE_SIG, "display": "Vaske hår"},
    ).json()
    assert bad["parameter"][0]["valueBoolean"] is False
    assert "Vaske hår" in next(p["valueString"] for p in bad["parameter"] if p["name"] == "message")


@pytest.mark.parametrize(
    ("query", "status"),
    [
        ({"url": KL + "Nope"}, 404),
        ({}, 400),
        ({"url": AD, "count": "-1"}, 400),
        ({"url": AD, "count": "99999999"}, 400),
        ({"url": AD, "offset": "abc"}, 400),
        ({"url": AD, "activeOnly": "maybe"}, 400),
        ({"url": AD, "filter": "x" * 500}, 400),
    ],
    ids=[
        "unknown-valueset",
        "no-url",
        "negative-count",
        "absurd-count",
        "bad-offset",
        "bad-boolean",
        "huge-filter",
    ],
)
def test_bad_expand_parameters_get_operation_outcomes(client, query, status):
    r = client.get("/fhir/ValueSet/$expand", params=query)
    assert r.status_code == status
    assert r.json()["resourceType"] == "OperationOutcome"


def test_injection_in_filter_is_just_text(client):
    exp = expand(client, url=AD, filter="') OR 1=1 --")
    assert exp["total"] == 0


# --- review findings ------------------------------------------------------------------------------


def _params_of(resource: dict) -> dict:
    return {p["name"]: next(v for k, v in p.items() if k.startswith("value")) for p in
            resource["parameter"]}  # fmt: skip


def _inline_vs(version: str | None = None, **filter_) -> dict:
    include = {"system": FFB, "filter": [filter_ or {"property": "concept", "op": "is-a",
                                                     "value": EGENOMSORG}]}  # fmt: skip
    if version:
        include["version"] = version
    return {
        "resourceType": "ValueSet",
        "url": "http://example.org/vs/egenomsorg",
        "status": "draft",
        "compose": {"include": [include]},
    }


def _post_expand(client, vs: dict, **extra) -> dict:
    params = [{"name": "valueSet", "resource": vs}]
    params += [{"name": k, "valueString": v} for k, v in extra.items()]
    r = client.post(
        "/fhir/ValueSet/$expand", json={"resourceType": "Parameters", "parameter": params}
    )
    assert r.status_code == 200, r.text
    return r.json()["expansion"]


def test_count_zero_gives_the_total_and_no_codes(client):
    exp = expand(client, url=AD, count=0)
    assert exp["total"] == 31 and "contains" not in exp  # FHIR JSON has no empty arrays


def test_include_definition_puts_the_definition_in_an_extension(client):
    exp = expand(client, url=AD, filter="vaske sig", includeDefinition="true", count=1)
    ext = exp["contains"][0]["extension"][0]
    assert ext["url"].endswith("valueset-concept-definition") and ext["valueString"]
    assert "extension" not in expand(client, url=AD, filter="vaske sig", count=1)["contains"][0]


def test_display_language_chooses_the_label_of_each_member(slice_client):
    from test_fhir_hostile import TEST_SYSTEM

    vs = _inline_vs()
    vs["compose"]["include"][0]["system"] = TEST_SYSTEM
    exp = _post_expand(slice_client, vs, displayLanguage="en")
    displays = {c["code"]: c["display"] for c in exp["contains"]}
    assert displays[VASKE_SIG] == "Washing oneself"
    assert {"name": "displayLanguage", "valueCode": "en"} in exp["parameter"]


def test_system_version_chooses_the_release_where_the_definition_pins_none(client):
    exp = expand(client, url=AD, count=1, **{"system-version": f"{FFB}|20200908"})
    assert {"name": "used-codesystem", "valueUri": f"{FFB}|20200908"} in exp["parameter"]
    assert exp["contains"][0]["version"] == "20200908"


def test_system_version_does_not_override_a_pinned_version_but_force_does(client):
    pinned = _inline_vs(version="20200908")
    kept = _post_expand(client, pinned, **{"system-version": f"{FFB}|20230517"})
    assert {"name": "used-codesystem", "valueUri": f"{FFB}|20200908"} in kept["parameter"]
    forced = _post_expand(client, pinned, **{"force-system-version": f"{FFB}|20230517"})
    assert {"name": "used-codesystem", "valueUri": f"{FFB}|20230517"} in forced["parameter"]
    assert {c["version"] for c in forced["contains"]} == {"20230517"}


def test_check_system_version_chooses_where_unpinned_and_refuses_another_pin(client):
    checked = {"check-system-version": f"{FFB}|20230517"}
    exp = expand(client, url=AD, count=1, **checked)
    assert {"name": "used-codesystem", "valueUri": f"{FFB}|20230517"} in exp["parameter"]
    assert _post_expand(client, _inline_vs(version="20230517"), **checked)["total"] > 0
    r = client.post(
        "/fhir/ValueSet/$expand",
        json={
            "resourceType": "Parameters",
            "parameter": [
                {"name": "valueSet", "resource": _inline_vs(version="20200908")},
                {"name": "check-system-version", "valueUri": f"{FFB}|20230517"},
            ],
        },
    )
    assert r.status_code == 400
    issue = r.json()["issue"][0]
    assert issue["expression"] == ["check-system-version"]
    assert "version 20200908" in issue["diagnostics"] and "20230517" in issue["diagnostics"]


def test_force_system_version_reaches_imported_value_sets(client):
    vs = {
        "resourceType": "ValueSet",
        "url": "http://example.org/vs/import",
        "status": "draft",
        "compose": {"include": [{"valueSet": [AD]}]},
    }
    forced = _post_expand(client, vs, **{"force-system-version": f"{FFB}|20230517"})
    assert {c["version"] for c in forced["contains"]} == {"20230517"}


@pytest.mark.parametrize("value", ["|", f"{FFB}|", "|20240530", FFB])
def test_system_version_that_is_not_a_canonical_is_400(client, value):
    r = client.get(
        "/fhir/ValueSet/$expand", params={"url": AD, "count": 1, "system-version": value}
    )
    assert r.status_code == 400 and r.json()["issue"][0]["expression"] == ["system-version"]


def test_value_set_version_must_match_the_held_version(client):
    r = client.get("/fhir/ValueSet/$expand", params={"url": AD, "valueSetVersion": "9.9"})
    assert r.status_code == 404 and "unversioned" in r.json()["issue"][0]["diagnostics"]
    assert client.get("/fhir/ValueSet/$expand", params={"url": f"{AD}|9.9"}).status_code == 404


def test_validate_code_with_a_codeable_concept(client):
    cc = {"coding": [{"system": FFB, "code": EGENOMSORG}, {"system": FFB, "code": VASKE_SIG}]}
    body = {
        "resourceType": "Parameters",
        "parameter": [
            {"name": "url", "valueUri": AD},
            {"name": "codeableConcept", "valueCodeableConcept": cc},
        ],
    }
    p = _params_of(client.post("/fhir/ValueSet/$validate-code", json=body).json())
    assert p["result"] is True and p["code"] == VASKE_SIG
    cc["coding"][1]["code"] = {"not": "a string"}
    assert client.post("/fhir/ValueSet/$validate-code", json=body).status_code == 400


def test_validate_code_of_a_retired_member_agrees_with_the_code_system(slice_client):
    from test_fhir_hostile import DRIKKE, SPISE, TEST_SYSTEM

    vs = _inline_vs()
    vs["compose"]["include"][0]["system"] = TEST_SYSTEM
    body = {
        "resourceType": "Parameters",
        "parameter": [
            {"name": "valueSet", "resource": vs},
            {"name": "system", "valueUri": TEST_SYSTEM},
            {"name": "code", "valueCode": SPISE},
        ],
    }
    in_set = _params_of(slice_client.post("/fhir/ValueSet/$validate-code", json=body).json())
    in_system = _params_of(
        slice_client.get(
            "/fhir/CodeSystem/$validate-code", params={"url": TEST_SYSTEM, "code": SPISE}
        ).json()
    )
    assert in_set["result"] is in_system["result"] is True
    assert in_set["inactive"] is in_system["inactive"] is True
    assert DRIKKE in in_set["message"] and DRIKKE in in_system["message"]
