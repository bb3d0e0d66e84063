"""Translation: relation composition, forward, reverse, chains through FFB, dates, FHIR, CLI."""

from __future__ import annotations

import json
from datetime import date

import pytest
from conftest import FFB, ROOT

from termserver.errors import UnknownConceptError
from termserver.fhir.conceptmap_ops import (
    EQUIVALENCE,
    conceptmap_by_id,
    conceptmap_resource,
    conceptmap_resources,
    conceptmap_url,
    translate,
)
from termserver.fhir.outcome import FhirError
from termserver.fhir.params import OperationParams
from termserver.mappings import BROAD, CLOSE, EXACT, NARROW, PREDICATES, RELATED, inverse
from termserver.translate import Translator, compose, compose_all

MAPPINGS = ROOT / "mappings"
BASE = "https://w3id.org/ffb-termserver/"
VUM1 = BASE + "vum-1"
SEL50 = BASE + "sel-50"
BARNETS_LOV = BASE + "barnets-lov"
ICS = BASE + "ics"
FKM = BASE + "forandringskompas-misbrug"
FKP = BASE + "forandringskompas-plejetilbud"
EGENOMSORG = "da3f488f-1742-4d00-b247-a7d47500b36b"
MENTALE_FUNKTIONER = "25c5c614-305f-46cd-9891-55d564fc30cf"
VARETAGE_UDDANNELSE = "8888edfa-642b-4329-9fe3-a9b180e6d3f4"


@pytest.fixture(scope="module")
def tr(vocab):
    return Translator.from_directory(vocab, MAPPINGS)


def by_code(results):
    return {(t.system, t.code): t for t in results}


# --- composition ---------------------------------------------------------------------------------


def test_composition_table_as_documented():
    for r in PREDICATES:
        assert compose(EXACT, r) == r and compose(r, EXACT) == r
        assert compose(RELATED, r) == RELATED and compose(r, RELATED) == RELATED
    assert compose(CLOSE, CLOSE) == CLOSE
    assert compose(CLOSE, EXACT) == CLOSE
    assert compose(BROAD, BROAD) == BROAD
    assert compose(NARROW, NARROW) == NARROW
    assert compose(BROAD, NARROW) == RELATED
    assert compose(NARROW, BROAD) == RELATED
    assert compose(CLOSE, BROAD) == BROAD and compose(NARROW, CLOSE) == NARROW
    assert compose_all([]) == EXACT
    assert compose_all([EXACT, CLOSE, NARROW]) == NARROW


def test_composition_is_never_stronger_than_a_step():
    strength = {EXACT: 0, CLOSE: 1, BROAD: 2, NARROW: 2, RELATED: 3}
    for a in PREDICATES:
        for b in PREDICATES:
            assert strength[compose(a, b)] >= max(strength[a], strength[b])


def test_inverse():
    assert inverse(BROAD) == NARROW and inverse(NARROW) == BROAD
    for r in (EXACT, CLOSE, RELATED):
        assert inverse(r) == r


# --- forward, reverse, chains --------------------------------------------------------------------


def test_forward_one_step_with_provenance(tr):
    results = tr.translate("vum-1", "egenomsorg", target_system="ffb")
    assert len(results) == 1
    t = results[0]
    assert (t.system, t.code, t.display, t.scheme) == (FFB, EGENOMSORG, "Egenomsorg", "ffb")
    assert t.relation == CLOSE and t.proposed and t.confidence is None
    (step,) = t.path
    assert step.set_id == "vum-1--ffb" and not step.inverted
    m = step.mapping
    assert m.author == "termserver research notes, DOMAIN.md" and m.date == date(2026, 11, 23)
    assert m.reason.startswith("Same label") and m.line > 0


def test_forward_split_concept_gives_every_part(tr):
    results = tr.translate(VUM1, "sundhed", target_system=FFB)
    assert {t.display for t in results} == {
        "Sundhedsforhold",
        "Mentale funktioner",
        "Fysiske funktioner",
    }
    assert {t.relation for t in results} == {NARROW}


def test_reverse_from_ffb_to_local_tools(tr):
    results = by_code(tr.translate("ffb", EGENOMSORG, reverse=True))
    assert results[(VUM1, "egenomsorg")].relation == CLOSE
    assert results[(FKP, "egenomsorg")].relation == CLOSE
    # fkm "Fysisk helbred og egenomsorg" narrowMatch Egenomsorg, read back: the target is broader
    back = results[(FKM, "fysisk-helbred-og-egenomsorg")]
    assert back.relation == BROAD and back.path[0].inverted
    assert back.path[0].mapping.predicate == NARROW


def test_forward_from_ffb_finds_nothing_but_reverse_does(tr):
    # VUM 2.0 rows map FFB codes to themselves; a concept is never its own translation.
    assert tr.translate("ffb", EGENOMSORG) == []


