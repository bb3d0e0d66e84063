"""Exports of a release, read back with the libraries a receiver would use and compared with the
vocabulary: rdflib for Turtle and JSON-LD, the FHIR reader, csv, openpyxl and the SSSOM reader."""

from __future__ import annotations

import csv
import dataclasses
import json
from pathlib import Path

import openpyxl
import pytest
from conftest import FFB, ONTOLOGY, ROOT, VASKE_SIG
from rdflib import Graph
from rdflib.compare import isomorphic
from typer.testing import CliRunner

from termserver.cli import app
from termserver.content import read_releases
from termserver.exports import (
    COLUMNS,
    EXPORTERS,
    LIST_SEPARATOR,
    ExportError,
    export,
    safe_cell,
    select_content,
)
from termserver.loading.fhir_codesystem import read_codesystem_file
from termserver.mappings import load_mapping_sets
from termserver.model import SchemeRelease
from termserver.sssom import read_sssom
from termserver.valuesets import load_valuesets
from termserver.vocabulary import Vocabulary

runner = CliRunner()
MAPPINGS = ROOT / "mappings"


@pytest.fixture(scope="module")
def defs():
    return list(load_valuesets(ONTOLOGY / "valuesets").values())


@pytest.fixture(scope="module")
def sets():
    return load_mapping_sets(MAPPINGS)


def _ffb(vocab, defs, sets, version: str = "20240530"):
    return select_content(vocab, scheme="ffb", version=version, valuesets=defs, mapping_sets=sets)


def test_turtle_export_of_an_ffb_release_is_the_shipped_scheme_file(vocab, tmp_path):
    (path,) = export(select_content(vocab, scheme="ffb", version="20230517"), "ttl", tmp_path)
    assert path.name == "ffb-20230517.ttl"
    assert path.read_bytes() == (ONTOLOGY / "schemes" / "ffb-20230517.ttl").read_bytes()


def test_jsonld_export_reads_back_as_the_same_graph_as_the_turtle(vocab, tmp_path):
    content = select_content(vocab, scheme="fsiii")
    (ld,) = export(content, "jsonld", tmp_path)
    from_ld = Graph().parse(ld, format="json-ld")
    shipped = Graph().parse(ONTOLOGY / "schemes" / "fsiii-20240530.ttl", format="turtle")
    assert len(from_ld) == len(shipped) and isomorphic(from_ld, shipped)


def test_fhir_codesystem_export_reads_back_into_the_same_concepts(vocab, defs, sets, tmp_path):
    paths = export(_ffb(vocab, defs, sets, "20200908"), "fhir", tmp_path)
    cs_path = tmp_path / "CodeSystem-ffb-20200908.json"
    assert cs_path in paths
    back = read_codesystem_file(cs_path, scheme_id="ffb")
    assert back.scheme.system == FFB and back.scheme.version == "20200908"
    original = {c.code: c for c in vocab.concepts(FFB, "20200908")}
    assert {c.code for c in back.concepts} == set(original)
    for c in back.concepts:
        o = original[c.code]
        # Trailing spaces of the 2020 labels survive the round trip: an export never "fixes".
        assert (c.display, c.definition, set(c.parents)) == (
            o.display,
            o.definition,
            set(o.parents),
        )


def _systems_of(doc: dict, by_url: dict[str, dict], seen=()) -> set[str]:
    out = set()
    for part in doc["compose"].get("include", []) + doc["compose"].get("exclude", []):
        if "system" in part:
            out.add(part["system"])
        for url in part.get("valueSet", []):
            if url in by_url and url not in seen:
                out |= _systems_of(by_url[url], by_url, (*seen, doc["url"]))
    return out


def test_fhir_export_of_ffb_carries_the_value_sets_and_concept_maps_that_use_ffb(
    vocab, defs, sets, tmp_path
):
    export(_ffb(vocab, defs, sets), "fhir", tmp_path)
    raw = [json.loads(p.read_text("utf-8")) for p in (ONTOLOGY / "valuesets").glob("*.json")]
    by_url = {d["url"]: d for d in raw}
    expected_vs = {d["id"] for d in raw if FFB in _systems_of(d, by_url)}
    written_vs = {p.name[len("ValueSet-") : -5] for p in tmp_path.glob("ValueSet-*.json")}
    assert written_vs == expected_vs and "KLConditionCodes" in written_vs  # imports FFB's set
    expected_cm = {ms.id for ms in sets if FFB in (ms.subject_system, ms.object_system)}
    maps = {p.name: json.loads(p.read_text("utf-8")) for p in tmp_path.glob("ConceptMap-*.json")}
    assert {m["id"] for m in maps.values()} == expected_cm
    cm = maps["ConceptMap-fsiii--ffb.json"]
    assert cm["resourceType"] == "ConceptMap" and cm["group"][0]["target"] == FFB
    vs = json.loads((tmp_path / "ValueSet-KLConditionADCodesFFB.json").read_text("utf-8"))
    assert vs["compose"] == by_url[vs["url"]]["compose"]


