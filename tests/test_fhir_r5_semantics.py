"""R5 terminology answers as the HL7 ecosystem gives them, end to end over HTTP.

Concept extensions reported as properties, value sets that list codes their code system lacks,
display issues without ``location``, and the expansion header; plus the QA check that keeps our
own value sets strict.
"""

from __future__ import annotations

import json
import shutil

import pytest
from conftest import ONTOLOGY, VASKE_SIG

from termserver.qa import ERROR, run_check
from termserver.valuesets import ValueSetError, ValueSetIndex, load_valuesets, read_valueset

EXT = "http://hl7.org/fhir/StructureDefinition/"
CS = "http://example.org/fhir/CodeSystem/presented"
SUPPLEMENT = "http://example.org/fhir/CodeSystem/presented-supplement"
PROPS = "http://hl7.org/fhir/concept-properties#"


def _codesystem() -> dict:
    return {
        "resourceType": "CodeSystem",
        "url": CS,
        "version": "1",
        "status": "active",
        "publisher": "Example",
        "content": "complete",
        "concept": [
            {
                "code": "a",
                "display": "Alpha",
                "extension": [
                    {"url": EXT + "codesystem-conceptOrder", "valueInteger": 2},
                    {"url": EXT + "codesystem-label", "valueString": "i."},
                    {"url": "http://example.org/unknown", "valueString": "ignored"},
                ],
            },
            {
                "code": "b",
                "display": "Beta",
                "extension": [
                    {"url": EXT + "codesystem-conceptOrder", "valueInteger": 1},
                    {
                        "url": EXT + "structuredefinition-standards-status",
                        "valueCode": "deprecated",
                    },
                    {"url": EXT + "rendering-style", "valueString": "font-weight: bold"},
                ],
            },
            {"code": "c", "display": "Gamma"},
        ],
    }


def _supplement() -> dict:
    return {
        "resourceType": "CodeSystem",
        "url": SUPPLEMENT,
        "version": "1",
        "status": "active",
        "content": "supplement",
        "supplements": CS,
        "concept": [
            {
                "code": "a",
                "extension": [
                    {"url": EXT + "itemWeight", "valueDecimal": 1.5},
                    {"url": EXT + "codesystem-label", "valueString": "(a)"},
                ],
            }
        ],
    }


def _valueset(*codes: str) -> dict:
    include: dict = {"system": CS}
    if codes:
        include["concept"] = [{"code": c} for c in codes]
    return {
        "resourceType": "ValueSet",
        "url": "http://example.org/fhir/ValueSet/presented",
        "version": "1",
        "status": "active",
        "publisher": "Example",
        "compose": {"include": [include]},
    }


def _expand(client, path: str, *extra: dict, vs: dict | None = None) -> dict:
    body = {
        "resourceType": "Parameters",
        "parameter": [
            {"name": "url", "valueUri": "http://example.org/fhir/ValueSet/presented"},
            *extra,
            {"name": "tx-resource", "resource": _codesystem()},
            {"name": "tx-resource", "resource": _supplement()},
            {"name": "tx-resource", "resource": vs or _valueset()},
        ],
    }
    r = client.post(f"{path}/ValueSet/$expand", json=body)
    assert r.status_code == 200, r.text
    return r.json()


def _by_code(doc: dict) -> dict[str, dict]:
    return {e["code"]: e for e in doc["expansion"]["contains"]}


def _props(entry: dict) -> dict[str, object]:
    return {
        p["code"]: next(v for k, v in p.items() if k.startswith("value"))
        for p in entry.get("property", [])
    }


def test_r5_expansion_reports_concept_extensions_as_properties(client):
    doc = _expand(client, "/fhir/r5")
    entries = _by_code(doc)
    assert _props(entries["a"]) == {"order": 2, "label": "i."}
    assert _props(entries["b"]) == {"order": 1, "status": "deprecated"}
    assert "property" not in entries["c"]
    # A deprecated concept is still active: no inactive flag.
    assert "inactive" not in entries["b"]
    assert entries["b"]["extension"] == [
        {"url": EXT + "rendering-style", "valueString": "font-weight: bold"}
    ]
    declared = {p["code"]: p["uri"] for p in doc["expansion"]["property"]}
    assert declared == {code: PROPS + code for code in ("order", "label", "status")}


