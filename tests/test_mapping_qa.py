"""Mapping QA across sets (contradictions, duplicates, one-to-many exactMatch, scales), the
coverage report per local tool, and mapping files that fail with every problem at once."""

from __future__ import annotations

import json
import shutil

import pytest
import yaml
from conftest import FFB, ONTOLOGY, ROOT
from typer.testing import CliRunner

from termserver.cli import app
from termserver.mapping_qa import check_mappings, coverage, mapping_findings
from termserver.mappings import (
    MappingFileError,
    check_mapping_set,
    load_mapping_sets,
    parse_mapping_set,
)
from termserver.qa import run_check
from termserver.translate import Translator

MAPPINGS = ROOT / "mappings"
EGENOMSORG = "da3f488f-1742-4d00-b247-a7d47500b36b"
MOBILITET = "d1495b2c-1452-4e49-8dbe-8193af5d8823"
RELATIONER = "3856b434-f72e-42a5-b9d1-0cc93f48434b"
# FFB funktionsevneniveau and støttebehovsniveau steps; FSIII's 0-4 scale
FFB_LET = "8328ce4a-6238-4f73-bf1a-74aadb68eff8"
FFB_MODERAT = "5bdde847-2837-416b-ab63-bbff8b7aa531"
FFB_SVAERT = "cae545f5-2813-4d79-98fc-0a7d770af3cd"
FFB_IKKE_VURDERET = "1c327095-107f-4b96-88d0-ec562cb980be"
STOETTE_MODERAT = "401a397b-b3aa-4ca3-8b23-bd8f99dd3f76"
FSIII_1 = "fcc16cb1-41f0-4832-b834-110fba0aaabe"
FSIII_2 = "d984ad21-48fe-4619-845e-2aa0303048e7"
runner = CliRunner()


def make(set_id: str, subject: str, obj: str, rows: list[tuple], vocab, **extra):
    """A mapping set read from YAML text, so rows carry file lines as real files do."""
    doc = {
        "id": set_id,
        "title": set_id,
        "subject_scheme": subject,
        "subject_system": vocab.system_of(subject),
        "object_scheme": obj,
        "object_system": vocab.system_of(obj),
        "mappings": [
            {
                "subject": s,
                "predicate": p,
                "object": o,
                "status": "proposed",
                "author": "Testholdet",
                "date": "2026-01-15",
                "reason": "Test fixture of real codes.",
                **extra,
            }
            for s, p, o in rows
        ],
    }
    if extra.get("status") == "published":
        for row in doc["mappings"]:
            row.pop("reason")
    return parse_mapping_set(yaml.safe_dump(doc, allow_unicode=True), f"{set_id}.yaml")


def rules(findings, severity=None):
    return sorted(f.rule for f in findings if severity is None or f.severity == severity)


@pytest.fixture(scope="module")
def sets():
    return load_mapping_sets(MAPPINGS)


# --- the committed content -------------------------------------------------------------------


def test_committed_sets_have_no_errors_and_two_unsourced_scale_crosswalks(sets, vocab):
    found = check_mappings(sets, vocab)
    assert rules(found, "error") == []
    unsourced = [f for f in found if f.rule == "mapping-scale-crosswalk-unsourced"]
    assert sorted(f.where for f in unsourced) == ["fsiii--ffb.yaml", "vum-1--ffb.yaml"]
    assert all("no source equates the two scales" in f.message for f in unsourced)
    assert not [f for f in found if f.rule == "mapping-scale-crosswalk-offered"]


# --- across sets -------------------------------------------------------------------------------


def test_exact_one_way_and_narrow_the_other_way_is_a_contradiction(vocab):
    a = make("a--ffb", "vum-1", "ffb", [("egenomsorg", "exactMatch", EGENOMSORG)], vocab)
    # FFB Egenomsorg narrowMatch VUM egenomsorg = VUM egenomsorg broadMatch FFB Egenomsorg
    b = make("ffb--b", "ffb", "vum-1", [(EGENOMSORG, "narrowMatch", "egenomsorg")], vocab)
    (f,) = [f for f in check_mappings([a, b], vocab) if f.severity == "error"]
    assert f.rule == "mapping-contradictory"
    assert f.where == "a--ffb.yaml line 3; ffb--b.yaml line 3"
    assert "exactMatch (a--ffb), narrowMatch (ffb--b)" in f.message


