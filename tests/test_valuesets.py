"""KL's value sets expand to exactly what KL publishes, and the engine handles every compose rule.

Expected members are computed here from the raw KL CodeSystem JSON (data/kl/), never through the
engine: the published FHIR Shorthand rules (hl7dk/kl-term input/fsh/KLCommonValuesets.fsh) are
restated below and evaluated by walking the JSON concept tree.
"""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest
from conftest import EGENOMSORG, FFB, KL, ONTOLOGY, VASKE_SIG, write_json

from termserver.errors import SourceError
from termserver.loading.fhir_codesystem import read_codesystem
from termserver.valuesets import (
    ValueSetDef,
    ValueSetError,
    ValueSetIndex,
    expand,
    load_valuesets,
    read_valueset,
    validate_code,
)
from termserver.vocabulary import Vocabulary

FSIII = "urn:oid:1.2.208.176.2.21"
CSC = "http://fhir.kl.dk/term/CodeSystem/CareSocialCodes"
VS = "http://fhir.kl.dk/term/ValueSet/"
FSH_REPO, FSH_PATH = "hl7dk/kl-term", "input/fsh/KLCommonValuesets.fsh"
FSH_COMMIT = "2b27508d3559419a9e10b965c35db8bc20bca876"
RAW_FILES = {
    (FFB, "20240530"): "CodeSystem-FFB-20240530.json",
    (FFB, "20200908"): "CodeSystem-FFB-20200908.json",
    (FSIII, "20240530"): "CodeSystem-FSIII.json",
    (CSC, "20250530"): "CodeSystem-CareSocialCodes.json",
}
NEWEST = {FFB: "20240530", FSIII: "20240530", CSC: "20250530"}
HJAELP_MED_FRIVILLIGE = "794ebc42-0639-46eb-aca2-40e996568578"
MAALGRUPPE = "cda90d67-f65a-4a34-b8d8-168ee9ff0949"
PROSTITUTION_TARGET_GROUP = "122f3f8e-84a0-476f-b9c5-0e40b1dcf113"
PROSTITUTION_CONDITION = "e993d8c3-b7d7-4d72-9be2-937e5ba38b5a"


# --- the raw KL JSON, walked directly ---------------------------------------------------------


@functools.cache
def raw_tree(system: str, version: str | None = None) -> dict[str, tuple[str, list[str]]]:
    """code -> (display, child codes), from the nested ``concept`` arrays of the KL file."""
    doc = json.loads((KL / RAW_FILES[system, version or NEWEST[system]]).read_text("utf-8"))
    tree: dict[str, tuple[str, list[str]]] = {}
    todo = list(doc["concept"])
    while todo:
        c = todo.pop()
        kids = c.get("concept", [])
        tree[c["code"]] = (c.get("display", c["code"]), [k["code"] for k in kids])
        todo.extend(kids)
    return tree


def below(system: str, *roots: str, version: str | None = None) -> set[tuple[str, str]]:
    """FSH ``include codes from system X where concept descendent-of #root`` (root excluded)."""
    tree = raw_tree(system, version)
    out: set[tuple[str, str]] = set()
    for root in roots:
        todo = list(tree[root][1])
        while todo:
            code = todo.pop()
            out.add((system, code))
            todo.extend(tree[code][1])
    return out


def codes(system: str, *listed: str) -> set[tuple[str, str]]:
    """FSH ``* X#code`` lines."""
    assert all(c in raw_tree(system) for c in listed)
    return {(system, c) for c in listed}


AD_THEMES = (
    "3856b434-f72e-42a5-b9d1-0cc93f48434b",  # Relationer
    "dfbe6ff6-223b-436a-b864-8ba29bda41e2",  # Samfundsliv
    "c2b186f9-9c10-478e-8345-2d2c37ab4c46",  # Kommunikation
    "eef71492-65f5-4297-aa95-3c3a6866ddef",  # Praktiske opgaver
    EGENOMSORG,
    "d1495b2c-1452-4e49-8dbe-8193af5d8823",  # Mobilitet
)

