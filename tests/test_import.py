"""`termserver import`: FHIR CodeSystem JSON → SKOS Turtle, faithful, deterministic, safe."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from conftest import DATA, KL, ONTOLOGY, VASKE_SIG, write_json

from termserver.errors import SourceError
from termserver.importer import import_codesystem
from termserver.loading.fhir_codesystem import read_codesystem, read_codesystem_file
from termserver.model import DEPRECATED, RETIRED
from termserver.rdf_scheme import read_turtle

KL_FILES = sorted(KL.glob("CodeSystem-*.json"))


def test_all_seven_kl_code_systems_are_imported_into_the_repository(tmp_path):
    assert len(KL_FILES) == 7
    for src in KL_FILES:
        result = import_codesystem(src, tmp_path)
        committed = ONTOLOGY / "schemes" / result.target.name
        assert committed.read_bytes() == result.target.read_bytes(), f"{committed} is stale"


@pytest.mark.parametrize("src", KL_FILES, ids=lambda p: p.name)
def test_turtle_reads_back_exactly_what_the_fhir_file_says(src):
    from_json = read_codesystem_file(src)
    from_turtle = read_turtle(
        ONTOLOGY / "schemes" / f"{from_json.scheme.scheme}-{from_json.scheme.version}.ttl"
    )
    assert from_turtle.scheme == from_json.scheme
    assert from_turtle.concepts == from_json.concepts


def test_import_keeps_system_url_version_and_code_of_every_concept():
    rel = read_turtle(ONTOLOGY / "schemes" / "ffb-20240530.ttl")
    assert rel.scheme.system == "urn:oid:1.2.208.176.2.22"
    assert rel.scheme.version == "20240530"
    assert len(rel.concepts) == 220
    vaske = next(c for c in rel.concepts if c.code == VASKE_SIG)
    assert vaske.display == "Vaske sig"
    assert vaske.iri == f"https://w3id.org/ffb-termserver/ffb/{VASKE_SIG}"


def test_import_is_byte_identical_across_processes(tmp_path):
    src = KL / "CodeSystem-FSIII.json"
    outputs = []
    for i in range(2):
        target = tmp_path / str(i)
        code = (
            "import sys; from termserver.importer import import_codesystem; "
            "import_codesystem(sys.argv[1], sys.argv[2])"
        )
        subprocess.run(
            [sys.executable, "-c", code, str(src), str(target)],
            check=True,
            env={"PYTHONHASHSEED": str(i + 1), "PATH": "/usr/bin:/bin"},
        )
        outputs.append((target / "fsiii-20240530.ttl").read_bytes())
    assert outputs[0] == outputs[1]


def test_reimport_is_idempotent_and_says_unchanged(tmp_path):
    src = KL / "CodeSystem-LTT.json"
    first = import_codesystem(src, tmp_path)
    mtime = first.target.stat().st_mtime_ns
    second = import_codesystem(src, tmp_path)
    assert first.changed and not second.changed
    assert second.target.stat().st_mtime_ns == mtime


def test_properties_designations_and_status_survive_the_round_trip(tmp_path, ffb_slice):
    egenomsorg = ffb_slice["concept"][0]["concept"][0]["concept"][0]
    drikke, klaede, spise, vaske = egenomsorg["concept"]
    ffb_slice["property"] = [
        {"code": "status", "type": "code"},
        {"code": "replacedBy", "type": "code"},
        {"code": "effectiveDate", "type": "dateTime", "description": "Ikrafttræden"},
        {"code": "weight", "type": "decimal"},
        {"code": "rank", "type": "integer"},
        {"code": "icf", "type": "Coding"},
    ]
    spise["property"] = [
        {"code": "status", "valueCode": "retired"},
        {"code": "replacedBy", "valueCode": drikke["code"]},
        {"code": "effectiveDate", "valueDateTime": "2024-05-30"},
    ]
    klaede["property"] = [
        {"code": "inactive", "valueBoolean": False},
        {"code": "deprecated", "valueDateTime": "2025-01-01"},
    ]
    drikke["property"] = [
        {"code": "weight", "valueDecimal": 0.5},
        {"code": "rank", "valueInteger": 3},
        {"code": "icf", "valueCoding": {"system": "http://hl7.org/fhir/sid/icf", "code": "d560"}},
        {"code": "undeclared", "valueBoolean": True},
    ]
    vaske["designation"] = [
        {"language": "en", "value": "Washing oneself"},
        {
            "language": "en",
            "use": {
                "system": "http://snomed.info/sct",
                "code": "900000000000013009",
                "display": "Synonym",
            },
            "value": "Washing",
        },
        {"value": "Personlig hygiejne"},
    ]
    src = write_json(tmp_path / "cs.json", ffb_slice)
    result = import_codesystem(src, tmp_path / "out")
    from_json = read_codesystem_file(src)
    from_turtle = read_turtle(result.target)
    assert from_turtle.concepts == from_json.concepts
    by_code = {c.code: c for c in from_turtle.concepts}
    assert by_code[spise["code"]].status == RETIRED
    assert by_code[spise["code"]].replaced_by == (drikke["code"],)
    assert by_code[klaede["code"]].status == DEPRECATED
    props = {p.code: p.value for p in by_code[drikke["code"]].properties}
    assert props == {
        "weight": 0.5,
        "rank": 3,
        "icf": "http://hl7.org/fhir/sid/icf|d560",
        "undeclared": True,
    }
    assert by_code[vaske["code"]].label("en") == "Washing oneself"
    assert {d.use_code for d in by_code[vaske["code"]].designations} == {None, "900000000000013009"}
    assert [p.code for p in from_turtle.scheme.property_defs] == sorted(
        p["code"] for p in ffb_slice["property"]
    )


def test_parent_and_child_properties_build_a_polyhierarchy(ffb_slice):
    mobilitet = ffb_slice["concept"][0]["concept"][0]["concept"][1]
    gaa = mobilitet["concept"][1]
    egenomsorg = ffb_slice["concept"][0]["concept"][0]["concept"][0]
    gaa["property"] = [{"code": "parent", "valueCode": egenomsorg["code"]}]
    rel = read_codesystem(ffb_slice)
    concept = next(c for c in rel.concepts if c.code == gaa["code"])
    assert set(concept.parents) == {mobilitet["code"], egenomsorg["code"]}


# --- bad input: a clear error naming file and JSON path, nothing half-written --------------


def _error_for(tmp_path, text: str | bytes) -> SourceError:
    src = tmp_path / "bad.json"
    src.write_bytes(text if isinstance(text, bytes) else text.encode())
    with pytest.raises(SourceError) as info:
        read_codesystem_file(src)
    return info.value


def test_invalid_json_names_file_line_and_column(tmp_path):
    exc = _error_for(tmp_path, '{\n  "resourceType": "CodeSystem",\n  "url": \n}')
    assert exc.source == "bad.json"
    assert exc.location == "line 4, column 1"


def test_non_utf8_file_is_refused(tmp_path):
    exc = _error_for(tmp_path, b'{"resourceType": "CodeSystem", "url": "\xff"}')
    assert "UTF-8" in exc.message


@pytest.mark.parametrize(
    ("mutate", "path", "words"),
    [
        (lambda d: d.update(resourceType="ValueSet"), "$.resourceType", "expected 'CodeSystem'"),
        (lambda d: d.pop("url"), "$.url", "missing"),
        (lambda d: d.update(version=20240530), "$.version", "must be a string"),
        (lambda d: d.update(concept={}), "$.concept", "must be an array"),
        (
            lambda d: d["concept"][0]["concept"][0]["concept"][1]["concept"][0].pop("code"),
            "$.concept[0].concept[0].concept[1].concept[0].code",
            "missing",
        ),
        (
            lambda d: d["concept"][0]["concept"][0]["concept"][1]["concept"].append(
                {"code": "b3ddc7d7-f6c1-4d47-8280-456992cbe0a6"}
            ),
            "$.concept[0].concept[0].concept[1].concept[2].code",
            "occurs twice",
        ),
        (
            lambda d: d["concept"][0].update(display=["x"]),
            "$.concept[0].display",
            "must be a string",
        ),
        (
            lambda d: d["concept"][0].update(
                property=[{"code": "x", "valueCode": "a", "valueString": "b"}]
            ),
            "$.concept[0].property[0]",
            "exactly one value",
        ),
        (
            lambda d: d["concept"][0].update(property=[{"code": "parent", "valueCode": "nope"}]),
            "$.concept[0].property[0]",
            "not a code in this system",
        ),
        (
            lambda d: d["concept"][0].update(
                property=[{"code": "inactive", "valueBoolean": "yes"}]
            ),
            "$.concept[0].property[0].valueBoolean",
            "true or false",
        ),
        (
            lambda d: d["concept"][0].update(designation=[{"language": "en"}]),
            "$.concept[0].designation[0].value",
            "missing",
        ),
        (
            lambda d: d.update(property=[{"code": "p", "type": "blob"}]),
            "$.property[0].type",
            "unknown property type",
        ),
    ],
    ids=[
        "not-a-codesystem",
        "no-url",
        "version-not-string",
        "concept-not-array",
        "concept-without-code",
        "duplicate-code",
        "display-not-string",
        "two-values",
        "dangling-parent",
        "boolean-not-boolean",
        "designation-without-value",
        "unknown-property-type",
    ],
)
def test_malformed_codesystem_error_names_the_json_path(tmp_path, ffb_slice, mutate, path, words):
    mutate(ffb_slice)
    src = write_json(tmp_path / "bad.json", ffb_slice)
    with pytest.raises(SourceError) as info:
        read_codesystem_file(src)
    assert info.value.source == "bad.json"
    assert info.value.location == path
    assert words in info.value.message
    assert f"bad.json: {path}" in str(info.value)


def test_json_that_is_not_an_object_is_refused(tmp_path):
    exc = _error_for(tmp_path, "[1, 2, 3]")
    assert exc.location == "$" and "an array" in exc.message


def test_absurdly_deep_nesting_is_refused_not_crashing(tmp_path):
    inner: dict = {"code": "leaf"}
    for i in range(200):
        inner = {"code": f"c{i}", "concept": [inner]}
    doc = {
        "resourceType": "CodeSystem",
        "url": "http://example.org/cs",
        "version": "1",
        "id": "deep",
        "concept": [inner],
    }
    exc = _error_for(tmp_path, json.dumps(doc))
    assert "nested more than" in exc.message


def test_failed_import_leaves_existing_output_untouched(tmp_path, ffb_slice):
    out = tmp_path / "out"
    good = write_json(tmp_path / "good.json", ffb_slice)
    result = import_codesystem(good, out)
    before = result.target.read_bytes()
    ffb_slice["concept"][0]["concept"][0]["code"] = ffb_slice["concept"][0][
        "code"
    ]  # duplicate code
    bad = write_json(tmp_path / "good.json", ffb_slice)
    with pytest.raises(SourceError):
        import_codesystem(bad, out)
    assert result.target.read_bytes() == before
    assert sorted(p.name for p in out.iterdir()) == [result.target.name]


def test_fixture_is_a_real_slice_of_ffb():
    full = {c.code: c for c in read_codesystem_file(KL / "CodeSystem-FFB-20240530.json").concepts}
    for c in read_codesystem_file(DATA / "codesystem-ffb-slice.json").concepts:
        assert full[c.code].display == c.display
        assert full[c.code].parents == c.parents


def test_provenance_fields_survive_the_turtle_round_trip(tmp_path):
    import dataclasses

    from termserver.rdf_scheme import write_turtle

    rel = read_codesystem_file(DATA / "codesystem-ffb-slice.json")
    scheme = dataclasses.replace(
        rel.scheme,
        references=("Barnets lov § 20", "https://www.sbst.dk/udgivelser/2013/vum"),  # kept sorted
        valid_from="2011-04-01",
        valid_to="2023-12-31",
        codes_assigned=True,
    )
    concepts = tuple(
        dataclasses.replace(c, sources=("LEV 2020",), note="Foreslået", code_assigned=True)
        if c.code == VASKE_SIG
        else c
        for c in rel.concepts
    )
    src = dataclasses.replace(rel, scheme=scheme, concepts=concepts)
    path = tmp_path / "x.ttl"
    path.write_bytes(write_turtle(src))
    back = read_turtle(path)
    assert back.scheme == scheme
    assert back.concepts == concepts


@pytest.mark.parametrize(
    ("version", "words"),
    [
        ("2024\x000530", "printable"),
        ("9" * 300, "at most 64"),
        ("2024\\05", "printable"),
        ("../../etc", "printable"),
    ],
    ids=["nul-byte", "too-long", "backslash", "path"],
)
def test_unusable_version_is_refused_at_dollar_version(tmp_path, ffb_slice, version, words):
    ffb_slice["version"] = version
    src = write_json(tmp_path / "cs.json", ffb_slice)
    with pytest.raises(SourceError) as err:
        import_codesystem(src, tmp_path / "out")
    assert err.value.location == "$.version" and words in err.value.message
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