def test_same_mapping_twice_and_mixed_strength_are_warnings(vocab):
    a = make("a--ffb", "vum-1", "ffb", [("egenomsorg", "closeMatch", EGENOMSORG)], vocab)
    b = make("b--ffb", "vum-1", "ffb", [("egenomsorg", "closeMatch", EGENOMSORG)], vocab)
    c = make("c--ffb", "vum-1", "ffb", [("egenomsorg", "exactMatch", EGENOMSORG)], vocab)
    assert rules(check_mappings([a, b], vocab)) == ["mapping-duplicate-across-sets"]
    assert rules(check_mappings([a, c], vocab)) == ["mapping-mixed-strength"]


def test_one_to_many_exact_match_is_named_from_both_sides(vocab):
    a = make(
        "a--ffb",
        "vum-1",
        "ffb",
        [("egenomsorg", "exactMatch", EGENOMSORG), ("egenomsorg", "exactMatch", MOBILITET)],
        vocab,
    )
    (f,) = check_mappings([a], vocab)
    assert f.rule == "mapping-one-to-many-exact" and f.severity == "warning"
    assert f.message.startswith("egenomsorg (https://w3id.org/ffb-termserver/vum-1) has exactMatch")
    b = make(
        "b--ffb",
        "vum-1",
        "ffb",
        [("egenomsorg", "exactMatch", EGENOMSORG), ("mobilitet", "exactMatch", EGENOMSORG)],
        vocab,
    )
    assert rules(check_mappings([b], vocab)) == ["mapping-one-to-many-exact"]


def test_unknown_subject_and_object_have_their_own_rules(vocab):
    a = make(
        "a--ffb",
        "vum-1",
        "ffb",
        [("selvomsorg", "closeMatch", EGENOMSORG), ("egenomsorg", "closeMatch", "nope")],
        vocab,
    )
    found = check_mappings([a], vocab)
    assert [(f.rule, f.where) for f in found] == [
        ("mapping-subject-not-in-scheme", "a--ffb.yaml: line 3, mappings[0].subject"),
        ("mapping-unknown-code", "a--ffb.yaml: line 10, mappings[1].object"),
    ]
    assert "not in its scheme (vum-1)" in found[0].message


# --- scales: dimensions, not scores ----------------------------------------------------------


def test_compass_score_or_dimension_never_maps_to_a_severity(vocab):
    score = make(
        "k--ffb",
        "forandringskompas-misbrug",
        "ffb",
        [("skala-1-10-3", "closeMatch", FFB_MODERAT)],
        vocab,
    )
    dimension = make(
        "d--ffb",
        "forandringskompas-misbrug",
        "ffb",
        [("alkohol", "relatedMatch", FFB_MODERAT)],
        vocab,
    )
    (p,) = check_mapping_set(score, vocab)
    assert p.rule == "mapping-score-across-constructs" and p.severity == "error"
    assert "measures progression, not severity" in p.message
    (p,) = check_mapping_set(dimension, vocab)
    assert "a dimension must not map to a score of FFB funktionsevneniveau" in p.message


def test_severity_never_maps_to_support_need_and_steps_map_to_steps(vocab):
    support = make("s--ffb", "ffb", "ffb", [(FFB_MODERAT, "closeMatch", STOETTE_MODERAT)], vocab)
    (p,) = check_mapping_set(support, vocab)
    assert "measures severity, not support need" in p.message
    not_a_step = make("n--ffb", "fsiii", "ffb", [(FSIII_2, "closeMatch", FFB_IKKE_VURDERET)], vocab)
    (p,) = check_mapping_set(not_a_step, vocab)
    assert "a step of a scale must map to a step" in p.message