# The published rules of the value sets the FFB plan model binds (FSH @ FSH_COMMIT), restated.
PUBLISHED: dict[str, Callable[[], set[tuple[str, str]]]] = {
    "KLConditionADCodesFFB": lambda: below(FFB, *AD_THEMES),
    "KLConditionFFCodesFFB": lambda: below(
        FFB,
        "a134c31d-d316-46d4-935e-e500874dbbe1",  # Fysiske funktioner
        "25c5c614-305f-46cd-9891-55d564fc30cf",  # Mentale funktioner
        "e1836145-0c20-4e20-971e-d62dfe4ea1a0",  # Sociale forhold
        "4fb78b88-d3af-4cfb-84d7-f06daf423317",  # Sundhedsforhold
    ),
    "KLConditionOCodesFFB": lambda: below(FFB, "7445fb2b-0009-43d9-b49b-1b9782f2fcd9"),
    "KLConditionCodesFFB": lambda: (
        expected("KLConditionFFCodesFFB")
        | expected("KLConditionADCodesFFB")
        | expected("KLConditionOCodesFFB")
    ),
    "KLThemesFFB": lambda: codes(
        FFB,
        "4fb78b88-d3af-4cfb-84d7-f06daf423317",
        "25c5c614-305f-46cd-9891-55d564fc30cf",
        "e1836145-0c20-4e20-971e-d62dfe4ea1a0",
        "a134c31d-d316-46d4-935e-e500874dbbe1",
        EGENOMSORG,
        "3856b434-f72e-42a5-b9d1-0cc93f48434b",
        "c2b186f9-9c10-478e-8345-2d2c37ab4c46",
        "dfbe6ff6-223b-436a-b864-8ba29bda41e2",
        "d1495b2c-1452-4e49-8dbe-8193af5d8823",
        "eef71492-65f5-4297-aa95-3c3a6866ddef",
        "7445fb2b-0009-43d9-b49b-1b9782f2fcd9",
        "93433530-b85c-4d04-a4fb-5ae26cf16f1c",
        "740934cd-002b-4b96-b92e-b3562eed9448",
    ),
    "KLTargetGroupsFFB": lambda: codes(
        FFB,
        "1f23325e-c9c9-455b-bfe7-b4dcd1bb63e5",
        "f1c7ee41-21b4-4dba-9424-c874bf72b5e7",
        "ab7b7d7b-b7bb-4b8c-99d9-5c98a302b771",
        "0d66b364-958e-48cf-a18b-744fab284194",
        "7ef8be83-90d1-4375-b1cb-24710bea21c7",
        "5cb8997c-eb10-477f-b653-b2a5ff11ce7d",
        "6e155207-db12-419a-8d9c-d67756533056",
        "615310e8-f702-4455-910b-9d6d8aa684fb",
        "da298aec-cd7d-436c-9927-d88d00066881",
        "7b48f1a0-579b-4976-ae7c-4074b5981449",
        "d26f97e8-99ed-46a9-94db-93340f77a950",
        "1097d07f-1dba-4cc2-ae3a-399a501c2eb6",
        "9b3fd322-a75a-4ed8-9b74-425fa1e01c95",
        "cc6a58cf-d3d2-4e5f-b7fe-98b009647eac",
        "e6a269f5-944a-4ff8-b4d8-6dc2134d9167",
        "93d52b11-faa7-4ff7-b552-11a84cce8bf1",
        "71dfe6d1-ebc1-4414-8527-edf8e605c356",
        "5cfc9530-a193-4f66-9981-3b980ee9ea7b",
        "97c355cc-84e3-46d0-ac1b-00bc627d089f",
        "17ce646b-4469-4a73-82a9-9628436f6c70",
        "303deb9b-84f0-49d2-ab7a-f8b98eed40a2",
        "ee5b52bd-b839-4e69-ad04-c8b33eabfbde",
        "f2ccc0c0-2a0a-49c9-9d6a-741a7cd220a3",
        "6aac5ae6-ef06-4866-9c66-16d51ebbc83b",
        "192b7d79-415c-4f4f-9223-607938ecbe97",
        "afaa7e31-2b5d-4a49-9008-56aa8df8dc13",
        "d42d8f41-2d07-4391-a687-bad51172d0c9",
        "851b2a9d-cde2-4d5d-8f33-d03789022cbb",
        "293bf940-c075-4e3d-b5ef-6e331202e556",
        "3e3f5ebf-82c1-401b-ab5e-e6138a31da3a",
        "16075f99-3694-4878-a48d-b2f4b515cb76",
        "e1b59a4a-9cc2-4113-a5f1-84af588b02a2",
        "66fac925-3488-43b3-8e50-4510d3821b37",
        "3b166cb0-df17-4002-a4c4-69e9a943645c",
        "df42d472-06f6-4c5f-9dcf-64aa6cc20925",
        "6a038911-d866-4910-90ae-72ca55c641ea",
        "f1f4d709-19d2-48cc-8942-231bf912323d",
        "ab4413f0-fa81-41c0-ad8c-21782c12a0fa",
        "0e25a2ec-4f04-4d14-a5ad-a6519a7d1d5f",
        "122f3f8e-84a0-476f-b9c5-0e40b1dcf113",
        "6fd0f315-2297-4d66-b638-3f867a0900e0",
        "5e95db73-4d16-4084-93a3-595c0650b160",
        "c47fd846-f1e0-4786-89a4-88d00e7a86c0",
        "3412d671-22bf-456c-b963-c4e05c2725a0",
        "905caa77-2b98-48ce-b0e1-35dc4c1cc4bd",
    ),
    "KLInterventionsFFB": lambda: (
        below(
            FFB,
            "72a2a2d4-5a83-4093-ba1c-7f759c132801",  # Afklaring
            "a2256d86-1cf8-4da5-be49-1f49f4335ecb",  # Aktivitet og samvær
            "a1eaa022-9e5c-493c-83d3-7cc40b9df9e9",  # Ophold
            "d8505298-6ea5-4ca8-923d-6e4451cc9a48",  # Beskyttet beskæftigelse
            "a63f7092-63d9-4cb5-ace5-655b552fdacc",  # Støtte til praktiske opgaver
            "309b778e-52ed-448a-91ae-0650a6cd8b1b",  # Støtte til samfundsdeltagelse
            "4ff4a2d4-4cde-4a22-bb37-ecfbd3fd9650",  # Støtte til relationer og fællesskaber
            "329782cf-a740-4eb7-aa7e-aaaa9a53c99e",  # Støtte til sundhed
            "21dca9cf-c238-465b-9f12-15351f51b038",  # Forebyggende hjælp og støtte
        )
        - {(FFB, HJAELP_MED_FRIVILLIGE)}
    ),
    "KLSeveritiesFFB": lambda: below(FFB, "e89d317c-4657-4970-b614-ada2ed220595"),
    "KLChangeValueCodesFFB": lambda: below(FFB, "b5257b2d-0fbf-4d00-bf38-d298c8568116"),
    "KLNeedsAssessmentCodesFFB": lambda: below(FFB, "7ac451dc-773b-4877-baaf-1e6b1d5c8e28"),
    "KLFollowUpCodesFFB": lambda: below(FFB, "90479ffa-bf46-4b3a-a172-91f2798e2a43"),
    "KLServiceCodesFFB": lambda: codes(
        FFB,
        "9401777d-bdc5-4f52-9804-63c8cae9a792",
        "a0fb02a2-367c-48bc-bacd-92e49a861a4c",
        "25de7444-3919-4dab-b844-8cec6c15f30e",
        "498fe92c-d7f7-41cd-9404-5b38fe113be0",
        "070016aa-e164-4813-aca5-b75acab89d63",
        "d90f4da6-f87a-43b5-833f-646b4baf16d6",
        "a7cbf55b-6906-4b2a-872e-c48b4d728837",
        "5ea75f09-8eec-4edc-aafd-a330a523c33e",
    ),
    "KLGoalTypeCodes": lambda: below(CSC, "253bbdc0-c4ca-4e77-9d3e-3a9e51281636"),
    "KLCarePlanCategoryCodes": lambda: below(CSC, "10deb210-e7e1-4d56-9531-b9ff2102126e"),
    "KLEvaluationTypeCodes": lambda: below(CSC, "95ec4535-8fe8-4296-867c-35de421794cf"),
}


