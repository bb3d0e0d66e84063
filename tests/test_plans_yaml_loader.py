"""The YAML safety limits hold whichever PyYAML parser reads the events: libyaml's C parser
(``yaml.CSafeLoader``, used when PyYAML was built with it) or the pure-Python one."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from termserver.plans import inputs
from termserver.plans.inputs import MAX_DEPTH, PlanInputError, parse_json, parse_yaml

EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "plans"

LOADERS = [
    pytest.param(yaml.SafeLoader, id="python"),
    pytest.param(
        getattr(yaml, "CSafeLoader", None),
        id="libyaml",
        marks=pytest.mark.skipif(
            not hasattr(yaml, "CSafeLoader"), reason="PyYAML built without libyaml"
        ),
    ),
]


@pytest.fixture(params=LOADERS)
def loader(request, monkeypatch):
    monkeypatch.setattr(inputs, "_Loader", request.param)
    return request.param


def test_the_c_parser_is_used_when_pyyaml_has_it():
    assert inputs._Loader is getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def test_example_plan_reads_the_same_as_its_json_twin(loader):
    from_yaml = parse_yaml((EXAMPLES / "borgerens-plan.yaml").read_bytes(), "borgerens-plan.yaml")
    from_json = parse_json((EXAMPLES / "borgerens-plan.json").read_bytes(), "borgerens-plan.json")
    assert from_yaml == from_json


def test_alias_bomb_is_refused(loader):
    bomb = b'a: &a ["x","x"]\nb: &b [*a,*a]\nc: &c [*b,*b]\nd: [*c,*c]\n'
    with pytest.raises(PlanInputError, match="aliaser") as exc:
        parse_yaml(bomb, "bomb.yaml")
    assert exc.value.location == "linje 1, kolonne 4"


def test_anchor_on_a_scalar_is_refused(loader):
    with pytest.raises(PlanInputError, match="ankre"):
        parse_yaml(b"id: &x plan-1\n", "anchor.yaml")


def test_python_object_tag_is_refused(loader):
    with pytest.raises(PlanInputError, match="ikke tilladt"):
        parse_yaml(b"id: !!python/object/apply:os.system ['true']\n", "evil.yaml")


def test_python_tag_on_a_mapping_is_refused(loader):
    with pytest.raises(PlanInputError, match="python/object"):
        parse_yaml(b"id: !!python/object:os.Popen {args: [ls]}\n", "evil.yaml")


def test_nesting_one_level_past_the_cap_is_refused_and_at_the_cap_accepted(loader):
    # The document's own mapping is one level, so MAX_DEPTH - 1 flow lists fill the cap.
    at_cap = b"a: " + b"[" * (MAX_DEPTH - 1) + b"]" * (MAX_DEPTH - 1)
    assert parse_yaml(at_cap, "deep.yaml")["a"] is not None
    past = b"a: " + b"[" * MAX_DEPTH + b"]" * MAX_DEPTH
    with pytest.raises(PlanInputError, match=f"dybere end {MAX_DEPTH}"):
        parse_yaml(past, "deep.yaml")


def test_node_count_is_capped(loader, monkeypatch):
    # A collection counts at its start and at its end, so a list of 8 is 10 nodes.
    monkeypatch.setattr(inputs, "MAX_YAML_NODES", 10)
    assert parse_yaml(b"[1, 2, 3, 4, 5, 6, 7, 8]", "small.yaml") == list(range(1, 9))
    with pytest.raises(PlanInputError, match="mere end 10 elementer"):
        parse_yaml(b"[1, 2, 3, 4, 5, 6, 7, 8, 9]", "big.yaml")


def test_second_document_and_duplicate_key_are_refused(loader):
    with pytest.raises(PlanInputError, match="ét YAML-dokument"):
        parse_yaml(b"id: a\n---\nid: b\n", "two.yaml")
    with pytest.raises(PlanInputError, match="to gange"):
        parse_yaml(b"id: a\nid: b\n", "dup.yaml")


def test_quoted_and_plain_scalars_keep_yaml_1_2_core_types(loader):
    doc = parse_yaml(
        b'a: "1"\nb: 1\nc: no\nd: ~\ne: "~"\nf: 2024-08-20\ng: 1.5\nh: true\n5: x\n', "s.yaml"
    )
    assert doc == {
        "a": "1",
        "b": 1,
        "c": "no",
        "d": None,
        "e": "~",
        "f": "2024-08-20",
        "g": 1.5,
        "h": True,
        "5": "x",
    }


def test_malformed_yaml_names_line_and_column(loader):
    with pytest.raises(PlanInputError, match="ugyldig YAML") as exc:
        parse_yaml(b"id: a\ngoals: [x\n", "bad.yaml")
    assert exc.value.location.startswith("linje ")