def test_chain_vum1_to_compass_through_ffb(tr):
    results = tr.translate("vum-1", "sundhed", target_system="forandringskompas-misbrug")
    t = by_code(results)[(FKM, "psykisk-helbred")]
    assert [s.end for s in t.path] == [(FFB, MENTALE_FUNKTIONER), (FKM, "psykisk-helbred")]
    assert [s.set_id for s in t.path] == ["vum-1--ffb", "forandringskompas-misbrug--ffb"]
    assert [s.inverted for s in t.path] == [False, True]
    assert t.relation == NARROW  # narrowMatch then closeMatch
    assert t.confidence == 0.6  # the only stated confidence (medium) on the path
    assert t.proposed and t.display == "Psykisk helbred"


def test_chain_takes_the_weakest_confidence(tr):
    results = tr.translate("sel-50", "skoleforhold", target_system="ics")
    t = by_code(results)[(ICS, "dagtilbud-skole-og-laering")]
    assert [s.mapping.confidence for s in t.path] == [0.6, 0.3]
    assert t.confidence == 0.3 and t.relation == CLOSE
    assert t.path[0].end == (FFB, VARETAGE_UDDANNELSE)


def test_up_then_down_is_related_at_best(tr):
    t = by_code(tr.translate("forandringskompas-misbrug", "alkohol", target_system=FKP))
    alkohol = t[(FKP, "alkohol")]
    assert [s.relation for s in alkohol.path] == [BROAD, NARROW]
    assert alkohol.relation == RELATED


def test_best_path_per_target_unless_all_paths(tr):
    best = tr.translate("sel-50", "fritidsforhold-og-venskaber", target_system="ics")
    every = tr.translate(
        "sel-50", "fritidsforhold-og-venskaber", target_system="ics", all_paths=True
    )
    target = (ICS, "fritidsforhold-og-venskaber")
    assert by_code(best)[target].relation == CLOSE  # via Deltage i sociale fællesskaber ...
    assert sorted(t.relation for t in every if (t.system, t.code) == target) == sorted(
        [CLOSE, RELATED]
    )
    assert len(every) > len(best)


def test_results_leave_out_the_source_system_and_sort_best_first(tr):
    results = tr.translate("vum-1", "socialt-liv")
    assert all(t.system != VUM1 for t in results)
    ranks = [(t.relation in (EXACT, CLOSE), t.relation == RELATED) for t in results]
    assert ranks == sorted(ranks, key=lambda r: (not r[0], r[1]))


def test_max_steps_one_means_no_chains(tr):
    results = tr.translate("vum-1", "sundhed", max_steps=1)
    assert results and all(len(t.path) == 1 and t.system == FFB for t in results)
    with pytest.raises(ValueError):
        tr.translate("vum-1", "sundhed", max_steps=9)


def test_unknown_code_and_system(tr):
    with pytest.raises(UnknownConceptError, match="unknown code 'nope'"):
        tr.translate("vum-1", "nope")
    with pytest.raises(UnknownConceptError, match="unknown code system or scheme"):
        tr.translate("no-such-scheme", "x")


def test_to_dict_carries_path_and_provenance(tr):
    (t,) = tr.translate("vum-1", "egenomsorg", target_system="ffb")
    d = json.loads(json.dumps(t.to_dict()))
    assert d["target"] == {
        "system": FFB,
        "scheme": "ffb",
        "code": EGENOMSORG,
        "display": "Egenomsorg",
    }
    assert d["relation"] == CLOSE and d["status"] == "proposed" and d["steps"] == 1
    step = d["path"][0]
    assert step["mappingSet"] == "vum-1--ffb" and step["from"]["label"] == "Egenomsorg"
    assert step["provenance"]["justification"] == "semapv:ManualMappingCuration"
    assert step["provenance"]["status"] == "proposed"


# --- dates ---------------------------------------------------------------------------------------


def test_sel50_as_of_2025_points_to_barnets_lov(tr):
    later = by_code(tr.translate("sel-50", "familieforhold", as_of=date(2025, 1, 1)))
    t = later[(BARNETS_LOV, "bfu-familien")]
    assert t.display == "Familien" and t.proposed and t.confidence == 0.3
    assert t.path[0].mapping.valid_from == date(2024, 1, 1)
    earlier = tr.translate("sel-50", "familieforhold", as_of=date(2023, 6, 1))
    assert all(x.system != BARNETS_LOV for x in earlier)
    assert (FFB, "7a8f247b-baf8-4552-95bb-acf8ef004b74") in by_code(earlier)
    assert (BARNETS_LOV, "bfu-familien") in by_code(tr.translate("sel-50", "familieforhold"))


