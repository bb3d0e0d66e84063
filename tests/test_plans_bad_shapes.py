"""Wrongly shaped elements inside an otherwise good plan become findings at their path, never a
crash (each case once raised TypeError, AttributeError or KeyError from the readers)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from termserver.plans.validate import validate_bytes

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples" / "plans"


@pytest.fixture(scope="module")
def snapshot(vocab):
    from termserver.api.state import Snapshot
    from termserver.valuesets import ValueSetIndex, load_valuesets

    index = ValueSetIndex(vocab, load_valuesets(ROOT / "ontology" / "valuesets"))
    return Snapshot(vocab=vocab, release="test", valuesets=index)


def bundle() -> dict:
    return json.loads((EXAMPLES / "plan-bundle.json").read_text("utf-8"))


def entry(doc: dict, resource_type: str, predicate=lambda r: True) -> tuple[int, dict]:
    return next(
        (i, e["resource"])
        for i, e in enumerate(doc["entry"])
        if e["resource"]["resourceType"] == resource_type and predicate(e["resource"])
    )


def findings(doc: dict, snapshot, name: str = "plan.json") -> list[tuple[str, str]]:
    report = validate_bytes(json.dumps(doc).encode(), snapshot, name)
    assert report.readable, report.input_error
    return [(f.rule, f.location) for f in report.findings]


def test_condition_meta_that_is_not_an_object_is_ignored(snapshot):
    doc = bundle()
    _, cond = entry(
        doc, "Condition", lambda r: r["meta"]["profile"][0].endswith("/KLCommonCareSocialCondition")
    )
    cond["meta"] = "KLCommonCareSocialCondition"
    # The meta only tells a target group from a condition; this one stays a valid condition.
    assert findings(doc, snapshot) == []


def test_contributor_reference_that_is_not_text_is_ignored(snapshot):
    doc = bundle()
    _, plan = entry(doc, "CarePlan", lambda r: not r.get("basedOn"))
    plan["contributor"] = [{"reference": 5}]
    # The citizen's involvement is still recorded by their note, so the plan stays clean.
    assert findings(doc, snapshot) == []


def test_rank_extension_that_is_not_a_list_is_a_format_finding(snapshot):
    doc = bundle()
    i, goal = entry(doc, "Goal", lambda r: len(r.get("addresses", ())) == 1)
    goal["addresses"][0]["extension"] = 1
    found = findings(doc, snapshot)
    where = f"Bundle.entry[{i}].resource.addresses[0].extension"
    assert ("STRUCT-016", where) in found
    # Without its rank the goal has no rank-1 condition any more.
    assert ("STRUCT-005", f"Bundle.entry[{i}].resource") in found


def test_native_goal_link_without_condition_is_reported_as_required(snapshot):
    doc = json.loads((EXAMPLES / "borgerens-plan.json").read_text("utf-8"))
    g = next(i for i, g in enumerate(doc["goals"]) if len(g.get("addresses", ())) == 1)
    del doc["goals"][g]["addresses"][0]["condition"]
    found = findings(doc, snapshot)
    assert ("STRUCT-016", f"$.goals[{g}].addresses[0].condition") in found
