"""Mapping sets: the YAML format, its JSON Schema, errors that point into the file, the content."""

from __future__ import annotations

import dataclasses
import json
import time
from datetime import date

import pytest
import yaml
from conftest import FFB, ROOT

from termserver.errors import SourceError
from termserver.loading.local_tool_mappings import (
    RESEARCH_AUTHOR,
    mapping_sets_from_local_tools,
    write_mapping_sets,
)
from termserver.mappings import (
    CLOSE,
    MANUAL_CURATION,
    PREDICATES,
    PROPOSED,
    PUBLISHED,
    SCHEMA_FILE,
    Mapping,
    MappingFileError,
    check_mapping_set,
    load_mapping_set,
    load_mapping_sets,
    mapping_set_json_schema,
    mapping_set_yaml,
    parse_mapping_set,
    schema_text,
)

MAPPINGS = ROOT / "mappings"
NOTES = ROOT / "data" / "local-tools" / "local_tools.yaml"
FUNKTIONSEVNENIVEAU = "e89d317c-4657-4970-b614-ada2ed220595"

GOOD = """\
id: demo--ffb
title: Demo
subject_scheme: vum-1
subject_system: https://w3id.org/ffb-termserver/vum-1
object_scheme: ffb
object_system: urn:oid:1.2.208.176.2.22
mappings:
- subject: egenomsorg
  predicate: closeMatch
  object: da3f488f-1742-4d00-b247-a7d47500b36b
  status: proposed
  author: Metodeteamet
  date: 2026-01-15
  reason: Same label.
  confidence: medium
- subject: mobilitet
  predicate: skos:closeMatch
  object: d1495b2c-1452-4e49-8dbe-8193af5d8823
  status: published
  author: KL
  source: https://example.org/crosswalk
  date: '2026-01-15'
  confidence: 0.8
  valid_from: 2024-01-01
"""


def parse(text: str):
    return parse_mapping_set(text, "demo--ffb.yaml", expected_id="demo--ffb")


def error_of(text: str) -> SourceError:
    with pytest.raises(SourceError) as info:
        parse(text)
    return info.value


@pytest.fixture(scope="module")
def sets():
    return load_mapping_sets(MAPPINGS)


# --- the format ----------------------------------------------------------------------------------


def test_good_file_reads_into_the_model():
    ms = parse(GOOD)
    assert ms.id == "demo--ffb" and ms.subject_scheme == "vum-1"
    first, second = ms.mappings
    assert first.subject == ("https://w3id.org/ffb-termserver/vum-1", "egenomsorg")
    assert first.object == (FFB, "da3f488f-1742-4d00-b247-a7d47500b36b")
    assert first.predicate == CLOSE and second.predicate == CLOSE
    assert first.confidence == 0.6 and first.confidence_word == "medium"
    assert first.date == date(2026, 1, 15) and first.line == 8
    assert first.justification == MANUAL_CURATION and first.proposed
    assert second.status == PUBLISHED and not second.proposed
    assert second.valid_from == date(2024, 1, 1) and second.line == 16
    assert second.valid_on(date(2024, 1, 1)) and not second.valid_on(date(2023, 12, 31))


def test_write_then_read_gives_the_same_set():
    ms = parse(GOOD)
    again = parse(mapping_set_yaml(ms, "a header\ncomment"))
    assert again == ms


def test_wrong_relation_names_file_line_and_field():
    e = error_of(GOOD.replace("predicate: skos:closeMatch", "predicate: sameAs"))
    assert e.source == "demo--ffb.yaml"
    assert e.location == "line 17, mappings[1].predicate"
    assert "'sameAs' is not one of" in e.message


def test_missing_object_names_the_row_and_the_field():
    text = GOOD.replace("  object: da3f488f-1742-4d00-b247-a7d47500b36b\n", "")
    e = error_of(text)
    assert e.location == "line 8, mappings[0].object"
    assert e.message == "required field is missing"


