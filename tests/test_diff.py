"""Diffs between releases, their impact and the changelog, on the three real FFB releases.

The expected differences are computed here independently, straight from KL's FHIR JSON in
data/kl/ (no termserver code involved), and the named examples were checked by hand in those
files. Classes the real releases do not exercise (retirement, removal, English labels,
properties) are tested on a *proposed* release derived from FFB 20240530 in this file: the
proposals are the test's own, not KL's, and say so in the release description.
"""

from __future__ import annotations

import dataclasses
import json
from datetime import date
from pathlib import Path

import pytest
from conftest import FFB, FFB_TILSTANDE, KL, ONTOLOGY, ROOT, VASKE_SIG
from typer.testing import CliRunner

from termserver.cli import app
from termserver.content import read_releases
from termserver.diff import (
    ADDED,
    CLASSES,
    MOVED,
    PROPERTY,
    REACTIVATED,
    REDEFINED,
    RELABELLED,
    REMOVED,
    RETIRED,
    ReleaseDiff,
    as_release_diff,
    changed_concepts,
    changelog_markdown,
    changelog_text,
    diff_mapping_sets,
    diff_releases,
    diff_versions,
    impact,
    parse_release_ref,
)
from termserver.errors import UnknownConceptError
from termserver.mappings import CLOSE, EXACT, PROPOSED, Mapping, load_mapping_sets
from termserver.model import DEPRECATED, Designation, SchemeRelease
from termserver.model import RETIRED as STATUS_RETIRED
from termserver.valuesets import ValueSetIndex, load_valuesets
from termserver.vocabulary import Vocabulary

RELEASES = ("20200908", "20230517", "20240530")
PAIRS = [(RELEASES[0], RELEASES[1]), (RELEASES[1], RELEASES[2]), (RELEASES[0], RELEASES[2])]

OMGIVELSER = "7445fb2b-0009-43d9-b49b-1b9782f2fcd9"  # "Omgivelsesfaktorer" until 2020
OMGIVELSESFAKTORER_NEW = "a56d59c0-c8fd-468c-85f9-b67f66561b90"  # new in 20230517
SOCIAL_INDSATS = "67b4ac73-dedf-4337-ad56-476b0a55ab03"
STOTTE_SOCIALE_RELATIONER = "05cd5e81-1a3a-4bdd-901b-7ec96c12d990"
KRIMINALITET_TARGET_GROUP = "be53dafc-1fc2-4b9f-8ab3-9d468ff03e6e"
KRIMINALITET_CONDITION = "83cf43f1-6d71-477c-8583-2e28755b41d3"
PROSTITUTION_TARGET_GROUP = "122f3f8e-84a0-476f-b9c5-0e40b1dcf113"
EGENOMSORG = "da3f488f-1742-4d00-b247-a7d47500b36b"
IKKE_VURDERET = "2254dac8-8aa3-4334-8502-9720194f49ad"  # leaf under Støttebehovsniveau
PROPOSED_VERSION = "20240530-forslag"
SNOMED = "http://snomed.info/sct"

runner = CliRunner()


# --- the independent comparison on KL's JSON -----------------------------------------------------


def _raw(version: str) -> dict[str, dict]:
    """code -> display, definition, parents and status, read from the FHIR JSON by hand."""
    doc = json.loads((KL / f"CodeSystem-FFB-{version}.json").read_text("utf-8"))
    out: dict[str, dict] = {}

    def walk(nodes: list, parent: str | None) -> None:
        for n in nodes:
            entry = out.setdefault(
                n["code"],
                {
                    "display": n["display"],
                    "definition": n.get("definition"),
                    "parents": set(),
                    "status": "active",
                },
            )
            if parent:
                entry["parents"].add(parent)
            for p in n.get("property", []):
                if p["code"] == "parent":
                    entry["parents"].add(p["valueCode"])
                if p["code"] == "status":
                    entry["status"] = p["valueCode"]
            walk(n.get("concept", []), n["code"])

    walk(doc["concept"], None)
    return out


