"""Bad plan input gets a clear error naming where, quickly: never a crash, never a hang."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from termserver.plans.inputs import MAX_BYTES, PlanInputError, parse_json, parse_yaml
from termserver.plans.native_schema import json_schema
from termserver.plans.validate import validate_bytes

ROOT = Path(__file__).resolve().parent.parent
SCHEMA = ROOT / "schemas" / "borgerens-plan.schema.json"
EXAMPLES = ROOT / "examples" / "plans"


@pytest.fixture(scope="module")
def snapshot(vocab):
    from termserver.api.state import Snapshot
    from termserver.valuesets import ValueSetIndex, load_valuesets

    index = ValueSetIndex(vocab, load_valuesets(ROOT / "ontology" / "valuesets"))
    return Snapshot(vocab=vocab, release="test", valuesets=index)


def error_of(data: bytes, snapshot, name: str = "plan.json") -> PlanInputError:
    report = validate_bytes(data, snapshot, name)
    assert report.input_error is not None, report.findings
    return report.input_error


def test_malformed_json_names_line_and_column(snapshot):
    exc = error_of(b'{"resourceType": "Bundle",\n "entry": [}', snapshot)
    assert exc.location == "linje 2, kolonne 12"
    assert "ugyldig JSON" in exc.message


def test_malformed_yaml_names_the_line(snapshot):
    exc = error_of(b"id: x\ngoals:\n  - id: a\n   kind: [purpose\n", snapshot, "plan.yaml")
    assert exc.location.startswith("linje ")
    assert "ugyldig YAML" in exc.message


def test_non_bundle_resource_is_refused_by_name(snapshot):
    exc = error_of(b'{"resourceType": "Patient", "id": "x"}', snapshot)
    assert exc.status == 422 and "'Patient'" in exc.message


def test_a_json_array_is_not_a_plan(snapshot):
    assert error_of(b"[1, 2]", snapshot).status == 422


def test_50_mb_is_refused_before_parsing(snapshot):
    start = time.perf_counter()
    exc = error_of(b"{" + b" " * (50 * 1024 * 1024) + b"}", snapshot)
    assert exc.status == 413 and f"{MAX_BYTES:,}" in exc.message
    assert time.perf_counter() - start < 2


def test_deeply_nested_json_is_refused(snapshot):
    exc = error_of(b"[" * 100_000 + b"]" * 100_000, snapshot)
    assert "for dybt" in exc.message


def test_deeply_nested_yaml_is_refused(snapshot):
    exc = error_of(b"a: " + b"[" * 10_000 + b"]" * 10_000, snapshot, "plan.yaml")
    assert "dybere end" in exc.message


def test_yaml_alias_bomb_is_refused():
    bomb = b'a: &a ["x","x"]\nb: &b [*a,*a]\nc: &c [*b,*b]\nd: [*c,*c]\n'
    with pytest.raises(PlanInputError, match="aliaser"):
        parse_yaml(bomb, "bomb.yaml")


def test_yaml_python_tags_are_refused():
    with pytest.raises(PlanInputError, match="ikke tilladt"):
        parse_yaml(b"id: !!python/object/apply:os.system ['true']\n", "evil.yaml")


def test_yaml_keeps_dates_and_no_as_text():
    doc = parse_yaml(b"created: 2024-08-20\nanswer: no\nrank: 1\n", "p.yaml")
    assert doc == {"created": "2024-08-20", "answer": "no", "rank": 1}


def test_yaml_duplicate_keys_are_errors():
    with pytest.raises(PlanInputError, match="to gange"):
        parse_yaml(b"id: a\nid: b\n", "p.yaml")


def test_bundle_with_too_many_resources_is_refused(snapshot):
    doc = {"resourceType": "Bundle", "entry": [{"resource": {"resourceType": "Basic"}}] * 2001}
    exc = error_of(json.dumps(doc).encode(), snapshot)
    assert exc.status == 413 and exc.location == "Bundle.entry"


def test_reference_cycle_is_reported_not_followed(snapshot):
    doc = json.loads((EXAMPLES / "plan-bundle.json").read_text("utf-8"))
    goals = [e["resource"] for e in doc["entry"] if e["resource"]["resourceType"] == "Goal"]
    # A ring through every goal: each is "based on" the next.
    for g, nxt in zip(goals, goals[1:] + goals[:1], strict=True):
        g["extension"] = [
            {
                "url": "http://hl7.org/fhir/StructureDefinition/goal-relationship",
                "extension": [
                    {"url": "target", "valueReference": {"reference": f"Goal/{nxt['id']}"}}
                ],
            }
        ]
    start = time.perf_counter()
    report = validate_bytes(json.dumps(doc).encode(), snapshot, "ring.json")
    assert time.perf_counter() - start < 2
    cycles = [f for f in report.findings if f.rule == "STRUCT-014"]
    assert len(cycles) == 1 and cycles[0].message.count("→") == len(goals)


def test_wrong_types_in_a_bundle_are_findings_not_crashes(snapshot):
    doc = {
        "resourceType": "Bundle",
        "entry": [
            {"resource": {"resourceType": "CarePlan", "goal": "x", "category": [1]}},
            {"resource": {"resourceType": "Goal", "addresses": [{"reference": 5}]}},
            {"resource": "nope"},
            "nope",
        ],
    }
    report = validate_bytes(json.dumps(doc).encode(), snapshot, "odd.json")
    assert report.readable and not report.valid
    assert "STRUCT-016" in {f.rule for f in report.findings}


def test_wrong_types_in_a_native_plan_are_named_by_json_path(snapshot):
    report = validate_bytes(
        b'{"id": 7, "status": "aktiv", "intent": "order", "goals": [{"kind": "purpose"}]}',
        snapshot,
        "odd.json",
    )
    where = {f.location for f in report.findings if f.rule == "STRUCT-016"}
    assert {"$.id", "$.status", "$.goals[0].id"} <= where


def test_committed_json_schema_is_the_generated_one():
    assert json.loads(SCHEMA.read_text("utf-8")) == json_schema()


def test_native_example_satisfies_the_published_schema():
    import jsonschema

    schema = json.loads(SCHEMA.read_text("utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    doc = json.loads((EXAMPLES / "borgerens-plan.json").read_text("utf-8"))
    assert list(jsonschema.Draft202012Validator(schema).iter_errors(doc)) == []


def test_schema_and_reader_agree_on_a_misspelt_field():
    import jsonschema

    schema = json.loads(SCHEMA.read_text("utf-8"))
    doc = json.loads((EXAMPLES / "borgerens-plan.json").read_text("utf-8"))
    doc["goals"][0]["sucessCriterion"] = "x"
    assert list(jsonschema.Draft202012Validator(schema).iter_errors(doc))


def test_parse_json_accepts_text_and_bytes():
    assert parse_json('{"a": "ø"}', "x") == parse_json('{"a": "ø"}'.encode(), "x")