def test_a_supplement_adds_and_overrides_extension_properties(client):
    use = {"name": "useSupplement", "valueCanonical": SUPPLEMENT}
    doc = _expand(client, "/fhir/r5", use, {"name": "property", "valueString": "definition"})
    a = _by_code(doc)["a"]
    assert _props(a) == {"order": 2, "label": "(a)", "weight": 1.5}
    declared = {p["code"]: p["uri"] for p in doc["expansion"]["property"]}
    assert declared["weight"] == PROPS + "itemWeight"
    used = [p["valueUri"] for p in doc["expansion"]["parameter"] if p["name"] == "used-supplement"]
    assert used == [f"{SUPPLEMENT}|1"]


def test_r4_expansion_and_lookup_do_not_show_extensions_as_properties(client):
    doc = _expand(client, "/fhir")
    assert all("property" not in e and "extension" not in e for e in doc["expansion"]["contains"])
    body = {
        "resourceType": "Parameters",
        "parameter": [
            {"name": "system", "valueUri": CS},
            {"name": "code", "valueCode": "a"},
            {"name": "tx-resource", "resource": _codesystem()},
        ],
    }
    for path in ("/fhir", "/fhir/r5"):
        r = client.post(f"{path}/CodeSystem/$lookup", json=body)
        assert r.status_code == 200, r.text
        codes = [
            part["valueCode"]
            for p in r.json()["parameter"]
            if p["name"] == "property"
            for part in p["part"]
            if part["name"] == "code"
        ]
        assert not any("://" in c for c in codes) and "label" not in codes, codes


def _lookup_a(client, cs: dict):
    """R5 $lookup of code ``a`` in ``cs``, given as tx-resource."""
    body = {
        "resourceType": "Parameters",
        "parameter": [
            {"name": "system", "valueUri": CS},
            {"name": "code", "valueCode": "a"},
            {"name": "tx-resource", "resource": cs},
        ],
    }
    return client.post("/fhir/r5/CodeSystem/$lookup", json=body)


def test_an_extension_without_a_usable_value_is_a_400_naming_its_path(client):
    cs = _codesystem()
    cs["concept"][0]["extension"][0] = {"url": EXT + "codesystem-conceptOrder"}
    r = _lookup_a(client, cs)
    assert r.status_code == 400
    assert "tx-resource[0].concept[0].extension[0]" in r.text
    assert "Traceback" not in r.text


def test_a_designation_extension_without_a_single_value_is_a_400_naming_its_path(client):
    cs = _codesystem()
    cs["concept"][0]["designation"] = [
        {
            "language": "de",
            "value": "Alpha",
            "extension": [{"url": EXT + "coding-sctdescid", "valueId": "1", "valueString": "2"}],
        }
    ]
    r = _lookup_a(client, cs)
    assert r.status_code == 400
    assert "tx-resource[0].concept[0].designation[0].extension[0]" in r.text


@pytest.mark.parametrize("path", ["/fhir", "/fhir/r5"])
def test_a_client_value_set_listing_an_unknown_code_leaves_it_out(client, path):
    doc = _expand(client, path, vs=_valueset("a", "nope", "c"))
    assert sorted(_by_code(doc)) == ["a", "c"]
    assert doc["expansion"]["total"] == 2


def test_r5_expansion_header_and_offset(client):
    r5 = _expand(client, "/fhir/r5")
    assert "publisher" not in r5 and "offset" not in r5["expansion"]
    paged = _expand(client, "/fhir/r5", {"name": "offset", "valueInteger": 1})
    assert paged["expansion"]["offset"] == 1 and len(paged["expansion"]["contains"]) == 2
    r4 = _expand(client, "/fhir")
    assert r4["publisher"] == "Example" and r4["expansion"]["offset"] == 0
    # The definition has no name: none is made up from its url.
    assert "name" not in r5 and "name" not in r4
    named = _expand(client, "/fhir/r5", vs={**_valueset(), "name": "Presented"})
    assert named["name"] == "Presented"