def _csv_rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as fh:
        return list(csv.DictReader(fh))


def test_csv_export_has_one_row_per_concept_as_in_the_vocabulary(vocab, tmp_path):
    (path,) = export(select_content(vocab, scheme="ffb", version="20200908"), "csv", tmp_path)
    assert path.read_bytes().startswith(b"\xef\xbb\xbf")  # BOM: spreadsheets then read UTF-8
    rows = _csv_rows(path)
    assert tuple(rows[0]) == COLUMNS
    concepts = {c.code: c for c in vocab.concepts(FFB, "20200908")}
    assert [r["code"] for r in rows] == list(concepts)
    vaske = next(r for r in rows if r["code"] == VASKE_SIG)
    c = concepts[VASKE_SIG]
    assert vaske["display_da"] == c.display == "Vaske sig" and vaske["display_en"] == ""
    assert vaske["definition"] == c.definition and vaske["status"] == "active"
    assert vaske["parents"].split(LIST_SEPARATOR) == list(c.parents)
    assert vaske["parent_displays"] == "Egenomsorg"
    for r in rows:
        assert r["display_da"] == concepts[r["code"]].display
        assert (r["system"], r["version"]) == (FFB, "20200908")


def test_xlsx_export_of_the_snapshot_has_a_sheet_per_scheme_with_header_and_filter(vocab, tmp_path):
    (path,) = export(select_content(vocab), "xlsx", tmp_path)
    wb = openpyxl.load_workbook(path)
    assert wb.sheetnames == [s.scheme for s in vocab.schemes()]
    for meta in vocab.schemes():
        ws = wb[meta.scheme]
        assert ws.freeze_panes == "A2"
        assert ws.auto_filter.ref == f"A1:J{ws.max_row}"
        rows = list(ws.iter_rows(values_only=True))
        assert rows[0] == COLUMNS
        codes = [c.code for c in vocab.concepts(meta.system)]
        assert [r[2] for r in rows[1:]] == codes
    ffb = list(wb["ffb"].iter_rows(values_only=True))
    vaske = next(r for r in ffb if r[2] == VASKE_SIG)
    assert vaske[3] == "Vaske sig" and vaske[7] == "Egenomsorg"


def test_xlsx_and_csv_hold_the_same_cells(vocab, tmp_path):
    content = select_content(vocab, scheme="ffb", version="20230517")
    (xlsx,) = export(content, "xlsx", tmp_path)
    (csv_path,) = export(content, "csv", tmp_path)
    sheet = list(openpyxl.load_workbook(xlsx)["ffb"].iter_rows(values_only=True))
    with csv_path.open(encoding="utf-8-sig", newline="") as fh:
        from_csv = list(csv.reader(fh))
    assert [[v or "" for v in row] for row in sheet] == from_csv


@pytest.fixture(scope="module")
def hostile_vocab(vocab) -> Vocabulary:
    """FFB 20240530 with labels a curator might paste from a spreadsheet (proposed, not KL's):
    each starts with a character that would make a spreadsheet run it as a formula."""
    hostile = {
        VASKE_SIG: '=HYPERLINK("http://example.invalid","Vaske sig")',
        "da3f488f-1742-4d00-b247-a7d47500b36b": "+Egenomsorg",
        "464a2ab6-a7df-4b3a-b74d-7873f4cfe668": "-Spise",
        "14615a09-bd94-4602-b43a-f6d3d3f9801d": "@Drikke",
    }
    meta = dataclasses.replace(vocab.release(FFB, "20240530"), version="20240530-forslag")
    concepts = tuple(
        dataclasses.replace(
            c,
            version=meta.version,
            display=hostile.get(c.code, c.display),
            definition="=1+1" if c.code == VASKE_SIG else c.definition,
        )
        for c in vocab.concepts(FFB, "20240530")
    )
    others = [r for r in read_releases(ONTOLOGY) if r.scheme.scheme == "fsiii"]
    return Vocabulary([*others, SchemeRelease(meta, concepts)])