def test_bad_date_is_named_even_when_yaml_cannot_make_a_date_of_it():
    e = error_of(GOOD.replace("date: 2026-01-15", "date: 2026-13-45"))
    assert e.location == "line 13, mappings[0].date"
    assert "not a date" in e.message
    e = error_of(GOOD.replace("valid_from: 2024-01-01", "valid_from: 1.1.2024"))
    assert e.location == "line 24, mappings[1].valid_from"


def test_non_list_mappings():
    text = GOOD[: GOOD.index("mappings:")] + "mappings: egenomsorg = Egenomsorg\n"
    e = error_of(text)
    assert e.location == "line 7, mappings"
    assert e.message == "must be a list, got text"


def test_unknown_field_is_a_typo_not_ignored():
    e = error_of(GOOD.replace("  reason: Same label.", "  reasn: Same label."))
    assert e.location == "line 14, mappings[0].reasn"
    assert e.message == "unknown field 'reasn' (did you mean 'reason'?)"
    e = error_of(GOOD.replace("  reason: Same label.", "  grund: Same label."))
    assert e.location == "line 8, mappings[0].reason"  # no likely typo: the field is missing


def test_published_needs_a_source_and_proposed_a_reason():
    e = error_of(GOOD.replace("  source: https://example.org/crosswalk\n", ""))
    assert e.location == "line 16, mappings[1].source"
    e = error_of(GOOD.replace("  reason: Same label.\n", ""))
    assert e.location == "line 8, mappings[0].reason"


def test_confidence_out_of_range_or_unknown_word():
    e = error_of(GOOD.replace("confidence: 0.8", "confidence: 8"))
    assert e.location == "line 23, mappings[1].confidence"
    e = error_of(GOOD.replace("confidence: medium", "confidence: ret sikker"))
    assert "low, medium, high" in e.message
    e = error_of(GOOD.replace("confidence: 0.8", "confidence: .nan"))
    assert e.location == "line 23, mappings[1].confidence"


def test_every_error_is_collected_in_file_order():
    text = GOOD.replace("predicate: closeMatch", "predicate: x").replace("date: '2026", "date: 'x")
    with pytest.raises(MappingFileError) as info:
        parse(text)
    assert [p.location for p in info.value.problems] == [
        "line 9, mappings[0].predicate",
        "line 22, mappings[1].date",
    ]
    assert "(and 1 more problems)" in str(info.value)


def test_id_must_match_file_name_and_rows_must_be_unique(tmp_path):
    path = tmp_path / "other.yaml"
    path.write_text(GOOD, encoding="utf-8")
    with pytest.raises(SourceError) as info:
        load_mapping_set(path)
    assert info.value.location == "line 1, id" and "other.yaml" in info.value.message
    dup = GOOD + GOOD[GOOD.index("- subject: egenomsorg") : GOOD.index("- subject: mobilitet")]
    e = error_of(dup)
    assert e.location == "line 25, mappings[2]" and "mappings[0]" in e.message


def test_valid_to_before_valid_from():
    e = error_of(
        GOOD.replace("  valid_from: 2024-01-01", "  valid_from: 2024-01-01\n  valid_to: 2023-01-01")
    )
    assert e.location == "line 25, mappings[1].valid_to"


def test_yaml_syntax_error_and_duplicate_key():
    e = error_of(GOOD.replace("title: Demo", "title: [Demo"))
    assert e.location.startswith("line ")
    e = error_of(GOOD.replace("title: Demo", "title: Demo\ntitle: Again"))
    assert e.location == "line 3, title" and e.message == "duplicate key"


def test_alias_bomb_is_refused_quickly():
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 30):
        refs = ", ".join([f"*a{i - 1}"] * 10)
        lines.append(f"a{i}: &a{i} [{refs}]")
    bomb = "\n".join(lines) + "\n"
    started = time.monotonic()
    e = error_of(bomb)
    assert time.monotonic() - started < 1.0
    assert e.location == "line 2" and "aliases" in e.message


def test_deep_nesting_and_huge_files_are_refused():
    e = error_of("mappings: " + "[" * 5000 + "]" * 5000)
    assert "nested too deeply" in e.message
    e = error_of("#" * 2_100_000)
    assert "larger than" in e.message