def _issues(client, coding: dict) -> list[dict]:
    body = {
        "resourceType": "Parameters",
        "parameter": [
            {"name": "url", "valueUri": "http://example.org/fhir/ValueSet/presented"},
            {"name": "coding", "valueCoding": coding},
            {"name": "tx-resource", "resource": _codesystem()},
            {"name": "tx-resource", "resource": _valueset("a")},
        ],
    }
    r = client.post("/fhir/r5/ValueSet/$validate-code", json=body)
    assert r.status_code == 200, r.text
    outcome = next(p["resource"] for p in r.json()["parameter"] if p["name"] == "issues")
    return outcome["issue"]


def test_r5_display_issues_carry_an_expression_but_no_location(client):
    [issue] = _issues(client, {"system": CS, "code": "a", "display": "Wrong"})
    assert issue["details"]["coding"][0]["code"] == "invalid-display"
    assert issue["expression"] == ["Coding.display"] and "location" not in issue
    # Other issues keep both.
    issues = _issues(client, {"system": CS, "code": "c"})
    assert [i["details"]["coding"][0]["code"] for i in issues] == ["not-in-vs"]
    assert issues[0]["location"] == issues[0]["expression"] == ["Coding.code"]


def test_termserver_check_fails_on_a_kl_value_set_listing_a_code_ffb_lacks(tmp_path):
    shutil.copytree(ONTOLOGY / "schemes", tmp_path / "schemes")
    shutil.copy(ONTOLOGY / "ffb-core.ttl", tmp_path / "ffb-core.ttl")
    (tmp_path / "valuesets").mkdir()
    (tmp_path / "valuesets" / "typo.json").write_text(
        '{"resourceType": "ValueSet", "url": "http://example.org/vs", "status": "draft",'
        ' "name": "Typo", "compose": {"include": [{"system": "urn:oid:1.2.208.176.2.22",'
        f' "concept": [{{"code": "{VASKE_SIG}"}}, {{"code": "{VASKE_SIG}x"}}]}}]}}}}',
        "utf-8",
    )
    report = run_check(tmp_path, owl=False)
    assert not report.ok
    broken = [f for f in report.findings if f.severity == ERROR]
    assert [f.rule for f in broken] == ["valueset-broken"]
    assert f"lists code '{VASKE_SIG}x'" in broken[0].message


def test_an_expansion_from_a_fragment_says_it_may_be_incomplete(client):
    cs = {**_codesystem(), "content": "fragment"}
    body = {
        "resourceType": "Parameters",
        "parameter": [
            {"name": "url", "valueUri": "http://example.org/fhir/ValueSet/presented"},
            {"name": "tx-resource", "resource": cs},
            {"name": "tx-resource", "resource": _valueset()},
        ],
    }
    doc = client.post("/fhir/r5/ValueSet/$expand", json=body).json()
    used = {p["name"]: p["valueUri"] for p in doc["expansion"]["parameter"]}
    assert used["used-fragment"] == used["used-codesystem"] == f"{CS}|1"
    assert doc["expansion"]["extension"] == [
        {"url": EXT + "valueset-unclosed", "valueBoolean": True},
        {
            "url": EXT + "valueset-unclosed-reason",
            "valueString": f"This extension is based on a fragment of the code system {CS}",
        },
    ]
    complete = _expand(client, "/fhir/r5")
    assert "extension" not in complete["expansion"]
    assert "used-fragment" not in {p["name"] for p in complete["expansion"]["parameter"]}


