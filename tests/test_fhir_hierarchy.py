"""Hierarchical $expand: ``contains`` nested by the code system's hierarchy where HL7 servers nest.

The rules follow the HL7 tx-ecosystem suite's general (hierarchical) responses and tx.fhir.org's
expander: a whole code system or one hierarchy filter nests; an enumeration, an import, two
filters, a page or ``excludeNested=true`` is flat. KL's own value sets and the R4 endpoint stay
flat unless the client asks with ``excludeNested=false`` (CONFORMANCE.md, "Hierarchical
expansions").
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from conftest import DATA

SUITE = DATA / "tx-ecosystem" / "tests"
SIMPLE = "http://hl7.org/fhir/test/CodeSystem/simple"
TREE = "http://example.org/fhir/CodeSystem/tree"
R4, R5 = "/fhir", "/fhir/r5"
#: One of KL's value sets over a two-level part of CareSocialCodes.
CARE_PLAN = "http://fhir.kl.dk/term/ValueSet/KLCarePlanCategoryCodes"


def _suite(name: str) -> dict:
    return json.loads((SUITE / name).read_text(encoding="utf-8-sig"))


SIMPLE_CS = _suite("simple/codesystem-simple.json")
SEARCH_CS = _suite("search/codesystem-search.json")


def _concept(code: str, *children: dict, **extra: Any) -> dict:
    return {"code": code, "display": code.title(), **extra, "concept": list(children)}


#: top > mid (inactive) > leaf; top > side; poly sits under side and (by property) under other.
TREE_CS = {
    "resourceType": "CodeSystem",
    "url": TREE,
    "version": "1",
    "status": "active",
    "content": "complete",
    "property": [
        {"code": "parent", "type": "code"},
        {"code": "inactive", "type": "boolean"},
        {"code": "notSelectable", "type": "boolean"},
    ],
    "concept": [
        _concept(
            "top",
            _concept(
                "mid",
                _concept("leaf"),
                property=[{"code": "inactive", "valueBoolean": True}],
            ),
            _concept("side", _concept("poly", property=[{"code": "parent", "valueCode": "other"}])),
            property=[{"code": "notSelectable", "valueBoolean": True}],
        ),
        _concept("other"),
    ],
}


def _vs(*include: dict, exclude: list | None = None) -> dict:
    compose: dict[str, Any] = {"include": list(include)}
    if exclude:
        compose["exclude"] = exclude
    return {"resourceType": "ValueSet", "status": "active", "compose": compose}


def _isa(system: str, code: str) -> dict:
    return {"system": system, "filter": [{"property": "concept", "op": "is-a", "value": code}]}


def _value(value: Any) -> dict:
    if isinstance(value, bool):
        return {"valueBoolean": value}
    if isinstance(value, int):
        return {"valueInteger": value}
    return {"valueString": value}


def expand(client, vs: dict | str, *resources: dict, path: str = R5, **params: Any) -> dict:
    """POST $expand of an inline value set (or a url) with ``resources`` as tx-resource."""
    body = [{"name": "tx-resource", "resource": r} for r in resources]
    if isinstance(vs, str):
        body.append({"name": "url", "valueUri": vs})
    else:
        body.append({"name": "valueSet", "resource": vs})
    body += [{"name": k, **_value(v)} for k, v in params.items()]
    r = client.post(
        f"{path}/ValueSet/$expand", json={"resourceType": "Parameters", "parameter": body}
    )
    assert r.status_code == 200, r.text
    return r.json()["expansion"]


def shape(contains: list[dict]) -> list:
    """The codes as a tree: a leaf is its code, a parent ``{code: [children]}``."""
    return [{c["code"]: shape(c["contains"])} if "contains" in c else c["code"] for c in contains]


def _flat(exp: dict) -> bool:
    return all("contains" not in c for c in exp.get("contains", ()))


SIMPLE_TREE = ["code1", {"code2": [{"code2a": ["code2aI", "code2aII"]}, "code2b"]}, "code3"]


def test_a_whole_code_system_nests_by_its_hierarchy_on_both_endpoints(client):
    whole = _vs({"system": SIMPLE})
    r5 = expand(client, whole, SIMPLE_CS)
    assert shape(r5["contains"]) == SIMPLE_TREE
    assert r5["total"] == 7  # every member counts, at whatever depth
    # R4's ValueSet.expansion.contains nests the same way when the client asks for it.
    r4 = expand(client, whole, SIMPLE_CS, path=R4, excludeNested=False)
    assert shape(r4["contains"]) == SIMPLE_TREE and r4["total"] == 7
    # An abstract (notSelectable), retired parent keeps its flags and its children.
    code2 = r5["contains"][1]
    assert code2["abstract"] is True and code2["inactive"] is True


def test_exclude_nested_gives_the_flat_list_of_the_same_members(client):
    flat = expand(client, _vs({"system": SIMPLE}), SIMPLE_CS, excludeNested=True)
    assert _flat(flat) and len(flat["contains"]) == flat["total"] == 7
    assert {"name": "excludeNested", "valueBoolean": True} in flat["parameter"]


def test_the_r4_endpoint_and_kl_value_sets_stay_flat_unless_asked(client):
    # Existing R4 clients read every member at the top level: unchanged without the parameter.
    r4 = expand(client, _vs({"system": SIMPLE}), SIMPLE_CS, path=R4)
    assert _flat(r4) and len(r4["contains"]) == 7
    # KL's own value sets are published as lists in Danish alphabetical order: flat on both
    # endpoints by default, exactly as before; nested when the client asks.
    for path in (R4, R5):
        plain = expand(client, CARE_PLAN, path=path)
        assert _flat(plain) and len(plain["contains"]) == plain["total"] == 8
    nested = expand(client, CARE_PLAN, path=R5, excludeNested=False)
    assert nested["total"] == 8 and len(nested["contains"]) == 4
    assert sorted(_codes(nested["contains"])) == sorted(c["code"] for c in plain["contains"])


def _codes(contains: list[dict]) -> list[str]:
    """Every code of a (nested) contains, depth first."""
    out: list[str] = []
    for c in contains:
        out.append(c["code"])
        out += _codes(c.get("contains", []))
    return out


def test_an_enumeration_an_import_or_two_filters_stay_flat(client):
    enum = _vs({"system": SIMPLE, "concept": [{"code": "code2"}, {"code": "code2a"}]})
    assert _flat(expand(client, enum, SIMPLE_CS, excludeNested=False))
    imported = {
        **_vs({"valueSet": ["#inner"]}),
        "contained": [{**_vs({"system": SIMPLE}), "id": "inner"}],
    }
    exp = expand(client, imported, SIMPLE_CS)
    assert _flat(exp) and exp["total"] == 7
    two = _isa(SIMPLE, "code2")
    two["filter"].append({"property": "prop", "op": "=", "value": "new"})
    exp = expand(client, _vs(two), SIMPLE_CS)
    assert _flat(exp) and exp["total"] == 3


def test_an_is_a_filter_nests_and_a_member_without_its_parent_goes_to_the_top(client):
    assert shape(expand(client, _vs(_isa(SIMPLE, "code2a")), SIMPLE_CS)["contains"]) == [
        {"code2a": ["code2aI", "code2aII"]}
    ]
    just_code2a = {"system": SIMPLE, "filter": [{"property": "code", "op": "=", "value": "code2a"}]}
    exp = expand(client, _vs(_isa(SIMPLE, "code2"), exclude=[just_code2a]), SIMPLE_CS)
    # Excluding by one filter keeps a hierarchy; code2a's children lost their parent.
    assert sorted(map(str, shape(exp["contains"]))) == sorted(
        map(str, [{"code2": ["code2b"]}, "code2aI", "code2aII"])
    )
    assert exp["total"] == 4


def test_active_only_lifts_children_to_the_nearest_shown_ancestor(client):
    simple = expand(client, _vs({"system": SIMPLE}), SIMPLE_CS, activeOnly=True)
    # code2 is retired and at the top: its children go to the top level.
    assert shape(simple["contains"]) == [
        "code1",
        {"code2a": ["code2aI", "code2aII"]},
        "code2b",
        "code3",
    ]
    assert simple["total"] == 6
    tree = expand(client, _vs(_isa(TREE, "top")), TREE_CS, activeOnly=True)
    # mid is inactive: leaf nests under top, mid's parent, as the tree is walked.
    assert sorted(map(str, shape(tree["contains"])[0]["top"])) == sorted(
        map(str, ["leaf", {"side": ["poly"]}])
    )


def test_a_member_under_two_parents_makes_the_expansion_flat(client):
    exp = expand(client, _vs({"system": TREE}), TREE_CS)
    assert _flat(exp) and exp["total"] == 6
    # Without the second parent in the expansion, poly nests under side.
    only_top = expand(client, _vs(_isa(TREE, "top")), TREE_CS)
    assert shape(only_top["contains"]) == [{"top": [{"mid": ["leaf"]}, {"side": ["poly"]}]}]


def test_two_includes_giving_the_same_code_are_flat_and_disjoint_ones_nest(client):
    twice = _vs(_isa(SIMPLE, "code2"), _isa(SIMPLE, "code2a"))
    exp = expand(client, twice, SIMPLE_CS)
    assert _flat(exp) and exp["total"] == 5
    apart = expand(client, _vs(_isa(SIMPLE, "code2a"), _isa(SIMPLE, "code3")), SIMPLE_CS)
    assert shape(apart["contains"]) == [{"code2a": ["code2aI", "code2aII"]}, "code3"]


@pytest.mark.parametrize(
    ("paging", "nested"),
    [
        ({"count": 2}, False),  # a count that cuts the list: a flat page
        ({"count": 7}, False),  # HL7 servers nest only when count exceeds the total
        ({"count": 8}, True),
        ({"offset": 1}, False),
        ({"offset": 0, "count": 100}, True),
    ],
)
def test_a_page_is_flat_and_counts_every_member(client, paging, nested):
    exp = expand(client, _vs({"system": SIMPLE}), SIMPLE_CS, **paging)
    assert exp["total"] == 7
    assert (not _flat(exp)) is nested
    if nested:
        assert shape(exp["contains"]) == SIMPLE_TREE


def test_a_text_filter_searches_a_whole_system_flat_but_keeps_a_filters_tree(client):
    # As the suite's search-all-yes / search-filter-yes (tx.fhir.org) answer.
    search = "http://hl7.org/fhir/test/CodeSystem/search"
    whole = expand(client, _vs({"system": search}), SEARCH_CS, filter="data")
    assert _flat(whole) and whole["total"] == 4
    under = expand(client, _vs(_isa(search, "data-exchange")), SEARCH_CS, filter="data")
    assert shape(under["contains"]) == [
        {"data-exchange": ["data-exchange1", "data-exchange2", "data-exchange3"]}
    ]


def test_a_nested_expansion_renders_as_xml(client):
    body = {
        "resourceType": "Parameters",
        "parameter": [
            {"name": "tx-resource", "resource": SIMPLE_CS},
            {"name": "valueSet", "resource": _vs(_isa(SIMPLE, "code2a"))},
        ],
    }
    r = client.post(f"{R5}/ValueSet/$expand?_format=xml", json=body)
    assert r.status_code == 200, r.text
    # contains inside contains, each with its code
    outer = r.text.index('<code value="code2a"/>')
    assert r.text.index('<code value="code2aI"/>') > outer
    assert r.text.count("<contains>") == 3


def test_the_runner_expects_hierarchical_expansions_unless_told_flat(tmp_path, live_server):
    """``python -m termserver.conformance`` runs the suite's general (hierarchical) responses by
    default; ``--flat`` picks its ``response:flat`` files, which our nested answers then miss."""
    from termserver.conformance.__main__ import main

    source = str(DATA / "tx-ecosystem")
    argv = ["--source", source, "--suite", "search", "--server", live_server, "--report"]
    general, flat = tmp_path / "general.json", tmp_path / "flat.json"
    assert main([*argv, str(general)]) == 0
    assert json.loads(general.read_text())["search"]["passed"] == 6
    assert main([*argv, str(flat), "--flat"]) == 1
    failures = json.loads(flat.read_text())["search"]["failures"]
    assert "$.expansion.contains" in failures["search-filter-yes"]