def expected(name: str) -> set[tuple[str, str]]:
    return PUBLISHED[name]()


def from_json_definition(doc: dict, docs: dict[str, dict]) -> set[tuple[str, str]]:
    """A second, deliberately naive reading of a definition file, over the raw KL JSON."""

    def part(p: dict) -> set[tuple[str, str]]:
        sets = []
        if "system" in p:
            s = p["system"]
            if "concept" in p:
                sets.append(codes(s, *(c["code"] for c in p["concept"])))
            else:
                assert [f["op"] for f in p["filter"]] == ["descendent-of"]
                sets.append(below(s, p["filter"][0]["value"]))
        sets.extend(from_json_definition(docs[u], docs) for u in p.get("valueSet", ()))
        return set.intersection(*sets)

    members = set().union(*(part(p) for p in doc["compose"]["include"]))
    return members - set().union(*(part(p) for p in doc["compose"].get("exclude", ())))


# --- fixtures ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def defs() -> dict[str, ValueSetDef]:
    return load_valuesets(ONTOLOGY / "valuesets")


@pytest.fixture(scope="module")
def index(vocab, defs) -> ValueSetIndex:
    return ValueSetIndex(vocab, defs)


def members(expansion) -> set[tuple[str, str]]:
    return {(c.system, c.code) for c in expansion.concepts}


TEST_CS = "http://example.org/CodeSystem/test"