def test_our_own_value_sets_stay_strict_a_clients_copy_does_not(tmp_path, vocab):
    doc = {
        "resourceType": "ValueSet",
        "url": "http://example.org/vs",
        "status": "draft",
        "name": "Typo",
        "compose": {
            "include": [
                {
                    "system": "urn:oid:1.2.208.176.2.22",
                    "concept": [{"code": VASKE_SIG}, {"code": VASKE_SIG + "x"}],
                }
            ]
        },
    }
    (tmp_path / "typo.json").write_text(json.dumps(doc), "utf-8")
    ours = ValueSetIndex(vocab, load_valuesets(tmp_path))
    with pytest.raises(ValueSetError) as err:
        ours.expand(doc["url"])
    assert err.value.location == "ValueSet.compose.include[0].concept[1].code"
    clients = read_valueset(doc, source="tx-resource[0]")
    assert ValueSetIndex(vocab, {}).expand(clients).codes() == [VASKE_SIG]


@pytest.mark.parametrize("path", ["/fhir", "/fhir/r5"])
def test_a_clients_code_system_expands_and_pages_in_its_definition_order(client, path):
    from pathlib import Path

    suite = Path(__file__).parent / "data" / "tx-ecosystem" / "tests" / "simple"
    cs = json.loads((suite / "codesystem-simple.json").read_text("utf-8"))
    cs["concept"] = list(reversed(cs["concept"]))  # code3 first; its children follow their parent
    vs = json.loads((suite / "valueset-all.json").read_text("utf-8"))

    def page(offset: int) -> list[str]:
        body = {
            "resourceType": "Parameters",
            "parameter": [
                {"name": "url", "valueUri": vs["url"]},
                {"name": "count", "valueInteger": 2},
                {"name": "offset", "valueInteger": offset},
                {"name": "tx-resource", "resource": cs},
                {"name": "tx-resource", "resource": vs},
            ],
        }
        r = client.post(f"{path}/ValueSet/$expand", json=body)
        assert r.status_code == 200, r.text
        return [c["code"] for c in r.json()["expansion"]["contains"]]

    defined = []
    stack = list(reversed(cs["concept"]))
    while stack:
        entry = stack.pop()
        defined.append(entry["code"])
        stack.extend(reversed(entry.get("concept", [])))
    assert defined != sorted(defined)
    assert page(0) + page(2) + page(4) == defined[:6]


def test_a_value_set_naming_a_supplement_in_its_extension_gets_it_applied(client):
    from pathlib import Path

    ext_dir = Path(__file__).parent / "data" / "tx-ecosystem" / "tests" / "extensions"

    def load(name: str) -> dict:
        return json.loads((ext_dir / name).read_text("utf-8"))

    vs = load("valueset-extensions-enumerated.json")
    given = [load("codesystem-extensions.json"), vs]
    supplement = load("codesystem-supplement.json")

    def expand(resources: list[dict]):
        body = {
            "resourceType": "Parameters",
            "parameter": [
                {"name": "url", "valueUri": vs["url"]},
                *({"name": "tx-resource", "resource": r} for r in resources),
            ],
        }
        return client.post("/fhir/r5/ValueSet/$expand", json=body)

    r = expand([*given, supplement])
    assert r.status_code == 200, r.text
    used = [p for p in r.json()["expansion"]["parameter"] if p["name"] == "used-supplement"]
    assert used == [{"name": "used-supplement", "valueUri": f"{supplement['url']}|0.1.1"}]

    missing = expand(given)
    assert missing.status_code == 404
    issue = missing.json()["issue"][0]
    assert "Required supplement not found" in issue["details"]["text"]
    assert issue["expression"] == ["ValueSet.extension[1]"]


