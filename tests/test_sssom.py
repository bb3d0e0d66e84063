"""SSSOM/TSV: sssom-py reads and validates our export; export → import keeps every row; bad
SSSOM files are refused with every problem located by line and column."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import FFB, ROOT
from typer.testing import CliRunner

from termserver.cli import app
from termserver.mappings import (
    EXACT,
    PROPOSED,
    PUBLISHED,
    MappingFileError,
    load_mapping_set,
    load_mapping_sets,
    mapping_set_yaml,
    parse_mapping_set,
)
from termserver.sssom import FILE_SUFFIX, export_sssom, mapping_set_iri, read_sssom

MAPPINGS = ROOT / "mappings"
SET_IDS = sorted(p.stem for p in MAPPINGS.glob("*.yaml"))
SOCIALT_LIV_LINE = "vum-1:socialt-liv\tSocialt liv\tskos:closeMatch"
runner = CliRunner()


@pytest.fixture(scope="module")
def sets():
    return {ms.id: ms for ms in load_mapping_sets(MAPPINGS)}


@pytest.fixture(scope="module")
def vum1_text(sets, vocab):
    return export_sssom(sets["vum-1--ffb"], vocab)


def metadata(text: str) -> dict:
    return yaml.safe_load("".join(ln[1:] for ln in text.splitlines(True) if ln.startswith("#")))


def problems_of(text: str, vocab) -> list[str]:
    with pytest.raises(MappingFileError) as info:
        read_sssom(text, "in.sssom.tsv", vocab, set_id="in")
    return [f"{p.location}: {p.message}" for p in info.value.problems]


def line_of(text: str, needle: str) -> int:
    return next(i for i, ln in enumerate(text.splitlines(), 1) if needle in ln)


# --- sssom-py reads what we write ------------------------------------------------------------


@pytest.mark.parametrize("set_id", SET_IDS)
def test_sssom_py_reads_our_export_and_its_validation_passes(set_id, sets, vocab, tmp_path, caplog):
    from sssom.constants import SchemaValidationType as V
    from sssom.parsers import parse_sssom_table
    from sssom.validators import validate

    ms = sets[set_id]
    path = tmp_path / f"{set_id}{FILE_SUFFIX}"
    path.write_text(export_sssom(ms, vocab), encoding="utf-8")
    with caplog.at_level(logging.WARNING):
        msdf = parse_sssom_table(path)
        reports = validate(
            msdf,
            [V.JsonSchema, V.PrefixMapCompleteness, V.StrictCurieFormat],
            fail_on_error=False,
        )
    assert {vt.value: [r.message for r in rep.results] for vt, rep in reports.items()} == {
        "JsonSchema": [],
        "PrefixMapCompleteness": [],
        "StrictCurieFormat": [],
    }
    # sssom-py only complains about the extension columns it has no attribute for, all declared.
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    declared = {e["slot_name"] for e in msdf.metadata.get("extension_definitions", [])}
    for w in warnings:
        assert w.startswith("No attr for ") and w.split()[3] in declared, w
    assert len(msdf.df) == len(ms.mappings)
    assert msdf.metadata["mapping_set_id"] == mapping_set_iri(set_id)
    # Every CURIE expands, with the file's own curie_map, to the concept's resolvable IRI.
    expand = msdf.converter.expand
    read = {
        (expand(s), p, expand(o))
        for s, p, o in zip(msdf.df.subject_id, msdf.df.predicate_id, msdf.df.object_id, strict=True)
    }
    assert read == {
        (vocab.get(*m.subject).iri, m.predicate, vocab.get(*m.object).iri) for m in ms.mappings
    }


def test_sssom_validation_is_not_vacuous(vum1_text, tmp_path):
    from sssom.constants import SchemaValidationType as V
    from sssom.parsers import parse_sssom_table
    from sssom.validators import validate

    broken = vum1_text.replace(
        "\tsemapv:ManualMappingCuration\t", "\tsemapv:CoinToss\t", 1
    ).replace("vum-1:egenomsorg", "vum1x:egenomsorg", 1)
    path = tmp_path / f"broken{FILE_SUFFIX}"
    path.write_text(broken, encoding="utf-8")
    reports = validate(
        parse_sssom_table(path), [V.JsonSchema, V.PrefixMapCompleteness], fail_on_error=False
    )
    assert any("CoinToss" in r.message for r in reports[V.JsonSchema].results)
    assert [r.message for r in reports[V.PrefixMapCompleteness].results] == [
        "Missing prefix: vum1x"
    ]


def test_sssom_cli_validates_our_export_and_rejects_a_broken_one(vum1_text, tmp_path):
    sssom = Path(sys.executable).parent / "sssom"
    good = tmp_path / f"good{FILE_SUFFIX}"
    good.write_text(vum1_text, encoding="utf-8")
    bad = tmp_path / f"bad{FILE_SUFFIX}"
    bad.write_text(vum1_text.replace("semapv:ManualMappingCuration", "semapv:Nope"), "utf-8")
    ok = subprocess.run([sssom, "validate", good], capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0, ok.stderr[-2000:]
    failed = subprocess.run([sssom, "validate", bad], capture_output=True, text=True, timeout=120)
    assert failed.returncode != 0


# --- what we write -----------------------------------------------------------------------------


def test_metadata_block_declares_prefixes_sources_and_extensions(vum1_text, sets, vocab):
    meta = metadata(vum1_text)
    assert meta["mapping_set_id"] == "https://w3id.org/ffb-termserver/mappings/vum-1--ffb.sssom.tsv"
    assert meta["curie_map"]["vum-1"] == "https://w3id.org/ffb-termserver/vum-1/"
    assert meta["curie_map"]["ffb"] == "https://w3id.org/ffb-termserver/ffb/"
    assert "skos" not in meta["curie_map"]  # built in; SSSOM forbids redefining it
    assert meta["license"] == "https://spdx.org/licenses/MIT.html"
    assert meta["subject_source"] == "ffbts:vum-1" and meta["object_source"] == "ffbts:ffb"
    assert meta["object_source_version"] == vocab.default_version(FFB)
    assert meta["creator_label"] == list(sets["vum-1--ffb"].creators)
    slots = [e["slot_name"] for e in meta["extension_definitions"]]
    assert slots == ["mapping_status", "reason"]
    header = vum1_text.splitlines()[len([ln for ln in vum1_text.splitlines() if ln[0] == "#"])]
    assert header.split("\t")[-2:] == ["mapping_status", "reason"]
    row = next(ln for ln in vum1_text.splitlines() if ln.startswith(SOCIALT_LIV_LINE))
    fields = dict(zip(header.split("\t"), row.split("\t"), strict=True))
    assert fields["object_id"] == "ffb:3856b434-f72e-42a5-b9d1-0cc93f48434b"
    assert fields["object_label"] == "Relationer"
    assert fields["mapping_justification"] == "semapv:ManualMappingCuration"
    assert fields["mapping_status"] == PROPOSED


def test_published_rows_carry_their_source_and_validity_is_kept(sets, vocab):
    vum2 = export_sssom(sets["vum-2--ffb"], vocab)
    lines = [ln.split("\t") for ln in vum2.splitlines() if not ln.startswith("#")]
    row = dict(zip(lines[0], lines[1], strict=True))
    assert row["mapping_status"] == PUBLISHED
    assert row["see_also"] == row["source"] and row["source"].startswith("https://www.sbst.dk/")
    assert row["predicate_id"] == EXACT and row["subject_id"] == row["object_id"]
    sel = export_sssom(sets["sel-50--barnets-lov"], vocab)
    assert [e["slot_name"] for e in metadata(sel)["extension_definitions"]] == [
        "mapping_status",
        "reason",
        "valid_from",
        "confidence_word",
    ]
    sel_rows = [ln.split("\t") for ln in sel.splitlines() if not ln.startswith("#")]
    first = dict(zip(sel_rows[0], sel_rows[1], strict=True))
    assert first["valid_from"] == "2024-01-01" and first["confidence"] == "0.3"
    assert first["confidence_word"] == "low"


# --- round trip --------------------------------------------------------------------------------


@pytest.mark.parametrize("set_id", SET_IDS)
def test_export_then_import_gives_the_same_rows(set_id, sets, vocab):
    ms = sets[set_id]
    back = read_sssom(export_sssom(ms, vocab), f"{set_id}{FILE_SUFFIX}", vocab, set_id=set_id)
    assert back.mappings == ms.mappings
    for key in ("id", "title", "description", "version", "creators", "subject_system"):
        assert getattr(back, key) == getattr(ms, key), key
    assert (back.subject_scheme, back.object_scheme) == (ms.subject_scheme, ms.object_scheme)
    # ...and the YAML writer turns it into a file that loads as the same rows.
    again = parse_mapping_set(mapping_set_yaml(back), f"{set_id}.yaml", expected_id=set_id)
    assert again.mappings == ms.mappings


def test_rows_remember_their_tsv_line(vum1_text, vocab):
    ms = read_sssom(vum1_text, "x.sssom.tsv", vocab, set_id="x")
    socialt_liv = next(m for m in ms.mappings if m.subject_code == "socialt-liv")
    assert socialt_liv.line == line_of(vum1_text, SOCIALT_LIV_LINE)


def test_foreign_sssom_with_full_iris_reads_as_proposed(vocab):
    text = (
        "#mapping_set_id: https://example.org/m.sssom.tsv\n"
        "#license: https://creativecommons.org/publicdomain/zero/1.0/\n"
        "#creator_label:\n#- Metodeteamet\n#mapping_date: 2025-02-01\n"
        "subject_id\tpredicate_id\tobject_id\tmapping_justification\tconfidence\n"
        "<https://w3id.org/ffb-termserver/vum-1/egenomsorg>\thttp://www.w3.org/2004/02/skos/"
        "core#closeMatch\thttps://w3id.org/ffb-termserver/ffb/da3f488f-1742-4d00-b247-a7d47500b36b"
        "\tsemapv:ManualMappingCuration\t0.7\n"
    )
    ms = read_sssom(text, "foreign.sssom.tsv", vocab, set_id="foreign")
    (m,) = ms.mappings
    assert (ms.subject_scheme, ms.object_scheme) == ("vum-1", "ffb")
    assert m.status == PROPOSED and m.author == "Metodeteamet" and m.confidence == 0.7
    assert m.date.isoformat() == "2025-02-01"
    assert "foreign.sssom.tsv" in m.reason  # why it is here: imported, not judged by us


# --- bad input ---------------------------------------------------------------------------------


def test_missing_columns_are_named_at_the_header_line(vum1_text, vocab):
    text = vum1_text.replace("\tpredicate_id\t", "\tpredicate\t", 1)
    header_line = line_of(text, "subject_id\t")
    assert problems_of(text, vocab) == [
        f"line {header_line}: missing column(s): predicate_id",
        f"line {header_line}, column predicate: unknown column: not an SSSOM slot and not "
        "declared in extension_definitions",
    ]


def test_every_bad_row_is_reported_at_once_with_line_and_column(vum1_text, vocab):
    rows = vum1_text.splitlines(True)
    n = line_of(vum1_text, SOCIALT_LIV_LINE)
    rows[n - 1] = rows[n - 1].replace("skos:closeMatch", "owl:equivalentClass")
    rows[n] = rows[n].replace("\t2026-11-23\t", "\t2026-13-01\t")
    rows[n + 1] = rows[n + 1].replace("\tffb:", "\tfbb:", 1)
    rows.append(rows[n + 2])  # a duplicate of an earlier row
    found = problems_of("".join(rows), vocab)
    last = len(rows)
    assert found == [
        f"line {n}, column predicate_id: 'owl:equivalentClass' is not a supported predicate "
        "(skos:exactMatch, skos:closeMatch, skos:broadMatch, skos:narrowMatch, skos:relatedMatch)",
        f"line {n + 1}, column mapping_date: '2026-13-01' is not a date (YYYY-MM-DD)",
        f"line {n + 2}, column object_id: prefix 'fbb' is not in the curie_map",
        f"line {last}: the same mapping as line {n + 3}",
    ]


def test_bad_confidence_status_and_field_count(sets, vocab):
    text = export_sssom(sets["sel-50--barnets-lov"], vocab)
    rows = text.splitlines(True)
    first = next(i for i, ln in enumerate(rows) if ln.startswith("sel-50:"))
    rows[first] = rows[first].replace("\t0.3\t", "\t1.5\t")
    rows[first + 1] = rows[first + 1].replace("\tproposed\t", "\tpublished\t")
    rows[first + 2] = rows[first + 2].rstrip("\n").rsplit("\t", 1)[0] + "\n"
    assert problems_of("".join(rows), vocab) == [
        f"line {first + 1}, column confidence: '1.5' is not a number from 0 to 1",
        f"line {first + 2}, column mapping_status: published needs a source (source or see_also)",
        f"line {first + 3}: 12 fields, the header has 13",
    ]


def test_rows_must_stay_within_one_pair_of_schemes(vum1_text, vocab):
    n = line_of(vum1_text, SOCIALT_LIV_LINE)
    text = vum1_text.replace("vum-1:socialt-liv\t", "ffb:3856b434-f72e-42a5-b9d1-0cc93f48434b\t", 1)
    (problem,) = problems_of(text, vocab)
    assert problem.startswith(f"line {n}, column subject_id: scheme 'ffb' differs from 'vum-1'")


def test_undeclared_extension_column_and_bad_metadata(vum1_text, vocab):
    block = "#- slot_name: reason\n#  property: ts:mappingReason\n#  type_hint: xsd:string\n"
    assert block in vum1_text
    no_ext = vum1_text.replace(block, "")
    assert any("column reason: unknown column" in p for p in problems_of(no_ext, vocab))
    with pytest.raises(Exception) as info:
        read_sssom("#curie_map: [a\nsubject_id\n", "x.sssom.tsv", vocab, set_id="x")
    assert "x.sssom.tsv" in str(info.value) and "line" in str(info.value)


def test_huge_and_binary_input_is_refused(vocab):
    from termserver.errors import SourceError

    with pytest.raises(SourceError, match="larger than"):
        read_sssom(b"#" * 20_000_001, "big.tsv", vocab, set_id="big")
    with pytest.raises(SourceError, match="not UTF-8"):
        read_sssom(b"\xff\xfe\x00", "bin.tsv", vocab, set_id="bin")


# --- the CLI -----------------------------------------------------------------------------------


def test_cli_export_then_import_writes_an_equal_mapping_file(tmp_path, sets):
    r = runner.invoke(app, ["export-sssom", "--out", str(tmp_path), "vum-1--ffb"])
    assert r.exit_code == 0, r.output
    exported = tmp_path / f"vum-1--ffb{FILE_SUFFIX}"
    assert "vum-1--ffb.sssom.tsv (18 rækker)" in r.output.replace("\n", "")
    r = runner.invoke(
        app, ["import-sssom", str(exported), "--id", "vum-1--ffb", "--out", str(tmp_path)]
    )
    assert r.exit_code == 0, r.output
    assert load_mapping_set(tmp_path / "vum-1--ffb.yaml").mappings == sets["vum-1--ffb"].mappings
    again = runner.invoke(
        app, ["import-sssom", str(exported), "--id", "vum-1--ffb", "--out", str(tmp_path)]
    )
    assert again.exit_code == 1 and "--force" in again.output


def test_cli_import_lists_unknown_codes_and_writes_nothing(tmp_path, vum1_text):
    bad = tmp_path / f"bad{FILE_SUFFIX}"
    bad.write_text(vum1_text.replace("vum-1:egenomsorg", "vum-1:selvomsorg"), encoding="utf-8")
    r = runner.invoke(app, ["import-sssom", str(bad), "--id", "bad", "--out", str(tmp_path)])
    assert r.exit_code == 1
    text = " ".join(r.output.split())
    assert "unknown code 'selvomsorg'" in text and "Intet skrevet" in text
    assert not (tmp_path / "bad.yaml").exists()


def test_cli_export_unknown_set(tmp_path):
    r = runner.invoke(app, ["export-sssom", "--out", str(tmp_path), "nope--ffb"])
    assert r.exit_code == 2 and "Ukendt mapping-sæt" in r.output