def test_formula_like_cells_get_an_apostrophe_in_csv_and_xlsx(hostile_vocab, tmp_path):
    content = select_content(hostile_vocab, scheme="ffb")
    (csv_path,) = export(content, "csv", tmp_path)
    (xlsx,) = export(content, "xlsx", tmp_path)
    rows = {r["code"]: r for r in _csv_rows(csv_path)}
    assert rows[VASKE_SIG]["display_da"] == '\'=HYPERLINK("http://example.invalid","Vaske sig")'
    assert rows[VASKE_SIG]["definition"] == "'=1+1"
    assert rows["da3f488f-1742-4d00-b247-a7d47500b36b"]["display_da"] == "'+Egenomsorg"
    assert rows["464a2ab6-a7df-4b3a-b74d-7873f4cfe668"]["display_da"] == "'-Spise"
    assert rows["14615a09-bd94-4602-b43a-f6d3d3f9801d"]["display_da"] == "'@Drikke"
    # A child of Egenomsorg shows the neutralised parent label too.
    assert rows[VASKE_SIG]["parent_displays"] == "'+Egenomsorg"
    ws = openpyxl.load_workbook(xlsx)["ffb"]
    for row in ws.iter_rows(min_row=2):
        for cell in row:
            assert cell.data_type == "s" or cell.value is None
            assert not str(cell.value or "").startswith(("=", "+", "-", "@"))
    vaske = next(r for r in ws.iter_rows(min_row=2) if r[2].value == VASKE_SIG)
    assert vaske[3].value == rows[VASKE_SIG]["display_da"]


@pytest.mark.parametrize(
    ("value", "safe"),
    [("=SUM(A1)", "'=SUM(A1)"), ("\tx", "'\tx"), ("Vaske sig", "Vaske sig"), ("", "")],
)
def test_safe_cell(value, safe):
    assert safe_cell(value) == safe


def test_sssom_export_reads_back_into_the_same_mapping_rows(vocab, defs, sets, tmp_path):
    paths = export(_ffb(vocab, defs, sets), "sssom", tmp_path)
    by_id = {ms.id: ms for ms in sets}
    assert {p.name for p in paths} == {
        f"{ms.id}.sssom.tsv" for ms in sets if FFB in (ms.subject_system, ms.object_system)
    }
    for p in paths:
        set_id = p.name.removesuffix(".sssom.tsv")
        back = read_sssom(p.read_bytes(), p.name, vocab, set_id=set_id)
        original = by_id[set_id]
        assert [(m.subject, m.predicate, m.object, m.status) for m in back.mappings] == [
            (m.subject, m.predicate, m.object, m.status) for m in original.mappings
        ]


def test_export_refuses_unknown_format_version_without_scheme_and_a_file_as_folder(vocab, tmp_path):
    with pytest.raises(ExportError, match="ukendt format 'pdf'"):
        export(select_content(vocab, scheme="ffb"), "pdf", tmp_path)
    with pytest.raises(ExportError, match="--version kræver --scheme"):
        select_content(vocab, version="20240530")
    target = tmp_path / "file"
    target.write_text("x")
    with pytest.raises(ExportError, match="er ikke en mappe"):
        export(select_content(vocab, scheme="ffb"), "csv", target)
    assert set(EXPORTERS) == {"ttl", "jsonld", "fhir", "csv", "xlsx", "sssom"}


def test_cli_export_writes_the_release_and_reports_bad_input_in_danish(tmp_path):
    out = tmp_path / "ud"
    r = runner.invoke(
        app,
        ["export", "--format", "xlsx", "--scheme", "ffb", "--version", "20200908", "--out", out],
    )
    assert r.exit_code == 0, r.output
    assert "1 filer skrevet" in r.output
    ws = openpyxl.load_workbook(out / "ffb-20200908.xlsx")["ffb"]
    assert ws.max_row == 1 + 219
    r = runner.invoke(app, ["export", "--format", "pdf", "--out", tmp_path])
    assert r.exit_code == 2 and "Ukendt format" in r.output
    r = runner.invoke(app, ["export", "--format", "csv", "--scheme", "ffb", "--version", "1999"])
    assert r.exit_code == 2
    r = runner.invoke(
        app, ["export", "--format", "csv", "--scheme", "ffb", "--version", "1999", "--out", out]
    )
    assert r.exit_code == 2 and "has no version '1999'" in r.output