def test_a_concepts_own_status_property_is_reported_in_r5_expansions_not_in_lookups(client):
    from pathlib import Path

    suite = Path(__file__).parent / "data" / "tx-ecosystem" / "tests" / "simple"
    cs = json.loads((suite / "codesystem-simple.json").read_text("utf-8"))
    vs = json.loads((suite / "valueset-all.json").read_text("utf-8"))
    given = [{"name": "tx-resource", "resource": r} for r in (cs, vs)]

    def post(path: str, *params: dict) -> dict:
        r = client.post(path, json={"resourceType": "Parameters", "parameter": [*params, *given]})
        assert r.status_code == 200, r.text
        return r.json()

    exp = post(
        "/fhir/r5/ValueSet/$expand",
        {"name": "url", "valueUri": vs["url"]},
        {"name": "excludeNested", "valueBoolean": True},
    )["expansion"]
    code2 = next(c for c in exp["contains"] if c["code"] == "code2")  # status: retired in cs
    assert {"code": "status", "valueCode": "retired"} in code2["property"]
    assert {"code": "status", "uri": "http://hl7.org/fhir/concept-properties#status"} in exp[
        "property"
    ]
    code1 = next(c for c in exp["contains"] if c["code"] == "code1")  # no status given
    assert all(p["code"] != "status" for p in code1.get("property", []))
    for path in ("/fhir/CodeSystem/$lookup", "/fhir/r5/CodeSystem/$lookup"):
        looked = post(
            path,
            {"name": "system", "valueUri": cs["url"]},
            {"name": "code", "valueCode": "code2"},
        )
        props = [p for p in looked["parameter"] if p["name"] == "property"]
        codes = [next(x["valueCode"] for x in p["part"] if x["name"] == "code") for p in props]
        assert "http://hl7.org/fhir/concept-properties#status" not in codes


def _suite_extensions_expand(client, path: str) -> dict:
    """The suite's extensions value set (with its supplement) expanded with designations."""
    from pathlib import Path

    ext_dir = Path(__file__).parent / "data" / "tx-ecosystem" / "tests" / "extensions"
    names = ("codesystem-extensions.json", "codesystem-supplement.json")
    given = [json.loads((ext_dir / n).read_text("utf-8")) for n in names]
    vs = json.loads((ext_dir / "valueset-extensions-enumerated.json").read_text("utf-8"))
    body = {
        "resourceType": "Parameters",
        "parameter": [
            {"name": "url", "valueUri": vs["url"]},
            {"name": "includeDesignations", "valueBoolean": True},
            *({"name": "tx-resource", "resource": r} for r in (*given, vs)),
        ],
    }
    r = client.post(f"{path}/ValueSet/$expand", json=body)
    assert r.status_code == 200, r.text
    return r.json()


def test_r5_entries_carry_the_value_sets_own_concept_and_designation_extensions(client):
    entries = _by_code(_suite_extensions_expand(client, "/fhir/r5"))
    # The value set's conceptOrder and label win over the code system's and supplement's.
    assert _props(entries["code1"]) == {"order": 0, "label": "a.", "weight": 1.2}
    assert _props(entries["code4"]) == {"order": 3, "label": "d.", "weight": 4}
    deprecated = {"url": EXT + "valueset-deprecated", "valueBoolean": True}
    assert entries["code1"]["extension"] == [deprecated]
    definition = {"url": EXT + "valueset-concept-definition"}
    own = definition | {"valueString": "A valueset specific definition"}
    assert entries["code5"]["extension"] == [own]
    alternative = definition | {"valueString": "An alternative definition"}
    assert alternative in entries["code2"]["extension"]
    # Designation extensions: the code system's, and the value set's own known ones.
    assert entries["code1"]["designation"][0] == {
        "extension": [{"url": EXT + "coding-sctdescid", "valueId": "234234"}],
        "language": "de",
        "value": "Mein erster Code",
    }
    withdrawn = {"url": EXT + "structuredefinition-standards-status", "valueCode": "withdrawn"}
    assert entries["code2"]["designation"] == [
        {
            "extension": [withdrawn],
            "language": "de",
            "value": "2nd Code",
        },
        {
            "extension": [{"url": EXT + "coding-sctdescid", "valueId": "345356"}],
            "language": "de",
            "value": "Mein zweiter Code",
        },
    ]


def test_r4_entries_do_not_change_with_the_value_sets_concept_extensions(client):
    entries = _by_code(_suite_extensions_expand(client, "/fhir"))
    for e in entries.values():
        assert "extension" not in e and "property" not in e
        assert all("extension" not in d for d in e["designation"])
    assert [d["value"] for d in entries["code2"]["designation"]] == ["Display 2", "2nd Code"]
