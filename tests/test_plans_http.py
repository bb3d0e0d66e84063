"""Plan validation over HTTP: OperationOutcome for FHIR, JSON reports for the native format."""

from __future__ import annotations

import json
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples" / "plans"
RULES = "https://w3id.org/ffb-termserver/plan-rules"


def _bundle() -> dict:
    return json.loads((EXAMPLES / "plan-bundle.json").read_text("utf-8"))


def test_valid_bundle_gives_an_informational_operation_outcome(client):
    r = client.post(
        "/fhir/Bundle/$validate",
        content=(EXAMPLES / "plan-bundle.json").read_bytes(),
        headers={"Content-Type": "application/fhir+json"},
    )
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/fhir+json")
    (issue,) = r.json()["issue"]
    assert issue["severity"] == "information"


def test_bundle_in_parameters_is_accepted(client):
    body = {
        "resourceType": "Parameters",
        "parameter": [{"name": "resource", "resource": _bundle()}],
    }
    r = client.post("/fhir/Bundle/$validate", json=body)
    assert r.status_code == 200 and r.json()["issue"][0]["severity"] == "information"


def test_findings_become_issues_with_rule_id_danish_text_and_fhirpath(client):
    doc = _bundle()
    plan = doc["entry"][0]["resource"]
    del plan["activity"]  # no støttebehovsvurdering on a granted plan
    r = client.post("/fhir/Bundle/$validate", json=doc)
    assert r.status_code == 200
    (issue,) = r.json()["issue"]
    assert issue["severity"] == "error"
    assert issue["details"]["coding"][0] == {
        "system": RULES,
        "code": "STRUCT-011",
        "display": "Bevilget plan uden støttebehovsvurdering",
    }
    assert "støttebehovsvurdering" in issue["details"]["text"]
    assert issue["expression"] == ["Bundle.entry[0].resource"]
    assert "need-of-support" in issue["diagnostics"]


def test_non_bundle_is_422_operation_outcome(client):
    r = client.post("/fhir/Bundle/$validate", json={"resourceType": "Patient"})
    assert r.status_code == 422
    assert "'Patient'" in r.json()["issue"][0]["diagnostics"]


def test_native_plan_to_the_fhir_endpoint_points_to_the_right_one(client):
    r = client.post(
        "/fhir/Bundle/$validate", content=(EXAMPLES / "borgerens-plan.json").read_bytes()
    )
    assert r.status_code == 422 and "/api/validate" in r.json()["issue"][0]["diagnostics"]


def test_malformed_json_is_400_naming_the_line(client):
    r = client.post("/fhir/Bundle/$validate", content=b'{"resourceType": "Bundle",\n ]')
    assert r.status_code == 400
    assert r.json()["issue"][0]["diagnostics"].startswith("linje 2, kolonne 2: ugyldig JSON")


def test_50_mb_body_is_413(client):
    r = client.post("/api/validate", content=b"x" * (50 * 1024 * 1024))
    assert r.status_code == 413
    assert r.json()["error"] == "too-costly"


def test_deeply_nested_body_is_400(client):
    r = client.post("/api/validate", content=b"[" * 5000 + b"]" * 5000,
                    headers={"Content-Type": "application/json"})  # fmt: skip
    assert r.status_code == 400 and "for dybt" in r.json()["message"]


def test_native_yaml_by_content_type(client):
    r = client.post(
        "/api/validate",
        content=(EXAMPLES / "borgerens-plan.yaml").read_bytes(),
        headers={"Content-Type": "application/yaml"},
    )
    assert r.status_code == 200
    assert r.json() == {
        "source": "body",
        "format": "native",
        "valid": True,
        "readable": True,
        "errors": 0,
        "warnings": 0,
        "information": 0,
        "findings": [],
    }


def test_native_json_report_lists_findings_with_json_paths(client):
    doc = json.loads((EXAMPLES / "borgerens-plan.json").read_text("utf-8"))
    del doc["goals"][4]["justification"]
    r = client.post("/api/validate", json=doc)
    assert r.status_code == 200
    body = r.json()
    assert body["valid"] is True and body["warnings"] == 1
    (f,) = body["findings"]
    assert (f["rule"], f["location"], f["recommendation"]) == ("QUAL-05", "$.goals[4]", 14)


def test_yaml_alias_bomb_is_400(client):
    bomb = b'a: &a ["x","x"]\nb: &b [*a,*a]\nc: [*b,*b]\n'
    r = client.post("/api/validate", content=bomb, headers={"Content-Type": "application/yaml"})
    assert r.status_code == 400 and "aliaser" in r.json()["message"]


def test_empty_body_is_400(client):
    r = client.post("/api/validate", content=b"")
    assert r.status_code == 400


def test_ndjson_endpoint_answers_one_report_per_plan(client):
    lines = [json.dumps(_bundle()), "[]", (EXAMPLES / "borgerens-plan.json").read_text("utf-8")
             .replace("\n", "")]  # fmt: skip
    r = client.post("/api/validate/ndjson", content="\n".join(lines).encode())
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/x-ndjson")
    reports = [json.loads(x) for x in r.text.splitlines()]
    assert [(x["source"], x["valid"]) for x in reports] == [
        ("body:1", True),
        ("body:2", False),
        ("body:3", True),
    ]