def _raw_diff(a: str, b: str) -> dict[str, set[str]]:
    old, new = _raw(a), _raw(b)
    both = old.keys() & new.keys()
    return {
        ADDED: new.keys() - old.keys(),
        REMOVED: old.keys() - new.keys(),
        RETIRED: {c for c in both if old[c]["status"] != new[c]["status"] != "active"},
        REACTIVATED: {c for c in both if old[c]["status"] != new[c]["status"] == "active"},
        RELABELLED: {c for c in both if old[c]["display"] != new[c]["display"]},
        REDEFINED: {c for c in both if old[c]["definition"] != new[c]["definition"]},
        MOVED: {c for c in both if old[c]["parents"] != new[c]["parents"]},
        PROPERTY: set(),  # FFB's JSON carries no other properties in any of the three releases
    }


@pytest.mark.parametrize(("a", "b"), PAIRS)
def test_ffb_release_diff_agrees_with_a_direct_comparison_of_kl_json(vocab, a, b):
    diff = diff_versions(vocab, FFB, a, vocab, b)
    expected = _raw_diff(a, b)
    assert {k: set(v) for k, v in _codes_by_class(diff).items()} == expected
    assert diff.counts() == {k: len(v) for k, v in expected.items()}
    assert (diff.concepts_a, diff.concepts_b) == (len(_raw(a)), len(_raw(b)))


def _codes_by_class(diff) -> dict[str, set[str]]:
    out = {k: set() for k in CLASSES}
    for c in diff.changes:
        out[c.kind].add(c.code)
    return out


def test_ffb_2020_to_2023_has_the_counts_found_by_hand(vocab):
    counts = diff_versions(vocab, FFB, "20200908", vocab, "20230517").summary()
    assert counts["counts"] == {
        ADDED: 1,
        REMOVED: 0,
        RETIRED: 0,
        REACTIVATED: 0,
        RELABELLED: 74,
        REDEFINED: 214,
        MOVED: 1,
        PROPERTY: 0,
    }
    # 72 of the 74 relabels only drop trailing (non-breaking) spaces.
    assert counts["whitespaceOnly"][RELABELLED] == 72


def test_ffb_2023_to_2024_only_renames_social_indsats_and_rewrites_38_definitions(vocab):
    diff = diff_versions(vocab, FFB, "20230517", vocab, "20240530")
    assert diff.counts()[RELABELLED] == 1 and diff.counts()[REDEFINED] == 38
    (rename,) = diff.of_kind(RELABELLED)
    assert (rename.code, rename.before, rename.after) == (
        SOCIAL_INDSATS,
        "Social indsats [Servicelov]",
        "Social indsats",
    )
    assert not rename.whitespace_only and rename.language == "da"
    redef = next(c for c in diff.of_kind(REDEFINED) if c.code == STOTTE_SOCIALE_RELATIONER)
    assert redef.before.startswith("Støtte til relationer og fællesskaber")
    assert redef.after.startswith("Socialpædagogisk støtte til sociale relationer er motivation")


def test_omgivelsesfaktorer_gets_a_new_parent_concept_of_the_same_name_in_2023(vocab):
    diff = diff_versions(vocab, FFB, "20200908", vocab, "20230517")
    (added,) = diff.of_kind(ADDED)
    assert added.code == OMGIVELSESFAKTORER_NEW and added.display == "Omgivelsesfaktorer"
    by_kind = {c.kind: c for c in diff.changes if c.code == OMGIVELSER}
    assert set(by_kind) == {RELABELLED, REDEFINED, MOVED}
    assert (by_kind[RELABELLED].before, by_kind[RELABELLED].after) == (
        "Omgivelsesfaktorer",
        "Omgivelser",
    )
    moved = by_kind[MOVED]
    assert [(r.code, r.display) for r in moved.before] == [(FFB_TILSTANDE, "FFB tilstande")]
    assert [(r.code, r.display) for r in moved.after] == [
        (OMGIVELSESFAKTORER_NEW, "Omgivelsesfaktorer")
    ]