def test_unsourced_scale_crosswalk_is_a_proposal_and_never_exact(vocab):
    proposed = make(
        "f--ffb",
        "fsiii",
        "ffb",
        [(FSIII_1, "closeMatch", FFB_LET), (FSIII_2, "closeMatch", FFB_MODERAT)],
        vocab,
    )
    assert rules(check_mappings([proposed], vocab)) == ["mapping-scale-crosswalk-unsourced"]
    exact = make("e--ffb", "fsiii", "ffb", [(FSIII_1, "exactMatch", FFB_LET)], vocab)
    (p,) = check_mapping_set(exact, vocab)
    assert p.rule == "mapping-scale-exact-unsourced" and p.severity == "error"


def test_reversed_order_is_not_an_ordinal_crosswalk(vocab):
    reversed_ = make(
        "r--ffb",
        "fsiii",
        "ffb",
        [(FSIII_1, "closeMatch", FFB_SVAERT), (FSIII_2, "closeMatch", FFB_LET)],
        vocab,
    )
    found = check_mappings([reversed_], vocab)
    assert "mapping-scale-not-ordinal" in rules(found, "error")


def test_sourced_ordinal_crosswalk_is_offered_and_labelled(vocab):
    # The mechanism, on real codes: no such source exists today (DOMAIN.md §9), which the
    # committed content shows as a proposal; this fixture stands for one that states it.
    sourced = make(
        "fsiii-scale--ffb-funktionsevneniveau",
        "fsiii",
        "ffb",
        [(FSIII_1, "closeMatch", FFB_LET), (FSIII_2, "closeMatch", FFB_MODERAT)],
        vocab,
        status="published",
        source="https://example.org/a-crosswalk-stating-the-two-scales-are-one",
    )
    found = check_mappings([sourced], vocab)
    assert rules(found) == ["mapping-scale-crosswalk-offered"]
    assert found[0].severity == "information" and "example.org" in found[0].message


def test_coverage_says_when_a_scale_has_no_sourced_crosswalk(sets, vocab):
    by_tool = {c.scheme: c for c in coverage(sets, vocab)}
    (vum_scale,) = by_tool["vum-1"].scales
    assert (vum_scale.mapped_steps, vum_scale.steps, vum_scale.sourced) == (5, 5, False)
    assert "ingen kilde sidestiller skalaerne" in vum_scale.note
    (compass,) = by_tool["forandringskompas-misbrug"].scales
    assert compass.mapped_steps == 0 and compass.construct == "progression"
    assert "map dimensionen, behold scoren" in compass.note


# --- coverage ----------------------------------------------------------------------------------


def test_coverage_per_local_tool(sets, vocab):
    by_tool = {c.scheme: c for c in coverage(sets, vocab)}
    assert set(by_tool) == {
        "vum-1",
        "sel-50",
        "barnets-lov",
        "ics",
        "ics-dubu",
        "forandringskompas-misbrug",
        "forandringskompas-plejetilbud",
    }
    vum = by_tool["vum-1"]
    assert (len(vum.mapped), len(vum.items), vum.published) == (11, 11, 0)
    socialt_liv = next(i for i in vum.items if i.code == "socialt-liv")
    assert socialt_liv.best.code == RELATIONER and socialt_liv.best.relation == "skos:closeMatch"
    assert socialt_liv.best.status == "proposed" and socialt_liv.best.system == FFB
    assert {g for g in vum.groups} == {"temaer", "maalgrupper"}
    assert [(i.code, i.label) for i in by_tool["sel-50"].unmapped] == [
        ("andre-relevante-forhold", "Andre relevante forhold")
    ]
    dubu = by_tool["ics-dubu"]
    assert len(dubu.mapped) == 0 and len(dubu.unmapped) == 19


def test_coverage_reads_mappings_from_the_item_both_ways(sets, vocab):
    # Barnets lov is only ever an object (sel-50 --broadMatch--> barnets-lov): read from the
    # Barnets lov item the relation is the inverse, narrowMatch.
    (bl,) = coverage(sets, vocab, ["barnets-lov"])
    child = next(i for i in bl.items if i.code == "bfu-barnet-eller-den-unge")
    assert {t.relation for t in child.targets} == {"skos:narrowMatch"}
    assert {t.scheme for t in child.targets} == {"sel-50"}