def test_no_concept_is_reached_in_a_scheme_not_valid_that_day(tr):
    # ICS → FFB → SEL § 50: § 50 ended on 2023-12-31.
    then = by_code(tr.translate("ics", "familieforhold-og-baggrund", as_of=date(2023, 6, 1)))
    assert (SEL50, "familieforhold") in then
    now = by_code(tr.translate("ics", "familieforhold-og-baggrund", as_of=date(2025, 1, 1)))
    assert (SEL50, "familieforhold") not in now
    assert (FKM, "sociale-netvaerk-og-familie") in now


# --- FHIR ConceptMap -----------------------------------------------------------------------------


def test_equivalence_choice():
    assert EQUIVALENCE == {
        EXACT: "equivalent",
        CLOSE: "inexact",
        BROAD: "wider",
        NARROW: "narrower",
        RELATED: "relatedto",
    }


def test_conceptmap_resource_shape(tr, vocab):
    ms = tr.mapping_set("vum-1--ffb")
    res = conceptmap_resource(ms, vocab)
    assert res["resourceType"] == "ConceptMap" and res["id"] == "vum-1--ffb"
    assert res["url"] == conceptmap_url(ms) == BASE + "mappings/vum-1--ffb"
    assert res["status"] == "draft" and res["experimental"] is True
    assert "18 af 18 mappinger er kun foreslået" in res["description"]
    (group,) = res["group"]
    assert group["source"] == VUM1 and group["target"] == FFB
    assert group["targetVersion"] == "20240530"
    elements = {e["code"]: e for e in group["element"]}
    assert len(elements) == 16  # 11 items and 5 scale values; Sundhed has three targets
    sundhed = elements["sundhed"]
    assert sundhed["display"] == "Sundhed"
    assert [t["equivalence"] for t in sundhed["target"]] == ["narrower"] * 3
    target = elements["egenomsorg"]["target"][0]
    assert target["code"] == EGENOMSORG and target["equivalence"] == "inexact"
    assert target["comment"].startswith("Foreslået (termserver research notes, DOMAIN.md")
    ext = {e["url"].rsplit("#", 1)[1]: e for e in target["extension"]}
    assert ext["mappingStatus"]["valueCode"] == "proposed"
    assert ext["skosRelation"]["valueUri"] == "http://www.w3.org/2004/02/skos/core#closeMatch"


def test_published_set_is_active(tr, vocab):
    res = conceptmap_by_id(tr, "vum-2--ffb")
    assert res["status"] == "active" and res["experimental"] is False
    first = res["group"][0]["element"][0]["target"][0]
    assert first["equivalence"] == "equivalent" and first["comment"].startswith("Publiceret")
    with pytest.raises(FhirError) as info:
        conceptmap_by_id(tr, "nope")
    assert info.value.status == 404
    assert len(conceptmap_resources(tr)) == len(tr.mapping_sets)
    assert [r["id"] for r in conceptmap_resources(tr, BASE + "mappings/ics--ffb")] == ["ics--ffb"]


def test_every_conceptmap_has_a_comment_on_each_narrower_or_inexact_target(tr, vocab):
    for ms in tr.mapping_sets:
        for el in conceptmap_resource(ms, vocab)["group"][0]["element"]:
            for t in el["target"]:
                if t["equivalence"] in ("narrower", "inexact"):
                    assert t.get("comment")  # R4: the sense SHALL be described


# --- FHIR $translate -----------------------------------------------------------------------------


def params(*pairs):
    return OperationParams.from_query(list(pairs))


def parts(match):
    return {p["name"]: p for p in match["part"]}


def out(result):
    by_name = {}
    for p in result["parameter"]:
        by_name.setdefault(p["name"], []).append(p)
    return by_name


def test_translate_chain_parameters(tr):
    res = translate(tr, params(("system", VUM1), ("code", "sundhed"), ("targetsystem", FKM)))
    assert res["resourceType"] == "Parameters"
    o = out(res)
    assert o["result"][0]["valueBoolean"] is True
    assert "only proposed" in o["message"][0]["valueString"]
    match = next(
        m for m in o["match"] if parts(m)["concept"]["valueCoding"]["code"] == "psykisk-helbred"
    )
    p = parts(match)
    assert p["equivalence"]["valueCode"] == "narrower"
    assert p["concept"]["valueCoding"] == {
        "system": FKM,
        "code": "psykisk-helbred",
        "display": "Psykisk helbred",
    }
    assert p["source"]["valueUri"] == BASE + "mappings/vum-1--ffb"
    ext = {e["url"].rsplit("#", 1)[1]: e for e in match["extension"]}
    assert ext["mappingStatus"]["valueCode"] == "proposed"
    assert ext["mappingConfidence"]["valueDecimal"] == 0.6
    assert "vum-1--ffb" in ext["mappingPath"]["valueString"]
    assert "forandringskompas-misbrug--ffb" in ext["mappingPath"]["valueString"]