def test_whitespace_only_relabel_is_flagged_and_22_definitions_were_added_in_2023(vocab):
    diff = diff_versions(vocab, FFB, "20200908", vocab, "20230517")
    ws = [c for c in diff.of_kind(RELABELLED) if c.whitespace_only]
    assert all(c.before.strip() == c.after and c.before != c.after for c in ws)
    added_defs = [c for c in diff.of_kind(REDEFINED) if c.before is None]
    raw_old = _raw("20200908")
    assert len(added_defs) == sum(1 for v in raw_old.values() if v["definition"] is None) == 22


def test_social_indsats_went_back_and_forth_across_the_three_releases(vocab):
    first = diff_versions(vocab, FFB, "20200908", vocab, "20230517")
    over_all = diff_versions(vocab, FFB, "20200908", vocab, "20240530")
    renamed_then = {c.code: c.after for c in first.of_kind(RELABELLED) if not c.whitespace_only}
    assert renamed_then[SOCIAL_INDSATS] == "Social indsats [Servicelov]"
    # 2020 and 2024 share the label, so the direct diff does not call it relabelled.
    assert SOCIAL_INDSATS not in {c.code for c in over_all.of_kind(RELABELLED)}


def test_a_release_compared_with_itself_is_empty(vocab):
    diff = diff_versions(vocab, FFB, "20240530", vocab, "20240530")
    assert diff.empty and set(diff.counts().values()) == {0}
    assert "Ingen ændringer." in changelog_markdown(diff)


# --- classes the real releases do not exercise: a proposed release ------------------------------


@pytest.fixture(scope="module")
def proposed_vocab(vocab) -> Vocabulary:
    """All shipped releases plus a release of FFB with the test's own proposals (not KL's)."""
    meta = dataclasses.replace(
        vocab.release(FFB, "20240530"),
        version=PROPOSED_VERSION,
        description="Forslag (test_diff.py, ikke KL): udfasning af dublerede målgrupper m.m.",
    )
    concepts = []
    for c in vocab.concepts(FFB, "20240530"):
        if c.code == IKKE_VURDERET:
            continue  # removed outright: the diff must call this out apart from retirement
        if c.code == KRIMINALITET_TARGET_GROUP:
            c = dataclasses.replace(c, status=STATUS_RETIRED, replaced_by=(KRIMINALITET_CONDITION,))
        elif c.code == PROSTITUTION_TARGET_GROUP:
            c = dataclasses.replace(c, status=DEPRECATED)
        elif c.code == VASKE_SIG:
            c = dataclasses.replace(
                c,
                designations=(
                    Designation("Washing oneself", "en"),
                    # SNOMED CT's designation use "synonym" (900000000000013009).
                    Designation("Personlig hygiejne", "da", SNOMED, "900000000000013009"),
                ),
            )
        elif c.code == EGENOMSORG:
            c = dataclasses.replace(c, not_selectable=True)
        concepts.append(dataclasses.replace(c, version=PROPOSED_VERSION))
    return Vocabulary([*read_releases(ONTOLOGY), SchemeRelease(meta, tuple(concepts))])


def test_retirement_with_replacement_and_deprecation_are_classified_as_retired(proposed_vocab):
    diff = diff_versions(proposed_vocab, FFB, "20240530", proposed_vocab, PROPOSED_VERSION)
    retired = {c.code: c for c in diff.of_kind(RETIRED)}
    assert set(retired) == {KRIMINALITET_TARGET_GROUP, PROSTITUTION_TARGET_GROUP}
    krim = retired[KRIMINALITET_TARGET_GROUP]
    assert (krim.before, krim.after) == ("active", STATUS_RETIRED)
    assert [(r.code, r.display) for r in krim.replaced_by] == [
        (KRIMINALITET_CONDITION, "Kriminalitet")
    ]
    assert retired[PROSTITUTION_TARGET_GROUP].after == DEPRECATED
    assert [c.code for c in diff.of_kind(REMOVED)] == [IKKE_VURDERET]
    back = diff_versions(proposed_vocab, FFB, PROPOSED_VERSION, proposed_vocab, "20240530")
    assert {c.code for c in back.of_kind(REACTIVATED)} == set(retired)
    assert [c.code for c in back.of_kind(ADDED)] == [IKKE_VURDERET]