@pytest.fixture(scope="module")
def small() -> Vocabulary:
    """A small code system that exercises every filter op: hierarchy, properties, statuses."""

    def concept(code, display, *kids, props=(), designations=()):
        c = {"code": code, "display": display, "concept": list(kids)}
        if props:
            c["property"] = list(props)
        if designations:
            c["designation"] = [{"value": d, "language": "en"} for d in designations]
        return c

    red = {"code": "colour", "valueString": "red"}
    blue = {"code": "colour", "valueString": "blue"}
    doc = {
        "resourceType": "CodeSystem",
        "id": "test",
        "url": TEST_CS,
        "version": "1",
        "content": "complete",
        "property": [
            {"code": "colour", "type": "string"},
            {"code": "status", "type": "code"},
            {"code": "notSelectable", "type": "boolean"},
            {"code": "parent", "type": "code"},
        ],
        "concept": [
            concept(
                "R",
                "Rod",
                concept(
                    "A",
                    "Alfa",
                    concept("A1", "Alfa en", props=[blue]),
                    concept("A2", "Alfa to", props=[{"code": "status", "valueCode": "retired"}]),
                    # C has two parents: A by nesting, B by property.
                    concept("C", "Charlie", props=[{"code": "parent", "valueCode": "B"}]),
                    props=[red],
                    designations=["Alpha"],
                ),
                concept(
                    "B",
                    "Beta",
                    concept("B1", "Beta en", concept("B11", "Beta en en")),
                    props=[{"code": "notSelectable", "valueBoolean": True}],
                ),
            ),
            concept("Z1", "Æble"),
            concept("Z2", "Øl"),
            concept("Z3", "Ål"),
            concept("Z4", "zebra"),
            concept("LONG", "a" * 3000 + "!"),
        ],
    }
    return Vocabulary([read_codesystem(doc, source="test.json")])


def vs_def(*include: dict, exclude: list | None = None, url: str = "urn:test:vs", **compose):
    body = {"include": list(include), **compose}
    if exclude:
        body["exclude"] = exclude
    return read_valueset(
        {"resourceType": "ValueSet", "url": url, "status": "active", "compose": body}
    )


def flt(op: str, value: str, prop: str = "concept") -> dict:
    return {"system": TEST_CS, "filter": [{"property": prop, "op": op, "value": value}]}


def small_codes(vocab: Vocabulary, vs: ValueSetDef, **kw) -> set[str]:
    return {c.code for c in expand(vocab, vs, **kw).concepts}


ALL_SMALL = {"R", "A", "A1", "A2", "B", "B1", "B11", "C", "Z1", "Z2", "Z3", "Z4", "LONG"}


# --- the definition files ---------------------------------------------------------------------


def test_every_definition_names_its_published_source(defs):
    assert len(defs) == 53
    for url, vs in defs.items():
        doc = vs.resource
        assert url == VS + vs.name == VS + Path(vs.source).stem
        assert doc["meta"]["source"].startswith(f"https://github.com/{FSH_REPO}/blob/{FSH_COMMIT}")
        ext = {e["url"]: e["valueString"] for e in doc["extension"][0]["extension"]}
        assert ext == {
            "repository": FSH_REPO,
            "path": FSH_PATH,
            "commit": FSH_COMMIT,
            "definition": f"ValueSet: {vs.name}",
        }
        assert doc["publisher"] == "Kommunernes Landsforening"
        assert vs.status == "active" and vs.title and vs.description


def test_the_value_sets_the_ffb_plan_model_binds_are_all_defined(defs):
    assert {VS + name for name in PUBLISHED} <= set(defs)


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_kl_value_set_expands_to_exactly_its_published_rule(index, name):
    want = expected(name)
    got = index.expand(VS + name)
    assert members(got) == want
    assert got.total == len(want) == len(got.concepts)


def test_every_definition_file_expands_to_what_its_compose_says(index, defs):
    docs = {vs.url: vs.resource for vs in defs.values()}
    for url, doc in docs.items():
        assert members(index.expand(url)) == from_json_definition(doc, docs), url
    assert index.check() == {}


def test_condition_ad_holds_vaske_sig_but_not_the_egenomsorg_theme(index):
    ad = VS + "KLConditionADCodesFFB"
    assert index.contains(ad, FFB, VASKE_SIG)
    assert not index.contains(ad, FFB, EGENOMSORG)  # descendent-of: the theme itself is not in
    assert index.contains(VS + "KLThemesFFB", FFB, EGENOMSORG)


def test_target_groups_are_the_explicit_leaf_list_under_maalgruppe(index):
    got = members(index.expand(VS + "KLTargetGroupsFFB"))
    assert len(got) == 45
    under_maalgruppe = below(FFB, MAALGRUPPE)
    tree = raw_tree(FFB)
    for system, code in got:
        assert (system, code) in under_maalgruppe and tree[code][1] == []
    # The target-group copy of "Prostitution", not the condition copy.
    assert (FFB, PROSTITUTION_TARGET_GROUP) in got
    assert (FFB, PROSTITUTION_CONDITION) not in got
    assert index.contains(VS + "KLConditionCodesFFB", FFB, PROSTITUTION_CONDITION)