def test_translate_reverse_and_url(tr):
    res = translate(
        tr,
        params(
            ("url", BASE + "mappings/vum-1--ffb"),
            ("system", FFB),
            ("code", EGENOMSORG),
            ("reverse", "true"),
        ),
    )
    codes = [parts(m)["concept"]["valueCoding"]["code"] for m in out(res)["match"]]
    assert codes == ["egenomsorg"]  # only the named map
    assert parts(out(res)["match"][0])["equivalence"]["valueCode"] == "inexact"


def test_translate_date_extension(tr):
    q = [("system", SEL50), ("code", "familieforhold"), ("targetsystem", BARNETS_LOV)]
    later = out(translate(tr, params(*q, ("date", "2025-01-01"))))
    assert later["result"][0]["valueBoolean"] is True
    earlier = out(translate(tr, params(*q, ("date", "2023-06-01"))))
    assert earlier["result"][0]["valueBoolean"] is False
    assert "2023-06-01" in earlier["message"][0]["valueString"]


def test_translate_codeable_concept_and_target_value_set(tr):
    body = {
        "resourceType": "Parameters",
        "parameter": [
            {
                "name": "codeableConcept",
                "valueCodeableConcept": {
                    "coding": [
                        {"system": "http://example.org/other", "code": "x"},
                        {"system": VUM1, "code": "mobilitet"},
                    ]
                },
            },
            {"name": "target", "valueUri": FFB + "?vs"},
        ],
    }
    res = out(translate(tr, OperationParams.from_body(body)))
    (match,) = res["match"]
    assert parts(match)["concept"]["valueCoding"]["display"] == "Mobilitet"


def test_translate_unknown_code_is_no_match(tr):
    res = out(translate(tr, params(("system", VUM1), ("code", "nope"))))
    assert res["result"][0]["valueBoolean"] is False
    assert "unknown code 'nope'" in res["message"][0]["valueString"]


@pytest.mark.parametrize(
    ("query", "status", "expression"),
    [
        ([("system", VUM1)], 400, None),
        ([("code", "sundhed")], 400, "system"),
        ([("system", "http://example.org/x"), ("code", "a")], 404, "system"),
        ([("url", BASE + "mappings/nope"), ("system", VUM1), ("code", "a")], 404, "url"),
        ([("system", VUM1), ("code", "sundhed"), ("date", "1.1.2025")], 400, "date"),
        ([("system", VUM1), ("code", "sundhed"), ("reverse", "ja")], 400, "reverse"),
        ([("system", VUM1), ("code", "sundhed"), ("targetsystem", "urn:x")], 404, "targetsystem"),
        ([("system", VUM1), ("code", "sundhed"), ("target", "http://vs/x")], 400, "target"),
        ([("system", VUM1), ("code", "sundhed"), ("source", FFB)], 400, "source"),
    ],
)
def test_translate_bad_input(tr, query, status, expression):
    with pytest.raises(FhirError) as info:
        translate(tr, params(*query))
    assert info.value.status == status
    if expression:
        assert info.value.expression == expression


def test_translate_inline_conceptmap_is_not_supported(tr):
    body = {
        "resourceType": "Parameters",
        "parameter": [
            {"name": "conceptMap", "resource": {"resourceType": "ConceptMap"}},
            {"name": "system", "valueUri": VUM1},
            {"name": "code", "valueCode": "sundhed"},
        ],
    }
    with pytest.raises(FhirError) as info:
        translate(tr, OperationParams.from_body(body))
    assert info.value.code == "not-supported"


# --- CLI -----------------------------------------------------------------------------------------


def run(*args):
    from typer.testing import CliRunner

    from termserver.cli import app

    return CliRunner().invoke(app, ["translate", *args])


def test_cli_translate_prints_path_and_provenance():
    result = run("vum-1", "sundhed", "--to", "forandringskompas-misbrug")
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "narrowMatch Psykisk helbred (forandringskompas-misbrug psykisk-helbred)" in text
    assert "foreslået, sikkerhed 0.6" in text
    assert "Sundhed (sundhed) —narrowMatch→ Mentale funktioner" in text
    assert "vum-1--ffb.yaml linje" in text and "termserver research notes, DOMAIN.md" in text


def test_cli_translate_json_and_dates():
    result = run("sel-50", "familieforhold", "--as-of", "2025-01-01", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert any(d["target"]["scheme"] == "barnets-lov" for d in data)
    result = run("sel-50", "familieforhold", "--as-of", "2023-06-01", "--to", "barnets-lov")
    assert result.exit_code == 1 and "Ingen oversættelser" in result.output
    assert run("sel-50", "familieforhold", "--as-of", "1.1.2025").exit_code == 2
    assert run("vum-1", "nope").exit_code == 1