def test_labels_are_compared_per_language_preferred_and_alternative(proposed_vocab):
    diff = diff_versions(proposed_vocab, FFB, "20240530", proposed_vocab, PROPOSED_VERSION)
    labels = {(c.language, c.label_type): c for c in diff.of_kind(RELABELLED)}
    assert set(labels) == {("en", "preferred"), ("da", "alternative")}
    assert (labels["en", "preferred"].before, labels["en", "preferred"].after) == (
        None,
        "Washing oneself",
    )
    assert labels["da", "alternative"].after == ("Personlig hygiejne",)
    (prop,) = diff.of_kind(PROPERTY)
    assert (prop.code, prop.property, prop.before, prop.after) == (
        EGENOMSORG,
        "notSelectable",
        (),
        ("true",),
    )


def test_release_diff_compares_newest_releases_and_lists_schemes_added_and_removed(
    vocab, proposed_vocab
):
    smaller = Vocabulary([r for r in read_releases(ONTOLOGY) if r.scheme.scheme != "ltt"])
    rd = diff_releases(smaller, proposed_vocab, label_a="før", label_b="efter")
    assert [s.scheme for s in rd.changed_schemes()] == ["ffb"]
    assert rd.changed_schemes()[0].version_b == PROPOSED_VERSION
    assert rd.schemes_added == ("http://fhir.kl.dk/term/CodeSystem/LTT|20250530",)
    assert rd.summary()["counts"][RETIRED] == 2
    assert "fsiii|20240530" in rd.to_dict()["unchanged"]


# --- mappings -------------------------------------------------------------------------------------


def test_mapping_diff_finds_added_removed_relation_and_justification_changes():
    old = load_mapping_sets(ROOT / "mappings")
    fsiii = next(ms for ms in old if ms.id == "fsiii--ffb")
    first, second, third, *rest = fsiii.mappings
    assert first.predicate == CLOSE
    new_row = Mapping(
        subject_system=fsiii.subject_system,
        subject_code=second.subject_code,
        predicate=EXACT,
        object_system=fsiii.object_system,
        object_code=third.object_code,
        status=PROPOSED,
        author="test_diff.py",
        date=date(2026, 1, 1),
        reason="Forslag i testen, ikke KL's.",
    )
    changed = [
        dataclasses.replace(first, predicate=EXACT),
        dataclasses.replace(second, reason="Ny begrundelse (test)."),
        *rest,
        new_row,
    ]
    new = [
        dataclasses.replace(fsiii, mappings=tuple(changed)) if ms is fsiii else ms
        for ms in old
        if ms.id != "ics--ffb"
    ]
    md = diff_mapping_sets(old, new)
    ics_rows = len(next(ms for ms in old if ms.id == "ics--ffb").mappings)
    assert md.sets_removed == ("ics--ffb",) and md.sets_added == ()
    assert md.counts() == {"added": 1, "removed": ics_rows + 1, "changed": 2}
    by_subject = {c.subject_code: c for c in md.of_kind("changed")}
    assert by_subject[first.subject_code].relation_changed
    assert by_subject[first.subject_code].fields == {"predicate": (CLOSE, EXACT)}
    assert by_subject[second.subject_code].justification_changed
    assert not by_subject[second.subject_code].relation_changed
    md_text = changelog_markdown(ReleaseDiff("før", "efter", mappings=md))
    assert "## Mappinger" in md_text and "Fjernede mapping-sæt: `ics--ffb`" in md_text
    assert "### Ændrede mappinger (2)" in md_text and "predicate: «skos:closeMatch»" in md_text
    removed_fsiii = [c for c in md.of_kind("removed") if c.set_id == "fsiii--ffb"]
    assert [c.object_code for c in removed_fsiii] == [third.object_code]
    assert diff_mapping_sets(old, old).empty


