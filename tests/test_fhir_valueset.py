"""FHIR ValueSet services: KL's value sets at their canonical URLs, $expand and $validate-code."""

from __future__ import annotations

import pytest
from conftest import EGENOMSORG, FFB, VASKE_SIG

KL = "http://fhir.kl.dk/term/ValueSet/"
AD = KL + "KLConditionADCodesFFB"


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