def test_python_tags_are_not_constructed():
    e = error_of(GOOD.replace("title: Demo", "title: !!python/object/apply:os.system [echo]"))
    assert e.location.startswith("line 2")


# --- the JSON Schema -----------------------------------------------------------------------------


def test_committed_schema_is_the_generated_one():
    committed = (MAPPINGS / SCHEMA_FILE).read_text("utf-8")
    assert committed == schema_text(), "run `termserver import-mappings` to refresh the schema"
    from jsonschema import Draft202012Validator

    Draft202012Validator.check_schema(json.loads(committed))


def test_schema_rows_are_the_model_fields():
    row = mapping_set_json_schema()["properties"]["mappings"]["items"]["properties"]
    fields = {f.name for f in dataclasses.fields(Mapping)}
    # subject/object are codes in the file (the systems come from the set); the rest by name.
    written = {k for k in row if k not in ("subject", "object")}
    assert written <= fields
    assert fields - written - {
        "subject_system",
        "subject_code",
        "object_system",
        "object_code",
    } == {
        "confidence_word",
        "line",
    }
    assert set(row["predicate"]["enum"]) >= {p.split(":")[1] for p in PREDICATES}


def test_committed_files_validate_against_the_schema_file():
    from jsonschema import Draft202012Validator, FormatChecker

    schema = json.loads((MAPPINGS / SCHEMA_FILE).read_text("utf-8"))
    validator = Draft202012Validator(schema, format_checker=FormatChecker())
    for path in sorted(MAPPINGS.glob("*.yaml")):
        doc = yaml.safe_load(path.read_text("utf-8"))
        doc = json.loads(json.dumps(doc, default=str))  # YAML dates → strings, as in JSON
        assert not list(validator.iter_errors(doc)), path.name


# --- the committed content -----------------------------------------------------------------------


def test_committed_sets_and_row_counts(sets):
    counts = {ms.id: len(ms.mappings) for ms in sets}
    assert counts == {
        "forandringskompas-misbrug--ffb": 18,
        "forandringskompas-plejetilbud--ffb": 12,
        "fsiii--ffb": 14,
        "ics--ffb": 11,
        "sel-50--barnets-lov": 6,
        "sel-50--ffb": 8,
        "vum-1--ffb": 18,
        "vum-2--ffb": 81,
    }


def test_every_committed_set_passes_the_vocabulary_check(sets, vocab):
    for ms in sets:
        problems = check_mapping_set(ms, vocab)
        assert not problems, "\n".join(map(str, problems))


def test_nothing_proposed_looks_published(sets):
    for ms in sets:
        for m in ms.mappings:
            assert m.status in (PUBLISHED, PROPOSED)
            assert m.justification == MANUAL_CURATION
            if m.proposed:
                assert m.source is None, (ms.id, m.subject_code)
                assert m.author and m.reason
            else:
                assert m.source and m.author != RESEARCH_AUTHOR
    published = {ms.id for ms in sets if any(not m.proposed for m in ms.mappings)}
    assert published == {"vum-2--ffb"}  # VUM 2.0 is FFB; nothing else was found published
    vum2 = next(ms for ms in sets if ms.id == "vum-2--ffb")
    assert all(m.subject == m.object and m.predicate.endswith("exactMatch") for m in vum2.mappings)


def test_statuses_are_those_of_the_research_notes(sets, vocab):
    notes = yaml.safe_load(NOTES.read_text("utf-8"))
    wanted = {PUBLISHED: 0, PROPOSED: 0}
    for tool in notes["tools"]:
        for item in tool.get("items") or []:
            for m in item.get("mappings") or []:
                wanted[m["status"]] += 1
        for value in (tool.get("scale") or {}).get("values") or []:
            if value.get("mapping"):
                wanted[value["mapping"]["status"]] += 1
    got = {PUBLISHED: 0, PROPOSED: 0}
    for ms in sets:
        if ms.id == "sel-50--barnets-lov":  # written by hand, not from the notes
            assert all(m.proposed and m.confidence == 0.3 for m in ms.mappings)
            continue
        for m in ms.mappings:
            got[m.status] += 1
    assert got == wanted