# --- impact --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def kl_valuesets(vocab) -> ValueSetIndex:
    return ValueSetIndex(vocab, load_valuesets(ONTOLOGY / "valuesets"))


def test_impact_of_2020_to_2023_names_the_mapping_rows_and_value_sets_on_omgivelser(
    vocab, kl_valuesets
):
    sets = load_mapping_sets(ROOT / "mappings")
    diff = diff_versions(vocab, FFB, "20200908", vocab, "20230517")
    found = impact(diff, mapping_sets=sets, valuesets=kl_valuesets)
    rows = {(m.set_id, m.mapping.subject_code, m.mapping.object_code) for m in found.mappings}
    # Every row naming Omgivelser, found by scanning the YAML rows directly.
    on_omgivelser = {
        (ms.id, m.subject_code, m.object_code)
        for ms in sets
        for m in ms.mappings
        if OMGIVELSER in (m.subject_code, m.object_code)
    }
    assert on_omgivelser and on_omgivelser <= rows
    vs = {v.name: v for v in found.valuesets}
    # KLConditionOCodesFFB is "descendent-of Omgivelser"; KLThemesFFB lists it explicitly.
    assert vs["KLConditionOCodesFFB"].referenced == {OMGIVELSER: (RELABELLED, REDEFINED, MOVED)}
    assert OMGIVELSER in vs["KLThemesFFB"].referenced
    # A mapping row is only reported when an end it names changed.
    changed = {(FFB, c.code) for c in diff.changes if c.kind != ADDED}
    assert all(set(m.changed) <= changed for m in found.mappings)


def test_impact_reports_value_set_membership_lost_by_a_removed_concept(
    proposed_vocab,
):
    index = ValueSetIndex(proposed_vocab, load_valuesets(ONTOLOGY / "valuesets"))
    diff = diff_versions(proposed_vocab, FFB, "20240530", proposed_vocab, PROPOSED_VERSION)
    found = impact(diff, valuesets=index)
    vs = {v.name: v for v in found.valuesets}
    old_members = {
        name
        for name in vs
        if IKKE_VURDERET in index.expand(vs[name].url, system_versions={FFB: "20240530"}).codes()
    }
    assert old_members == {"KLNeedsAssessmentCodesFFB", "KLMatterOfInterestValues"}
    # A rule ("descendants of Støttebehovsniveau") just loses the member ...
    assert vs["KLNeedsAssessmentCodesFFB"].members_removed == (IKKE_VURDERET,)
    # ... but a value set listing the code by name can no longer be expanded: say so.
    listed = vs["KLMatterOfInterestValues"]
    assert listed.referenced == {IKKE_VURDERET: (REMOVED,)}
    (error,) = listed.errors
    assert error.startswith(f"ffb|{PROPOSED_VERSION}: ") and IKKE_VURDERET in error
    # KL lists its target groups by code; the Prostitution target group is one of them (the
    # Kriminalitet one is not), so only the former's deprecation reaches KLTargetGroupsFFB.
    target_groups = vs["KLTargetGroupsFFB"]
    assert target_groups.members_changed == {PROSTITUTION_TARGET_GROUP: (RETIRED,)}
    assert target_groups.referenced == {PROSTITUTION_TARGET_GROUP: (RETIRED,)}


def test_impact_finds_stored_plans_using_changed_codes(vocab):
    diff = diff_versions(vocab, FFB, "20230517", vocab, "20240530")
    plans = [
        ("plan-a", [SOCIAL_INDSATS, VASKE_SIG]),
        ("plan-b", [(FFB, STOTTE_SOCIALE_RELATIONER), ("urn:other", SOCIAL_INDSATS)]),
        ("plan-c", [EGENOMSORG]),
    ]
    found = impact(diff, plans=plans)
    assert {p.plan_id: p.codes for p in found.plans} == {
        "plan-a": {SOCIAL_INDSATS: (RELABELLED, REDEFINED)},
        "plan-b": {STOTTE_SOCIALE_RELATIONER: (REDEFINED,)},
    }