def test_interventions_exclude_removes_a_code_its_include_selects(index):
    frivillige = (FFB, HJAELP_MED_FRIVILLIGE)
    assert frivillige in below(FFB, "21dca9cf-c238-465b-9f12-15351f51b038")
    assert frivillige not in members(index.expand(VS + "KLInterventionsFFB"))


def test_condition_codes_ffb_is_the_union_of_its_three_imports(index):
    got = index.expand(VS + "KLConditionCodesFFB")
    parts = [
        VS + n for n in ("KLConditionFFCodesFFB", "KLConditionADCodesFFB", "KLConditionOCodesFFB")
    ]
    assert members(got) == set().union(*(members(index.expand(p)) for p in parts))
    assert set(got.used_valuesets) == set(parts)
    assert got.used_codesystems == (f"{FFB}|20240530",)


# --- expansion options ------------------------------------------------------------------------


def test_filter_vasek_finds_vaske_sig_within_condition_ad(index):
    got = index.expand(VS + "KLConditionADCodesFFB", filter="vasek")
    assert "Vaske sig" in [c.display for c in got.concepts]
    assert members(got) <= expected("KLConditionADCodesFFB")
    assert got.total == len(got.concepts)


def test_filter_orders_by_relevance_and_stays_inside_the_value_set(index):
    got = index.expand(VS + "KLConditionADCodesFFB", filter="vaske sig")
    assert got.concepts[0].code == VASKE_SIG
    # Egenomsorg would match "egenomsorg" but is not a member of the A&D conditions.
    assert index.expand(VS + "KLConditionADCodesFFB", filter="egenomsorg").total == 0
    assert index.expand(VS + "KLThemesFFB", filter="egenomsorg").concepts[0].code == EGENOMSORG


def test_without_filter_our_value_sets_are_in_danish_alphabetical_order(small):
    ours = replace(
        vs_def({"system": TEST_CS, "concept": [{"code": c} for c in ("Z3", "Z2", "Z1", "Z4")]}),
        strict=True,
    )
    assert [c.display for c in expand(small, ours).concepts] == ["zebra", "Æble", "Øl", "Ål"]


def test_a_clients_value_set_keeps_its_compose_order(small):
    # HL7 servers expand includes in turn, each in its listed (or definition) order.
    theirs = vs_def(
        {"system": TEST_CS, "concept": [{"code": "Z3"}, {"code": "Z2"}]},
        {"system": TEST_CS, "concept": [{"code": "Z4"}, {"code": "Z1"}]},
    )
    assert [c.code for c in expand(small, theirs).concepts] == ["Z3", "Z2", "Z4", "Z1"]


def test_active_only_drops_retired_concepts(small):
    vs = vs_def(flt("is-a", "A"))
    assert small_codes(small, vs) == {"A", "A1", "A2", "C"}
    assert small_codes(small, vs, active_only=True) == {"A", "A1", "C"}


def test_compose_inactive_false_drops_retired_concepts(small):
    assert small_codes(small, vs_def(flt("is-a", "A"), inactive=False)) == {"A", "A1", "C"}


def test_paging_keeps_the_total(index):
    whole = index.expand(VS + "KLTargetGroupsFFB")
    page = index.expand(VS + "KLTargetGroupsFFB", offset=10, count=5)
    assert page.total == 45 and page.concepts == whole.concepts[10:15]


def test_system_versions_expand_against_an_older_release(index):
    got = index.expand(VS + "KLConditionADCodesFFB", system_versions={FFB: "20200908"})
    assert {c.version for c in got.concepts} == {"20200908"}
    assert got.used_codesystems == (f"{FFB}|20200908",)
    assert members(got) == below(FFB, *AD_THEMES, version="20200908")
    with pytest.raises(ValueSetError, match="no version '1999'") as err:
        index.expand(VS + "KLConditionADCodesFFB", system_versions={FFB: "1999"})
    assert err.value.issue_type == "not-found"


def test_index_contains_is_a_set_lookup(index):
    ad = VS + "KLConditionADCodesFFB"
    index.contains(ad, FFB, VASKE_SIG)  # warm
    start = time.perf_counter()
    for _ in range(20_000):
        index.contains(ad, FFB, VASKE_SIG)
    assert (time.perf_counter() - start) / 20_000 < 20e-6
    assert index.get(ad) is not None and index.get(ad + "|1.0") is None
    with pytest.raises(ValueSetError) as err:
        index.contains(VS + "NoSuchValueSet", FFB, VASKE_SIG)
    assert err.value.issue_type == "not-found"


