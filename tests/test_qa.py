"""`termserver check`: each QA rule finds what it should, and the real content passes."""

from __future__ import annotations

from conftest import ONTOLOGY

from termserver.model import Concept, SchemeRelease, SchemeVersion
from termserver.qa import ERROR, WARNING, check_releases, read_for_check, run_check


def release(version: str, rows: list[tuple], system: str = "http://example.org/t") -> SchemeRelease:
    """rows: (code, display, parents[, extra fields])"""
    meta = SchemeVersion(
        scheme="t", system=system, version=version, iri=f"x/{version}", scheme_iri="x", name="t"
    )
    concepts = []
    for row in rows:
        code, display, parents, *extra = row
        concepts.append(
            Concept(
                scheme="t",
                system=system,
                version=version,
                code=code,
                iri=f"x/{code}",
                display=display,
                language="da",
                definition=f"Definition af {display}",
                parents=parents,
                **(extra[0] if extra else {}),
            )
        )
    return SchemeRelease(meta, tuple(concepts))


def rules(findings, severity=None) -> set[str]:
    return {f.rule for f in findings if severity is None or f.severity == severity}


def test_clean_hierarchy_has_no_errors():
    findings = check_releases(
        [release("1", [("a", "A", ()), ("b", "B", ("a",)), ("c", "C", ("a",))])]
    )
    assert not rules(findings, ERROR)


def test_cycle_in_broader_is_an_error_naming_the_chain():
    findings = check_releases(
        [release("1", [("r", "R", ()), ("a", "A", ("c",)), ("b", "B", ("a",)), ("c", "C", ("b",))])]
    )
    cycles = [f for f in findings if f.rule == "broader-cycle"]
    assert len(cycles) == 1 and cycles[0].severity == ERROR
    assert "→" in cycles[0].message


def test_dangling_broader_and_replacement_are_errors():
    findings = check_releases(
        [
            release(
                "1",
                [
                    ("a", "A", ("ghost",)),
                    ("b", "B", (), {"status": "retired", "replaced_by": ("gone",)}),
                ],
            )
        ]
    )
    dangling = [f.message for f in findings if f.rule == "dangling-reference"]
    assert any("'ghost'" in m for m in dangling) and any("'gone'" in m for m in dangling)


def test_missing_label_is_an_error():
    assert "missing-label" in rules(check_releases([release("1", [("a", "  ", ())])]), ERROR)


def test_duplicate_labels_are_warnings_and_siblings_are_told_apart():
    siblings = check_releases(
        [
            release(
                "1", [("r", "R", ()), ("a", "Kriminalitet", ("r",)), ("b", "kriminalitet ", ("r",))]
            )
        ]
    )
    assert "duplicate-label-siblings" in rules(siblings, WARNING)
    apart = check_releases(
        [
            release(
                "1",
                [
                    ("r", "R", ()),
                    ("s", "S", ()),
                    ("a", "Kriminalitet", ("r",)),
                    ("b", "Kriminalitet", ("s",)),
                ],
            )
        ]
    )
    assert "duplicate-label" in rules(apart, WARNING) and not rules(apart, ERROR)


def test_orphan_is_a_concept_with_neither_broader_nor_narrower():
    findings = check_releases(
        [release("1", [("a", "A", ()), ("b", "B", ("a",)), ("lone", "Alene", ())])]
    )
    orphans = [f for f in findings if f.rule == "orphan"]
    assert [f.where for f in orphans] == ["t 1 lone"]


def test_display_change_between_releases_is_reported_and_whitespace_is_told_apart():
    old = release("1", [("a", "Ydelse\xa0\xa0", ()), ("b", "Gammel", ())])
    new = release("2", [("a", "Ydelse", ()), ("b", "Ny", ())])
    changes = {f.message for f in check_releases([new, old]) if f.rule == "display-changed"}
    assert any("whitespace only" in m for m in changes)
    assert any("'Gammel' → 'Ny' (relabelled)" in m for m in changes)


def test_code_that_disappears_between_releases_is_an_error():
    findings = check_releases(
        [release("1", [("a", "A", ()), ("b", "B", ())]), release("2", [("a", "A", ())])]
    )
    assert "code-removed" in rules(findings, ERROR)


def test_unreadable_scheme_file_becomes_an_error_finding(tmp_path):
    bad = tmp_path / "broken.ttl"
    bad.write_text("@prefix : <x> .\n:a :b", "utf-8")
    releases, findings = read_for_check([bad])
    assert not releases
    assert findings[0].rule == "unreadable-file" and "broken.ttl" in findings[0].where


def test_real_content_has_no_errors_and_reports_the_known_quirks():
    report = run_check(ONTOLOGY, owl=False)
    assert report.ok, [f for f in report.findings if f.severity == ERROR]
    found = rules(report.findings)
    # Real KL facts: Kriminalitet/Prostitution twice in FFB; labels changed between releases;
    # FFB 20200908 lacks some definitions.
    assert {"duplicate-label", "display-changed", "no-definition"} <= found
    kriminalitet = [
        f for f in report.findings if f.rule == "duplicate-label" and "'Kriminalitet'" in f.message
    ]
    assert kriminalitet


def test_broken_value_set_definition_fails_the_check(tmp_path):
    import shutil

    shutil.copytree(ONTOLOGY / "schemes", tmp_path / "schemes")
    shutil.copy(ONTOLOGY / "ffb-core.ttl", tmp_path / "ffb-core.ttl")
    (tmp_path / "valuesets").mkdir()
    (tmp_path / "valuesets" / "broken.json").write_text(
        '{"resourceType": "ValueSet", "url": "http://example.org/vs", "status": "draft",'
        ' "name": "Broken",'
        ' "compose": {"include": [{"system": "urn:oid:1.2.208.176.2.22",'
        ' "filter": [{"property": "concept", "op": "is-a", "value": "no-such-code"}]}]}}',
        "utf-8",
    )
    report = run_check(tmp_path, owl=False)
    assert not report.ok
    assert [f.rule for f in report.findings if f.severity == ERROR] == ["valueset-broken"]