# --- rendering and references -------------------------------------------------------------------


def test_changelog_markdown_is_danish_and_groups_whitespace_only_relabels(vocab):
    diff = diff_versions(vocab, FFB, "20200908", vocab, "20230517")
    md = changelog_markdown(diff)
    assert md.startswith("# Ændringer fra ffb|20200908 til ffb|20230517")
    assert "| Nye begreber | 1 |" in md and "| Ændrede betegnelser | 74 |" in md
    assert "Kun mellemrum rettet (72):" in md
    assert "**Omgivelser** (`7445fb2b-0009-43d9-b49b-1b9782f2fcd9`)" in md
    # Labels from the source are escaped: [Servicelov] is not a Markdown link.
    assert "«Social indsats \\[Servicelov\\]»" in md
    text = changelog_text(diff)
    assert "Nye begreber: 1" in text and "heraf kun mellemrum rettet i betegnelsen: 72" in text


def test_changelog_lists_replacements_of_retired_concepts(proposed_vocab):
    diff = diff_versions(proposed_vocab, FFB, "20240530", proposed_vocab, PROPOSED_VERSION)
    md = changelog_markdown(diff)
    assert "aktiv → udgået; erstattet af Kriminalitet (`83cf43f1" in md
    assert "### Fjernede begreber (slettet uden udfasning) (1)" in md


def test_release_diff_to_dict_round_trips_through_json(vocab):
    doc = as_release_diff(diff_versions(vocab, FFB, "20230517", vocab, "20240530")).to_dict()
    again = json.loads(json.dumps(doc))
    assert again["summary"]["counts"][REDEFINED] == 38
    (scheme,) = again["schemes"]
    assert scheme["changes"][RELABELLED][0]["after"] == "Social indsats"


@pytest.mark.parametrize(
    "text", ["ffb@20200908", "ffb|20200908", "urn:oid:1.2.208.176.2.22|20200908"]
)
def test_release_references_name_scheme_or_system_and_version(vocab, text):
    assert parse_release_ref(vocab, text) == (FFB, "20200908")


def test_release_reference_without_version_means_newest_and_unknown_ones_fail(vocab):
    assert parse_release_ref(vocab, "ffb") == (FFB, "20240530")
    with pytest.raises(UnknownConceptError, match="held: 20240530, 20230517, 20200908"):
        parse_release_ref(vocab, "ffb@1999")
    with pytest.raises(UnknownConceptError, match="unknown scheme 'nope'"):
        parse_release_ref(vocab, "nope|1")


# --- CLI and API ---------------------------------------------------------------------------------


def test_cli_diff_as_json_with_impact(vocab):
    r = runner.invoke(app, ["diff", "ffb@20200908", "ffb@20240530", "--format", "json", "--impact"])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.output)
    expected = _raw_diff("20200908", "20240530")
    assert doc["summary"]["counts"] == {k: len(v) for k, v in expected.items()}
    assert doc["impact"]["counts"]["valuesets"] > 0


def test_cli_diff_markdown_and_text(tmp_path: Path):
    r = runner.invoke(app, ["diff", "ffb@20230517", "ffb@20240530", "--format", "markdown"])
    assert r.exit_code == 0, r.output
    assert "### Ændrede definitioner (38)" in r.output
    r = runner.invoke(app, ["diff", "ffb|20230517", "ffb"])
    assert r.exit_code == 0 and "Ændrede betegnelser: 1" in r.output


