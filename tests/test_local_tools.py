"""Local tools (VUM 1.0, SEL § 50, Barnets lov, ICS, Forandringskompasset) as SKOS schemes."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
import yaml
from conftest import ONTOLOGY, ROOT
from typer.testing import CliRunner

from termserver.cli import app
from termserver.errors import SourceError
from termserver.loading.local_tools import import_local_tools, read_local_tools
from termserver.rdf_scheme import read_turtle, write_turtle

YAML = ROOT / "data" / "local-tools" / "local_tools.yaml"
NOTES = yaml.safe_load(YAML.read_text("utf-8"))
TOOLS = {t["id"]: t for t in NOTES["tools"]}
# The scheme each YAML code prefix is expected to land in.
PREFIX_SCHEME = {
    "vum1": "vum-1",
    "sel50": "sel-50",
    "ics": "ics",
    "icsv1": "ics-dubu",
    "fkm": "forandringskompas-misbrug",
    "fkp": "forandringskompas-plejetilbud",
}
OWN_KINDS = {"group", "scale", "scale value"}  # concepts the project adds around the YAML items
SLUG = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")


@pytest.fixture(scope="module")
def releases():
    return {r.scheme.scheme: r for r in read_local_tools(YAML)}


def prop(concept, code):
    return next((p.value for p in concept.properties if p.code == code), None)


def by_code(release):
    return {c.code: c for c in release.concepts}


def sourced_tools():
    """Tools whose own items the notes list with codes of their own (not FFB/FSIII codes)."""
    return [t for t in NOTES["tools"] if t["items"] and not t["items"][0]["official_code"]]


def test_every_tool_with_sourced_items_becomes_a_scheme_with_all_its_items(releases):
    expected = {PREFIX_SCHEME[t["items"][0]["code"].split(":")[0]] for t in sourced_tools()}
    assert set(releases) == expected | {"barnets-lov"}
    for tool in sourced_tools():
        rel = releases[PREFIX_SCHEME[tool["items"][0]["code"].split(":")[0]]]
        concepts = by_code(rel)
        items = {i["code"].split(":", 1)[1]: i["label"] for i in tool["items"]}
        assert {c: concepts[c].display for c in items} == items
        own_items = [c for c in rel.concepts if prop(c, "kind") not in OWN_KINDS]
        assert len(own_items) == len(tool["items"])
        values = (tool.get("scale") or {}).get("values", [])
        assert sum(prop(c, "kind") == "scale value" for c in rel.concepts) == len(values)


def test_tools_known_only_by_title_get_no_scheme(releases):
    empty = [t["id"] for t in NOTES["tools"] if not t["items"]]
    assert len(empty) == 4  # four compass variants whose dimensions were not retrieved
    titles = {r.scheme.title for r in releases.values()}
    assert not titles & {TOOLS[t]["name"] for t in empty}


def test_vum_2_is_ffb_so_it_has_no_scheme_of_its_own_and_vum_1_says_so(releases):
    ffb = by_code(read_turtle(ONTOLOGY / "schemes" / "ffb-20240530.ttl"))
    for item in TOOLS["vum2"]["items"]:
        assert ffb[item["code"]].display.strip() == item["label"]
    assert not any(s.startswith("vum-2") for s in releases)
    assert "urn:oid:1.2.208.176.2.22" in releases["vum-1"].scheme.description


def test_sel_50_has_the_six_areas_and_ends_2023_12_31(releases):
    rel = releases["sel-50"]
    assert len(rel.concepts) == len(TOOLS["sel50"]["items"]) == 6
    assert {c.display for c in rel.concepts} == {
        "Udvikling og adfærd",
        "Familieforhold",
        "Skoleforhold",
        "Sundhedsforhold",
        "Fritidsforhold og venskaber",
        "Andre relevante forhold",
    }
    assert rel.scheme.valid_to == "2023-12-31" and rel.scheme.valid_from is None


def test_barnets_lov_applies_from_2024_01_01_with_sections_18_to_22(releases):
    rel = releases["barnets-lov"]
    assert rel.scheme.valid_from == "2024-01-01" and rel.scheme.valid_to is None
    concepts = by_code(rel)
    tops = sorted(c.display for c in rel.concepts if not c.parents)
    assert [t.split()[1] for t in tops] == ["18", "19", "20", "21", "22"]
    areas = sorted(c.display for c in rel.concepts if c.parents == ("paragraf-22",))
    assert areas == ["Barnet eller den unge", "Familien", "Netværket"]
    assert len([c for c in rel.concepts if c.parents == ("paragraf-18",)]) == 3
    # Headings are ours, and say so; every § cites the law.
    assert prop(concepts["paragraf-20"], "labelStatus") == "assigned"
    assert any("lovguiden.dk" in s and s.endswith("/20") for s in concepts["paragraf-20"].sources)


def test_vum_1_scale_runs_a_to_e_as_0_to_4_and_flags_b_to_d_uncertain(releases):
    concepts = by_code(releases["vum-1"])
    scale = [c for c in concepts.values() if c.parents == ("samlet-vurdering",)]
    assert [(prop(c, "value"), prop(c, "numeric")) for c in scale] == [
        ("A", 0),
        ("B", 1),
        ("C", 2),
        ("D", 3),
        ("E", 4),
    ]
    flagged = {prop(c, "value") for c in scale if prop(c, "labelStatus") == "uncertain"}
    assert flagged == {"B", "C", "D"}
    for c in scale:
        if prop(c, "value") in flagged:
            assert c.note and "Usikker label" in c.note
    assert concepts["samlet-vurdering"].not_selectable


def test_every_uncertain_label_in_the_notes_is_flagged_in_its_scheme(releases):
    uncertain = {
        v["label"]
        for t in sourced_tools()
        for v in (t.get("scale") or {}).get("values", []) + t["items"]
        if str(v.get("label_status", "")).startswith("uncertain")
    }
    flagged = {
        c.display
        for r in releases.values()
        for c in r.concepts
        if prop(c, "labelStatus") == "uncertain"
    }
    assert uncertain and flagged == uncertain


def test_compass_scales_have_ten_integer_steps_whose_labels_are_ours(releases):
    for scheme in ("forandringskompas-misbrug", "forandringskompas-plejetilbud"):
        steps = [c for c in releases[scheme].concepts if c.parents == ("skala-1-10",)]
        assert sorted(prop(c, "numeric") for c in steps) == list(range(1, 11))
        assert {prop(c, "labelStatus") for c in steps} == {"assigned"}
        dims = [c for c in releases[scheme].concepts if c.parents == ("dimensioner",)]
        assert len(dims) == len(TOOLS[scheme.replace("forandringskompas-", "fk_")]["items"])


def test_ics_sides_hold_their_dimensions_as_the_notes_say(releases):
    for tool_id, scheme in (("ics", "ics"), ("ics_v1", "ics-dubu")):
        concepts = by_code(releases[scheme])
        for item in TOOLS[tool_id]["items"]:
            code = item["code"].split(":", 1)[1]
            parent = item.get("parent")
            assert concepts[code].parents == ((parent.split(":", 1)[1],) if parent else ())


def test_every_concept_cites_a_source_and_code_assigned_follows_official_code(releases):
    official = {
        i["code"].split(":", 1)[1]: i["official_code"] for t in sourced_tools() for i in t["items"]
    }
    for rel in releases.values():
        assert rel.scheme.references
        for c in rel.concepts:
            assert c.sources, f"{rel.scheme.scheme} {c.code} has no source"
            # Items follow the notes; everything the project added has codes it assigned.
            assert c.code_assigned is not official.get(c.code, False)


def test_codes_are_readable_slugs_and_systems_are_project_urls(releases):
    for scheme, rel in releases.items():
        assert rel.scheme.system == f"https://w3id.org/ffb-termserver/{scheme}"
        assert rel.scheme.codes_assigned
        assert "/" not in rel.scheme.version and " " not in rel.scheme.version
        for c in rel.concepts:
            assert SLUG.fullmatch(c.code), c.code
            assert c.iri == f"https://w3id.org/ffb-termserver/{scheme}/{c.code}"


def test_no_mapping_from_the_notes_ends_up_in_the_schemes(releases):
    ffb_codes = {m["ffb_code"] for t in sourced_tools() for i in t["items"] for m in i["mappings"]}
    for rel in releases.values():
        text = write_turtle(rel).decode()
        assert "Match" not in text  # no skos:closeMatch / broadMatch / ...
        assert not any(code in text for code in ffb_codes)


def test_committed_turtle_equals_a_fresh_import(tmp_path):
    results = import_local_tools(YAML, tmp_path)
    for r in results:
        committed = ONTOLOGY / "schemes" / r.target.name
        assert committed.read_bytes() == r.target.read_bytes(), f"{committed} is stale"
    # No left-overs of an earlier version id either.
    ours = {r.scheme for r in results}
    on_disk = {
        p.name for p in (ONTOLOGY / "schemes").glob("*.ttl") if read_turtle(p).scheme.scheme in ours
    }
    assert on_disk == {r.target.name for r in results}


def test_turtle_reads_back_exactly_what_the_yaml_says(releases):
    for rel in releases.values():
        back = read_turtle(ONTOLOGY / "schemes" / f"{rel.scheme.scheme}-{rel.scheme.version}.ttl")
        assert back.scheme == rel.scheme
        assert back.concepts == rel.concepts


def test_import_is_byte_identical_across_processes(tmp_path):
    outputs = []
    for i in range(2):
        target = tmp_path / str(i)
        code = (
            "import sys; from termserver.loading.local_tools import import_local_tools; "
            "import_local_tools(sys.argv[1], sys.argv[2])"
        )
        subprocess.run(
            [sys.executable, "-c", code, str(YAML), str(target)],
            check=True,
            env={"PYTHONHASHSEED": str(i + 1), "PATH": "/usr/bin:/bin"},
        )
        outputs.append({p.name: p.read_bytes() for p in sorted(target.iterdir())})
    assert len(outputs[0]) == 7 and outputs[0] == outputs[1]


def test_malformed_yaml_names_file_and_line(tmp_path):
    lines = YAML.read_text("utf-8").splitlines()
    lines.insert(99, "    - code: [not closed")
    bad = tmp_path / "broken.yaml"
    bad.write_text("\n".join(lines), "utf-8")
    with pytest.raises(SourceError) as info:
        read_local_tools(bad)
    assert info.value.source == "broken.yaml"
    assert re.fullmatch(r"line \d+, column \d+", info.value.location)
    assert int(info.value.location.split()[1].rstrip(",")) >= 100


def test_missing_label_names_the_path_and_the_line_of_the_item(tmp_path):
    notes = yaml.safe_load(YAML.read_text("utf-8"))
    item = notes["tools"][3]["items"][2]
    del item["label"]
    bad = tmp_path / "nolabel.yaml"
    text = yaml.safe_dump(notes, allow_unicode=True, sort_keys=False)
    bad.write_text(text, "utf-8")
    with pytest.raises(SourceError) as info:
        read_local_tools(bad)
    assert info.value.source == "nolabel.yaml"
    assert info.value.location.startswith("tools[3].items[2].label (line ")
    line = int(re.search(r"line (\d+)", info.value.location).group(1))
    assert item["code"] in text.splitlines()[line - 1]
    assert "missing" in info.value.message


def test_a_changed_version_text_is_refused_rather_than_keeping_an_old_version_id(tmp_path):
    notes = yaml.safe_load(YAML.read_text("utf-8"))
    notes["tools"][0]["version"] = "1.0 (3. udg. 2015)"
    bad = tmp_path / "newer.yaml"
    bad.write_text(yaml.safe_dump(notes, allow_unicode=True, sort_keys=False), "utf-8")
    with pytest.raises(SourceError, match="2012-01") as info:
        read_local_tools(bad)
    assert info.value.location.startswith("tools[0].version")


def test_a_vum_2_item_that_is_not_an_ffb_concept_is_refused(tmp_path):
    notes = yaml.safe_load(YAML.read_text("utf-8"))
    vum2 = next(i for i, t in enumerate(notes["tools"]) if t["id"] == "vum2")
    notes["tools"][vum2]["items"][0]["official_code"] = False
    bad = tmp_path / "vum2.yaml"
    bad.write_text(yaml.safe_dump(notes, allow_unicode=True, sort_keys=False), "utf-8")
    with pytest.raises(SourceError, match="own scheme"):
        read_local_tools(bad)


def test_cli_writes_the_schemes_then_reports_them_unchanged(tmp_path):
    runner = CliRunner()
    first = runner.invoke(app, ["import-local-tools", str(YAML), "--out", str(tmp_path)])
    assert first.exit_code == 0, first.output
    assert first.output.count("skrevet") == 7
    second = runner.invoke(app, ["import-local-tools", str(YAML), "--out", str(tmp_path)])
    assert second.exit_code == 0 and second.output.count("uændret") == 7
    bad = tmp_path / "bad.yaml"
    bad.write_text("tools: [", "utf-8")
    failed = runner.invoke(app, ["import-local-tools", str(bad), "--out", str(tmp_path)])
    assert failed.exit_code == 1 and "bad.yaml" in failed.output


def test_search_and_lookup_find_the_local_tool_concepts(vocab):
    hits = vocab.search("forældreressourcer", limit=3)
    assert hits[0].concept.code == "foraeldreressourcer"
    assert vocab.scheme_of(hits[0].concept.system) == "forandringskompas-misbrug"
    c = vocab.lookup("https://w3id.org/ffb-termserver/ics", "socialt-netvaerk")
    assert [p.code for p in vocab.parents(c)] == ["familie-og-netvaerk"]