# --- compose rules on a small code system -----------------------------------------------------


@pytest.mark.parametrize(
    ("op", "value", "prop", "want"),
    [
        ("is-a", "A", "concept", {"A", "A1", "A2", "C"}),
        ("descendent-of", "A", "concept", {"A1", "A2", "C"}),
        ("is-not-a", "A", "concept", ALL_SMALL - {"A", "A1", "A2", "C"}),
        ("child-of", "B", "concept", {"B1", "C"}),
        ("descendent-leaf", "R", "concept", {"A1", "A2", "B11", "C"}),
        ("generalizes", "B11", "concept", {"B11", "B1", "B", "R"}),
        ("=", "A1", "concept", {"A1"}),
        ("=", "Beta en", "display", {"B1"}),
        ("=", "red", "colour", {"A"}),
        ("=", "retired", "status", {"A2"}),
        ("=", "true", "inactive", {"A2"}),
        ("=", "true", "notSelectable", {"B"}),
        ("=", "B", "parent", {"B1", "C"}),
        ("in", "A1, B1", "concept", {"A1", "B1"}),
        ("in", "red,blue", "colour", {"A", "A1"}),
        ("not-in", "red", "colour", ALL_SMALL - {"A"}),
        ("not-in", "A1,B1", "concept", ALL_SMALL - {"A1", "B1"}),
        ("exists", "true", "colour", {"A", "A1"}),
        ("exists", "false", "colour", ALL_SMALL - {"A", "A1"}),
        ("regex", "A[0-9]", "concept", {"A1", "A2"}),
        ("regex", "Beta.*", "display", {"B", "B1", "B11"}),
        ("regex", "(?i)alfa", "display", {"A"}),  # the whole value must match
    ],
)
def test_filter_op(small, op, value, prop, want):
    assert small_codes(small, vs_def(flt(op, value, prop))) == want


def test_filters_in_one_include_are_anded_and_includes_are_ored(small):
    both = {
        "system": TEST_CS,
        "filter": [flt("is-a", "A")["filter"][0], *flt("exists", "true", "colour")["filter"]],
    }
    assert small_codes(small, vs_def(both)) == {"A", "A1"}
    assert small_codes(small, vs_def(flt("is-a", "A1"), flt("is-a", "B1"))) == {"A1", "B1", "B11"}


def test_system_without_concepts_or_filters_includes_the_whole_release(small):
    assert small_codes(small, vs_def({"system": TEST_CS})) == ALL_SMALL


def test_exclude_removes_codes_from_the_includes(small):
    vs = vs_def(
        flt("is-a", "R"),
        exclude=[flt("is-a", "B"), {"system": TEST_CS, "concept": [{"code": "A2"}]}],
    )
    assert small_codes(small, vs) == {"R", "A", "A1"}


def test_value_set_import_with_resolver_and_intersection(small):
    a = vs_def(flt("is-a", "A"), url="urn:test:a")
    b = vs_def(flt("is-a", "B"), url="urn:test:b")
    known = {a.url: a, b.url: b}
    union = vs_def({"valueSet": [a.url]}, {"valueSet": [b.url]})
    assert small_codes(small, union, resolve=known.get) == {"A", "A1", "A2", "C", "B", "B1", "B11"}
    both = vs_def({"valueSet": [a.url, b.url]})  # one include with two imports: intersection
    assert small_codes(small, both, resolve=known.get) == {"C"}
    narrowed = vs_def(
        {"system": TEST_CS, "concept": [{"code": "C"}, {"code": "A1"}], "valueSet": [b.url]}
    )
    assert small_codes(small, narrowed, resolve=known.get) == {"C"}
    got = expand(small, union, resolve=known.get)
    assert got.used_valuesets == ("urn:test:a", "urn:test:b")


def test_unknown_or_cyclic_imports_are_clear_errors(small):
    with pytest.raises(ValueSetError, match="urn:test:missing is not known") as err:
        expand(small, vs_def({"valueSet": ["urn:test:missing"]}), resolve={}.get)
    assert err.value.issue_type == "not-found"
    assert err.value.location == "ValueSet.compose.include[0].valueSet[0]"
    with pytest.raises(ValueSetError, match="not known"):
        expand(small, vs_def({"valueSet": ["urn:test:a"]}))  # no resolver at all
    inner = vs_def(flt("is-a", "NOPE"), url="urn:test:inner")
    outer = vs_def({"valueSet": [inner.url]}, url="urn:test:outer")
    with pytest.raises(ValueSetError, match="'NOPE' is not a code") as err:
        expand(small, outer, resolve={inner.url: inner}.get)
    assert err.value.value_set == "urn:test:inner"  # the error points into the imported one
    assert str(err.value).startswith("urn:test:inner ValueSet.compose.include[0].filter[0]: ")
    loop = vs_def({"valueSet": ["urn:test:loop"]}, url="urn:test:loop")
    with pytest.raises(ValueSetError, match="imports itself"):
        expand(small, loop, resolve={loop.url: loop}.get)


