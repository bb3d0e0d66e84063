"""A real FHIR client library (fhirpy) against a live server started by the test."""

from __future__ import annotations

import pytest
from conftest import EGENOMSORG, FFB, VASKE_SIG
from fhirpy import SyncFHIRClient
from fhirpy.base.exceptions import ResourceNotFound


@pytest.fixture(scope="module")
def fhir(live_server):
    return SyncFHIRClient(f"{live_server}/fhir")


def values(parameters: dict, name: str) -> list:
    return [
        next(v for k, v in p.items() if k.startswith("value"))
        for p in parameters["parameter"]
        if p["name"] == name
    ]


def test_client_reads_capabilities(fhir):
    cap = fhir.execute("metadata", method="get")
    assert cap["resourceType"] == "CapabilityStatement"


def test_client_looks_up_vaske_sig(fhir):
    out = fhir.execute(
        "CodeSystem/$lookup", method="get", params={"system": FFB, "code": VASKE_SIG}
    )
    assert values(out, "display") == ["Vaske sig"]


def test_client_posts_a_lookup_with_parameters(fhir):
    body = {
        "resourceType": "Parameters",
        "parameter": [{"name": "coding", "valueCoding": {"system": FFB, "code": EGENOMSORG}}],
    }
    out = fhir.execute("CodeSystem/$lookup", method="post", data=body)
    assert values(out, "display") == ["Egenomsorg"]


def test_client_validates_a_wrong_display(fhir):
    out = fhir.execute(
        "CodeSystem/$validate-code",
        method="get",
        params={"url": FFB, "code": VASKE_SIG, "display": "Vaske hår"},
    )
    assert values(out, "result") == [False]
    assert "Vaske sig" in values(out, "message")[0]


def test_client_sees_unknown_code_as_operation_outcome(fhir):
    with pytest.raises(ResourceNotFound) as info:
        fhir.execute("CodeSystem/$lookup", method="get", params={"system": FFB, "code": "nope"})
    assert "OperationOutcome" in str(info.value) and "unknown code 'nope'" in str(info.value)


def test_client_searches_code_systems(fhir):
    bundle = fhir.execute("CodeSystem", method="get", params={"url": FFB, "_summary": "true"})
    assert bundle["total"] == 3


def test_client_expands_a_kl_value_set_with_a_filter(fhir):
    vs = fhir.execute(
        "ValueSet/$expand",
        method="get",
        params={
            "url": "http://fhir.kl.dk/term/ValueSet/KLConditionADCodesFFB",
            "filter": "vasek sig",
            "count": 5,
        },
    )
    assert vs["expansion"]["contains"][0]["code"] == VASKE_SIG


def test_client_validates_a_code_against_a_value_set(fhir):
    body = {
        "resourceType": "Parameters",
        "parameter": [
            {"name": "url", "valueUri": "http://fhir.kl.dk/term/ValueSet/KLTargetGroupsFFB"},
            {"name": "coding", "valueCoding": {"system": FFB, "code": VASKE_SIG}},
        ],
    }
    out = fhir.execute("ValueSet/$validate-code", method="post", data=body)
    assert values(out, "result") == [False]