def test_coverage_from_a_translator_is_json_data(vocab, sets):
    report = coverage(Translator(sets, vocab), vocab, ["vum-1"])
    data = json.loads(json.dumps([c.to_dict() for c in report], ensure_ascii=False))
    (vum,) = data
    assert vum["mapped"] == 11 and vum["proposed"] == 11 and vum["unmapped"] == []
    assert vum["byBestRelation"] == {"closeMatch": 10, "narrowMatch": 1}
    assert vum["scales"][0]["sourced"] is False


def test_cli_coverage_in_danish_and_json():
    r = runner.invoke(app, ["coverage", "sel-50"])
    assert r.exit_code == 0, r.output
    text = " ".join(r.output.split())
    assert "5 af 6 punkter mappet" in text and "ikke mappet:" in text
    assert "andre-relevante-forhold Andre relevante forhold" in text
    r = runner.invoke(app, ["coverage", "--json"])
    assert r.exit_code == 0 and len(json.loads(r.output)) == 7
    assert runner.invoke(app, ["coverage", "nope"]).exit_code == 2


# --- loading fails with every problem at once ---------------------------------------------------


def bad_copy(tmp_path):
    """The committed mappings, with one syntax error and one unknown relation + duplicate row."""
    target = tmp_path / "mappings"
    shutil.copytree(MAPPINGS, target)
    ics = target / "ics--ffb.yaml"
    ics.write_text(ics.read_text("utf-8").replace("title: ", "title: [", 1), "utf-8")
    vum = target / "vum-1--ffb.yaml"
    text = vum.read_text("utf-8").replace("predicate: closeMatch", "predicate: sameAs", 1)
    first_row = text[text.index("- subject: egenomsorg") : text.index("- subject: kommunikation")]
    vum.write_text(text + first_row, "utf-8")
    return target


def test_load_lists_every_problem_of_every_file(tmp_path):
    with pytest.raises(MappingFileError) as info:
        load_mapping_sets(bad_copy(tmp_path))
    problems = [(p.source, p.location) for p in info.value.problems]
    assert problems[0] == ("ics--ffb.yaml", "line 9, column 12")  # the unclosed [
    assert ("vum-1--ffb.yaml", "line 24, mappings[0].predicate") in problems


def test_duplicate_rows_and_unknown_codes_are_listed_together(tmp_path, vocab):
    target = tmp_path / "mappings"
    shutil.copytree(MAPPINGS, target)
    vum = target / "vum-1--ffb.yaml"
    text = vum.read_text("utf-8")
    row = text[text.index("- subject: egenomsorg") : text.index("- subject: kommunikation")]
    vum.write_text(text + row, "utf-8")
    with pytest.raises(MappingFileError) as info:
        load_mapping_sets(target)
    (dup,) = info.value.problems
    assert "the same mapping as mappings[1]" in dup.message
    vum.write_text(text.replace("subject: egenomsorg", "subject: selvomsorg"), "utf-8")
    found = mapping_findings(vocab, target)
    assert [f.rule for f in found if f.severity == "error"] == ["mapping-subject-not-in-scheme"]


def test_check_reports_bad_mapping_files_and_prints_coverage(tmp_path, monkeypatch):
    monkeypatch.setenv("TERMSERVER_MAPPINGS", str(bad_copy(tmp_path)))
    report = run_check(ONTOLOGY, owl=False)
    assert not report.ok
    bad = [f for f in report.findings if f.rule == "mapping-file-invalid"]
    assert {f.where for f in bad} == {"ics--ffb.yaml", "vum-1--ffb.yaml"}
    monkeypatch.delenv("TERMSERVER_MAPPINGS")
    r = runner.invoke(app, ["check", "--no-owl"])
    text = " ".join(r.output.split())
    assert "mapping-coverage" in text and "11 af 11 punkter mappet" in text