@pytest.mark.parametrize(
    ("include", "message", "location", "issue"),
    [
        ({"system": "urn:nope"}, "unknown code system", "include[0].system", "not-found"),
        (
            {"system": TEST_CS, "version": "9"},
            "has no version '9'",
            "include[0].system",
            "not-found",
        ),
        (
            {"system": TEST_CS, "concept": [{"code": "A"}, {"code": "NOPE"}]},
            "lists code 'NOPE'",
            "include[0].concept[1].code",
            "not-found",
        ),
        (flt("is-a", "NOPE"), "'NOPE' is not a code", "include[0].filter[0]", "not-found"),
        (flt("is-a", "A", "display"), "needs property 'concept'", "filter[0]", "not-supported"),
        (flt("exists", "maybe", "colour"), "true or false", "filter[0]", "invalid"),
    ],
)
def test_expansion_errors_name_the_element(small, include, message, location, issue):
    with pytest.raises(ValueSetError, match=message) as err:
        expand(small, vs_def(include), strict=True)
    assert err.value.location.endswith(location)
    assert err.value.location.startswith("ValueSet.compose.")
    assert err.value.issue_type == issue


def test_unknown_filter_op_in_a_hand_built_definition_is_not_supported(small):
    vs = ValueSetDef(
        "urn:test:x", None, "x", None, "active", None,
        {"include": [flt("sounds-like", "A")]},
    )  # fmt: skip
    with pytest.raises(ValueSetError, match="not supported") as err:
        expand(small, vs)
    assert err.value.issue_type == "not-supported"


# --- regex safety -----------------------------------------------------------------------------


@pytest.mark.parametrize("pattern", ["(a+)+$", "(a|a)*", "(a|aa)*b", "(.*a){20}", "(a*)*b"])
def test_catastrophic_regex_runs_in_linear_time(small, pattern):
    start = time.perf_counter()
    got = small_codes(small, vs_def(flt("regex", pattern, "display")))
    assert time.perf_counter() - start < 1.0
    assert "LONG" not in got  # 3000 a's and a "!" never match in full


@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        ("(a)\\1", "unsupported regex"),  # backreference
        ("(?=a)a", "unsupported regex"),  # look-ahead
        ("(", "invalid"),
        ("a{1000}{1000}{1000}", "invalid"),  # compiles past the size limit
        ("a" * 300, "longer than 256"),
    ],
)
def test_dangerous_or_broken_regex_is_refused_quickly(small, pattern, message):
    start = time.perf_counter()
    with pytest.raises(ValueSetError, match=message) as err:
        expand(small, vs_def(flt("regex", pattern, "display")))
    assert time.perf_counter() - start < 1.0
    assert err.value.location == "ValueSet.compose.include[0].filter[0]"


def test_regex_cannot_escape_its_anchors_or_its_literal(small):
    # An unbalanced ")" would turn "^(?:x)|(y)$" into an unanchored alternation; it is refused.
    with pytest.raises(ValueSetError):
        expand(small, vs_def(flt("regex", "A1)|(.*", "concept")))
    # Quotes and backslashes in a pattern reach the engine as written.
    assert small_codes(small, vs_def(flt("regex", '"\\\\', "display"))) == set()


# --- loading errors ---------------------------------------------------------------------------


GOOD = {
    "resourceType": "ValueSet",
    "url": "urn:test:good",
    "status": "active",
    "compose": {"include": [{"system": FFB, "concept": [{"code": VASKE_SIG}]}]},
}

IS_A_X = {"property": "concept", "op": "is-a", "value": "x"}
SOUNDS_LIKE = {"property": "concept", "op": "sounds-like", "value": "x"}