def test_no_compass_score_maps_to_funktionsevneniveau(sets, vocab):
    for ms in sets:
        if not (ms.subject_scheme or "").startswith("forandringskompas"):
            continue
        for m in ms.mappings:
            assert not m.subject_code.startswith("skala-"), m
            assert not vocab.is_a(FFB, m.object_code, FUNKTIONSEVNENIVEAU), m


def test_check_reports_unknown_codes_systems_and_compass_scores(vocab):
    ms = parse(GOOD)
    bad_row = dataclasses.replace(ms.mappings[0], subject_code="nope", line=8)
    ms = dataclasses.replace(ms, mappings=(bad_row, ms.mappings[1]))
    problems = check_mapping_set(ms, vocab)
    assert [(p.severity, p.location) for p in problems] == [
        ("error", "line 8, mappings[0].subject")
    ]
    assert "unknown code 'nope'" in problems[0].message
    other = dataclasses.replace(ms, object_system="urn:oid:9.9", object_scheme=None)
    assert any(p.location == "object_system" for p in check_mapping_set(other, vocab))
    compass = dataclasses.replace(
        ms,
        subject_scheme="forandringskompas-misbrug",
        subject_system=vocab.system_of("forandringskompas-misbrug"),
        mappings=(
            dataclasses.replace(
                ms.mappings[0],
                subject_system=vocab.system_of("forandringskompas-misbrug"),
                subject_code="skala-1-10-3",
                object_code="5bdde847-2837-416b-ab63-bbff8b7aa531",  # Moderat nedsat funktionsevne
            ),
        ),
    )
    assert any("progression, not severity" in p.message for p in check_mapping_set(compass, vocab))


def test_label_that_differs_from_the_vocabulary_is_a_warning(vocab):
    ms = parse(GOOD)
    row = dataclasses.replace(ms.mappings[0], object_label="Selvomsorg")
    problems = check_mapping_set(dataclasses.replace(ms, mappings=(row,)), vocab)
    assert [p.severity for p in problems] == ["warning"]


# --- the one-time import -------------------------------------------------------------------------


def test_import_reproduces_the_generated_files(tmp_path, vocab):
    generated = mapping_sets_from_local_tools(NOTES, vocab)
    results = write_mapping_sets(generated, tmp_path)
    for r in results:
        assert r.state == "written"
        committed = MAPPINGS / r.path.name
        assert committed.read_text("utf-8") == r.path.read_text("utf-8"), r.path.name
    assert {r.set_id for r in results} == {
        "vum-1--ffb",
        "vum-2--ffb",
        "sel-50--ffb",
        "ics--ffb",
        "forandringskompas-misbrug--ffb",
        "forandringskompas-plejetilbud--ffb",
        "fsiii--ffb",
    }


def test_import_keeps_hand_edited_files(tmp_path, vocab):
    generated = mapping_sets_from_local_tools(NOTES, vocab)[:1]
    write_mapping_sets(generated, tmp_path)
    target = tmp_path / f"{generated[0].id}.yaml"
    target.write_text(target.read_text("utf-8") + "# edited\n", encoding="utf-8")
    assert write_mapping_sets(generated, tmp_path)[0].state == "kept"
    assert target.read_text("utf-8").endswith("# edited\n")
    assert write_mapping_sets(generated, tmp_path, force=True)[0].state == "written"
    assert write_mapping_sets(generated, tmp_path)[0].state == "unchanged"


def test_import_mappings_cli(tmp_path):
    from typer.testing import CliRunner

    from termserver.cli import app

    result = CliRunner().invoke(app, ["import-mappings", str(NOTES), "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())  # rich wraps long lines
    assert "vum-1--ffb.yaml (18 rækker, 18 kun foreslået, skrevet)" in text
    assert (tmp_path / SCHEMA_FILE).read_text("utf-8") == schema_text()