def test_cli_diff_refuses_unknown_versions_and_two_systems():
    r = runner.invoke(app, ["diff", "ffb@1999", "ffb"])
    assert r.exit_code == 2 and "Ukendt udgave" in r.output and "20200908" in r.output
    r = runner.invoke(app, ["diff", "ffb", "fsiii"])
    assert r.exit_code == 2 and "To forskellige kodesystemer" in r.output
    r = runner.invoke(app, ["diff", "ffb", "ffb", "--format", "pdf"])
    assert r.exit_code == 2 and "Ukendt format" in r.output


def test_api_diff_answers_the_same_diff_with_impact(client, vocab):
    r = client.get(
        "/api/diff", params={"from": "ffb|20200908", "to": "ffb|20230517", "impact": "true"}
    )
    assert r.status_code == 200, r.text
    doc = r.json()
    expected = as_release_diff(diff_versions(vocab, FFB, "20200908", vocab, "20230517"))
    assert doc["summary"] == json.loads(json.dumps(expected.summary()))
    assert "KLConditionOCodesFFB" in {v["name"] for v in doc["impact"]["valuesets"]}


def test_api_diff_markdown_errors_and_openapi(client):
    r = client.get(
        "/api/diff", params={"from": "ffb@20230517", "to": "ffb@20240530", "format": "markdown"}
    )
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/markdown")
    assert "Social indsats" in r.text
    r = client.get("/api/diff", params={"from": "ffb|1999", "to": "ffb"})
    assert r.status_code == 404 and r.json()["where"] == "from"
    r = client.get("/api/diff", params={"from": "ffb", "to": "fsiii"})
    assert r.status_code == 400 and "different code systems" in r.json()["message"]
    r = client.get("/api/diff", params={"from": "x" * 400, "to": "ffb"})
    assert r.status_code == 400
    assert "/api/diff" in client.get("/openapi.json").json()["paths"]


def _ffb_codes_in(doc) -> set[str]:
    """Every FFB code written anywhere in a JSON/YAML document (independent of the plan reader)."""
    found: set[str] = set()
    stack = [doc]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if item.get("system") == FFB and isinstance(item.get("code"), str):
                found.add(item["code"])
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return found


def test_cli_diff_impact_on_a_folder_of_stored_plans(tmp_path: Path, vocab):
    import shutil

    import yaml

    examples = ROOT / "examples" / "plans"
    shutil.copy(examples / "plan-bundle.json", tmp_path / "plan-bundle.json")
    (tmp_path / "borger").mkdir()
    shutil.copy(examples / "borgerens-plan.yaml", tmp_path / "borger" / "plan.yaml")
    (tmp_path / "broken.json").write_text('{"resourceType": "Bundle", ', "utf-8")
    r = runner.invoke(
        app,
        [
            "diff", "ffb@20230517", "ffb@20240530", "--format", "json", "--impact",
            "--plans", str(tmp_path),
        ],
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    changed = {
        code
        for _, code in changed_concepts(diff_versions(vocab, FFB, "20230517", vocab, "20240530"))
    }
    bundle = _ffb_codes_in(json.loads((examples / "plan-bundle.json").read_text("utf-8")))
    native = yaml.safe_load((examples / "borgerens-plan.yaml").read_text("utf-8"))
    # native plans may write FFB codes without a system (the field says which scheme): any code
    # of the changed set that appears as a value counts
    native_text = json.dumps(native)
    expected = {
        "plan-bundle.json": bundle & changed,
        "borger/plan.yaml": {c for c in changed if c in native_text},
    }
    got = {p["plan"]: {c["code"] for c in p["codes"]} for p in doc["impact"]["plans"]}
    assert got == {k: v for k, v in expected.items() if v}
    assert got  # the examples do use concepts whose definitions changed in 2024
    assert "broken.json" in r.stderr


def test_cli_diff_plans_needs_impact_and_a_folder(tmp_path: Path):
    r = runner.invoke(app, ["diff", "ffb@20230517", "ffb", "--plans", str(tmp_path)])
    assert r.exit_code == 2
    r = runner.invoke(
        app, ["diff", "ffb@20230517", "ffb", "--impact", "--plans", str(tmp_path / "nope")]
    )
    assert r.exit_code == 2