@pytest.mark.parametrize(
    ("change", "location", "message"),
    [
        (lambda d: d.update(resourceType="CodeSystem"), "$.resourceType", "expected 'ValueSet'"),
        (lambda d: d.pop("url"), "$.url", "required"),
        (lambda d: d.update(status="live"), "$.status", "must be one of"),
        (lambda d: d.pop("compose"), "$.compose", "required"),
        (lambda d: d["compose"].update(include=[]), "$.compose.include", "must not be empty"),
        (
            lambda d: d["compose"]["include"].append({"system": FFB, "filter": [SOUNDS_LIKE]}),
            "$.compose.include[1].filter[0].op",
            "unknown filter op 'sounds-like'",
        ),
        (
            lambda d: d["compose"]["include"][0]["concept"].append({"code": 7}),
            "$.compose.include[0].concept[1].code",
            "must be a string, got a number",
        ),
        (
            lambda d: d["compose"]["include"][0].update(filter=[IS_A_X]),
            "$.compose.include[0]",
            "vsd-3",
        ),
        (lambda d: d["compose"].update(include=[{"concept": []}]), "$.compose.include[0]", "vsd-1"),
        (
            lambda d: d["compose"].update(exclude={"system": FFB}),
            "$.compose.exclude",
            "must be an array",
        ),
        (
            lambda d: d["compose"]["include"][0].update(valueSet=[""]),
            "$.compose.include[0].valueSet[0]",
            "canonical",
        ),
    ],
)
def test_malformed_definition_error_names_file_and_json_path(tmp_path, change, location, message):
    doc = json.loads(json.dumps(GOOD))
    change(doc)
    write_json(tmp_path / "Broken.json", doc)
    with pytest.raises(SourceError) as err:
        load_valuesets(tmp_path)
    assert err.value.source == "Broken.json"
    assert err.value.location == location
    assert message in err.value.message
    assert str(err.value).startswith(f"Broken.json: {location}: ")


def test_invalid_json_and_duplicate_urls_are_reported_with_their_file(tmp_path):
    (tmp_path / "A.json").write_text('{"resourceType": "ValueSet",\n  "url": }', encoding="utf-8")
    with pytest.raises(SourceError, match=r"A\.json: line 2, column 10: invalid JSON"):
        load_valuesets(tmp_path)
    (tmp_path / "A.json").unlink()
    write_json(tmp_path / "A.json", GOOD)
    write_json(tmp_path / "B.json", GOOD)
    with pytest.raises(
        SourceError, match=r"B\.json: \$\.url: urn:test:good is already defined in A\.json"
    ):
        load_valuesets(tmp_path)


# --- validate-code ----------------------------------------------------------------------------


def test_validate_code_member_with_and_without_display(index, vocab, defs):
    ad = VS + "KLConditionADCodesFFB"
    ok = index.validate_code(ad, FFB, VASKE_SIG)
    assert ok.result and ok.concept.display == "Vaske sig" and ok.display_matched is None
    loose = index.validate_code(ad, FFB, VASKE_SIG, display="\xa0 VASKE  sig ")
    assert loose.result and loose.display_matched is True
    plain = validate_code(vocab, defs[ad], FFB, VASKE_SIG, display="vaske sig")
    assert plain.result and plain.display_matched is True


def test_validate_code_with_a_wrong_display_says_what_is_expected(index):
    r = index.validate_code(VS + "KLConditionADCodesFFB", FFB, VASKE_SIG, display="Vaske hår")
    assert not r.result and r.display_matched is False and r.concept.code == VASKE_SIG
    assert "wrong display 'Vaske hår'" in r.message and "'Vaske sig'" in r.message
    assert "forkert betegnelse 'Vaske hår'" in r.message_da and "'Vaske sig'" in r.message_da
    assert r.issue_type == "invalid"


def test_validate_code_outside_the_value_set_or_unknown(index):
    ad = VS + "KLConditionADCodesFFB"
    theme = index.validate_code(ad, FFB, EGENOMSORG)
    assert not theme.result and theme.concept.display == "Egenomsorg"
    assert "exists but is not in value set" in theme.message
    assert "er ikke med i værdisættet" in theme.message_da
    unknown = index.validate_code(ad, FFB, "no-such-code")
    assert not unknown.result and unknown.concept is None and unknown.issue_type == "not-found"
    assert "unknown code 'no-such-code'" in unknown.message
    system = index.validate_code(ad, "urn:nope", VASKE_SIG)
    assert not system.result and "unknown code system urn:nope" in system.message


def test_validate_code_in_a_named_code_system_version(index):
    ad = VS + "KLConditionADCodesFFB"
    old = index.validate_code(ad, FFB, VASKE_SIG, version="20200908")
    assert old.result and old.concept.version == "20200908"
    missing = index.validate_code(ad, FFB, VASKE_SIG, version="1999")
    assert not missing.result and missing.issue_type == "not-found"
    assert "no version '1999'" in missing.message and "20240530" in missing.message


def test_validate_code_accepts_designations_and_lists_them_when_wrong(small):
    vs = vs_def(flt("is-a", "A"))
    assert validate_code(small, vs, TEST_CS, "A", display=" ALPHA\xa0").display_matched is True
    wrong = validate_code(small, vs, TEST_CS, "A", display="Beta")
    assert not wrong.result and "other valid labels: 'Alpha'" in wrong.message
    assert "andre gyldige betegnelser: 'Alpha'" in wrong.message_da
