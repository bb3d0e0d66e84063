"""Change records: shapes, validation against the release, workflow, review and conflicts."""

from __future__ import annotations

import pytest

pytest_plugins = ["curation_fixtures"]

FFB = "urn:oid:1.2.208.176.2.22"
VASKE_SIG = "885400cc-dd71-479e-8993-3fc48fdd6710"
VASKE_TOEJ = "bd67597b-e80f-427f-8cf9-79d01eff91fc"
EGENOMSORG = "da3f488f-1742-4d00-b247-a7d47500b36b"
PRAKTISKE_OPGAVER = "eef71492-65f5-4297-aa95-3c3a6866ddef"
AKTIVITET_OG_DELTAGELSE = "93433530-b85c-4d04-a4fb-5ae26cf16f1c"
sqlite_only = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def draft(cur, user, kind, payload, reason="Faglig begrundelse"):
    from termserver.curation.changes import KINDS
    from termserver.curation.service import NEEDS_IF_MATCH

    etag = cur.target(KINDS[kind].target(payload)).etag if kind in NEEDS_IF_MATCH else None
    return cur.create_change(user, kind, payload, reason, if_match=etag)


def proposal_problems(cur, user, kind, payload):
    from termserver.curation.changes import ChangeError

    c = draft(cur, user, kind, payload)
    with pytest.raises(ChangeError) as exc:
        cur.propose(user, c.id, c.etag)
    return [(p.where, p.message) for p in exc.value.problems]


@sqlite_only
def test_payload_shape_errors_name_the_field_in_danish(curation, people):
    from termserver.curation.changes import ChangeError

    with pytest.raises(ChangeError) as exc:
        curation.create_change(
            people["ebba"][0], "concept.move", {"scheme": "ffb", "parents": "x", "colour": 1}, ""
        )
    found = {p.where: p.message for p in exc.value.problems}
    assert found["reason"] == "en begrundelse er påkrævet"
    assert found["payload.code"] == "mangler"
    assert "liste" in found["payload.parents"]
    assert "ukendt felt" in found["payload.colour"]
    with pytest.raises(ChangeError, match="ukendt ændringstype"):
        curation.create_change(people["ebba"][0], "concept.delete", {}, "x")


@sqlite_only
def test_moving_a_concept_under_its_own_descendant_is_refused_as_a_cycle(curation, people):
    problems = proposal_problems(
        curation,
        people["ebba"][0],
        "concept.move",
        {"scheme": "ffb", "code": EGENOMSORG, "parents": [VASKE_SIG]},
    )
    assert problems == [("payload.parents[0]", f"{VASKE_SIG} ligger under {EGENOMSORG}: "
                         "flytningen giver en cyklus")]  # fmt: skip


@sqlite_only
def test_dangling_parent_and_missing_replacement_are_refused(curation, people):
    editor = people["ebba"][0]
    missing = "00000000-0000-0000-0000-000000000000"
    move = proposal_problems(
        curation, editor, "concept.move", {"scheme": "ffb", "code": VASKE_SIG, "parents": [missing]}
    )
    assert move == [("payload.parents[0]", f"ukendt begreb ffb/{missing}")]
    deprecate = proposal_problems(
        curation,
        editor,
        "concept.deprecate",
        {"scheme": "ffb", "code": VASKE_SIG, "replaced_by": [missing]},
    )
    assert deprecate == [("payload.replaced_by[0]", f"erstatningen ffb/{missing} findes ikke")]


@sqlite_only
def test_a_label_already_used_in_the_scheme_is_refused(curation, people):
    problems = proposal_problems(
        curation,
        people["ebba"][0],
        "concept.label",
        {"scheme": "ffb", "code": VASKE_SIG, "label": "vaske  TØJ"},
    )
    assert problems == [
        ("payload.label", f"betegnelsen 'vaske  TØJ' bruges allerede i ffb af {VASKE_TOEJ}")
    ]


@sqlite_only
def test_a_mapping_to_an_unknown_code_is_refused(curation, people):
    problems = proposal_problems(
        curation,
        people["ebba"][0],
        "mapping.add",
        {"set": "vum-1--ffb", "subject": "egenomsorg", "predicate": "closeMatch",
         "object": "00000000-0000-0000-0000-000000000000"},
    )  # fmt: skip
    assert problems == [
        ("payload.object", f"ukendt kode '00000000-0000-0000-0000-000000000000' i {FFB}")
    ]


@sqlite_only
def test_workflow_refuses_skipping_review_and_keeps_author_from_approving(curation, people):
    from termserver.curation.auth import Forbidden
    from termserver.curation.changes import StateError

    c = draft(
        curation,
        people["anna"][0],
        "concept.note",
        {"scheme": "ffb", "code": VASKE_SIG, "note": "Omfatter også at tørre sig."},
    )
    with pytest.raises(StateError, match="draft og kan ikke blive approved"):
        curation.approve(people["aksel"][0], c.id, c.etag)
    c = curation.propose(people["anna"][0], c.id, c.etag)
    with pytest.raises(Forbidden, match="selv skrevet"):
        curation.approve(people["anna"][0], c.id, c.etag)
    with pytest.raises(Forbidden, match="kræver approver"):
        curation.approve(people["ebba"][0], c.id, c.etag)
    rejected = curation.reject(people["aksel"][0], c.id, c.etag, "Ikke nødvendigt")
    assert (rejected.status, rejected.decided_by) == ("rejected", "aksel")


@sqlite_only
def test_two_approved_changes_to_the_same_label_are_flagged_and_block_the_release(curation, people):
    from termserver.curation.service import PublishBlocked

    a = draft(curation, people["ebba"][0], "concept.label",
              {"scheme": "ffb", "code": VASKE_SIG, "label": "Vaske sig og tørre sig"})  # fmt: skip
    b = draft(curation, people["erik"][0], "concept.label",
              {"scheme": "ffb", "code": VASKE_SIG, "label": "Personlig vask"})  # fmt: skip
    a = curation.propose(people["ebba"][0], a.id, a.etag)
    b = curation.propose(people["erik"][0], b.id, b.etag)
    a = curation.approve(people["anna"][0], a.id, a.etag)
    b = curation.approve(people["anna"][0], b.id, b.etag)
    assert b.conflicts == (a.id,) and curation.change(a.id).conflicts == (b.id,)
    with pytest.raises(PublishBlocked, match="konflikt"):
        curation.publish(people["anna"][0])
    b = curation.reject(people["aksel"][0], b.id, b.etag, "Vi tager Ebbas forslag")
    assert curation.change(a.id).conflicts == ()
    info = curation.publish(people["anna"][0])
    assert [c["id"] for c in info.changes] == [a.id]
    assert curation.snapshot().vocab.get(FFB, VASKE_SIG).display == "Vaske sig og tørre sig"


@sqlite_only
def test_changes_to_different_fields_of_a_concept_do_not_conflict(curation, people):
    a = draft(curation, people["ebba"][0], "concept.label",
              {"scheme": "ffb", "code": VASKE_SIG, "label": "Vaske sig og tørre sig"})  # fmt: skip
    b = draft(curation, people["erik"][0], "concept.note",
              {"scheme": "ffb", "code": VASKE_SIG, "note": "Se også Vaske tøj."})  # fmt: skip
    for c, who in ((a, "ebba"), (b, "erik")):
        c = curation.propose(people[who][0], c.id, c.etag)
        c = curation.approve(people["anna"][0], c.id, c.etag)
        assert c.conflicts == ()
    curation.publish(people["anna"][0])
    concept = curation.snapshot().vocab.get(FFB, VASKE_SIG)
    assert (concept.display, concept.note) == ("Vaske sig og tørre sig", "Se også Vaske tøj.")


@sqlite_only
def test_new_concept_move_deprecate_and_undeprecate_publish_through_turtle(curation, people):
    editor, approver = people["ebba"][0], people["anna"][0]
    new = draft(curation, editor, "concept.add",
                {"scheme": "ffb", "label": "Tørre sig", "parents": [EGENOMSORG],
                 "definition": "At tørre sig efter vask."},
                "Lokalt behov i hjemmeplejen")  # fmt: skip
    code = new.payload["code"]
    moved = draft(curation, editor, "concept.move",
                  {"scheme": "ffb", "code": VASKE_TOEJ, "parents": [EGENOMSORG]})  # fmt: skip
    for c in (new, moved):
        c = curation.propose(editor, c.id, c.etag)
        curation.approve(approver, c.id, c.etag)
    curation.publish(approver)
    vocab = curation.snapshot().vocab
    added = vocab.get(FFB, code)
    assert added.display == "Tørre sig" and added.code_assigned
    assert added.note.startswith(f"Foreslået af ebba (ændring #{new.id})")
    assert vocab.is_a(FFB, code, AKTIVITET_OG_DELTAGELSE)
    assert vocab.get(FFB, VASKE_TOEJ).parents == (EGENOMSORG,)

    dep = draft(curation, editor, "concept.deprecate",
                {"scheme": "ffb", "code": code, "replaced_by": [VASKE_SIG]})  # fmt: skip
    dep = curation.propose(editor, dep.id, dep.etag)
    curation.approve(approver, dep.id, dep.etag)
    curation.publish(approver)
    retired = curation.snapshot().vocab.get(FFB, code)
    assert (retired.status, retired.replaced_by) == ("deprecated", (VASKE_SIG,))

    undo = draft(curation, editor, "concept.undeprecate", {"scheme": "ffb", "code": code})
    undo = curation.propose(editor, undo.id, undo.etag)
    curation.approve(approver, undo.id, undo.etag)
    info = curation.publish(approver)
    assert curation.snapshot().vocab.get(FFB, code).status == "active"
    assert info.scheme_versions == {"ffb": "20240530-curated.3"}


@sqlite_only
def test_mapping_change_and_removal_carry_the_justification(curation, people):
    editor, approver = people["ebba"][0], people["anna"][0]
    change = draft(curation, editor, "mapping.change",
                   {"set": "vum-1--ffb", "subject": "egenomsorg", "object": EGENOMSORG,
                    "predicate": "exactMatch", "confidence": 0.9},
                   "Samme begreb i VUM 2.0's overgangsnøgle")  # fmt: skip
    remove = draft(curation, editor, "mapping.remove",
                   {"set": "vum-1--ffb", "subject": "praktiske-opgaver-i-hjemmet",
                    "object": PRAKTISKE_OPGAVER},
                   "Erstattes af mere præcise mapninger")  # fmt: skip
    for c in (change, remove):
        c = curation.propose(editor, c.id, c.etag)
        curation.approve(approver, c.id, c.etag)
    curation.publish(approver)
    rows = curation.snapshot().translator.mapping_set("vum-1--ffb").mappings
    row = next(m for m in rows if m.subject_code == "egenomsorg")
    assert (row.predicate, row.confidence, row.status, row.author) == (
        "skos:exactMatch", 0.9, "proposed", "ebba")  # fmt: skip
    assert row.reason == "Samme begreb i VUM 2.0's overgangsnøgle"
    assert not any(m.subject_code == "praktiske-opgaver-i-hjemmet" for m in rows)


@sqlite_only
def test_value_set_edit_is_checked_and_published(curation, people):
    import copy

    from termserver.curation.changes import ChangeError

    url = "http://fhir.kl.dk/term/ValueSet/KLSeveritiesFFB"
    editor, approver = people["ebba"][0], people["anna"][0]
    doc = copy.deepcopy(curation.snapshot().valuesets.get(url).resource)
    doc["compose"] = {"include": [{"system": FFB, "concept": [{"code": VASKE_SIG}]}]}
    bad = copy.deepcopy(doc)
    bad["compose"] = {"include": [{"system": FFB, "filter": [{"property": "concept"}]}]}
    with pytest.raises(ChangeError) as exc:
        c = draft(curation, editor, "valueset.edit", {"url": url, "definition": bad})
        curation.propose(editor, c.id, c.etag)
    assert exc.value.problems[0].where.startswith("payload.definition")
    c = draft(curation, editor, "valueset.edit", {"url": url, "definition": doc})
    c = curation.propose(editor, c.id, c.etag)
    curation.approve(approver, c.id, c.etag)
    info = curation.publish(approver)
    assert curation.snapshot().valuesets.expand(url).codes() == [VASKE_SIG]
    assert (info.path / "fhir" / "ValueSet-KLSeveritiesFFB.json").is_file()


@sqlite_only
def test_comments_are_kept_in_order(curation, people):
    c = draft(curation, people["ebba"][0], "concept.note",
              {"scheme": "ffb", "code": VASKE_SIG, "note": "Se også Vaske tøj."})  # fmt: skip
    curation.comment(people["anna"][0], c.id, "Hvorfor?")
    curation.comment(people["ebba"][0], c.id, "Brugerne forveksler dem.")
    assert [(x.author, x.body) for x in curation.comments(c.id)] == [
        ("anna", "Hvorfor?"),
        ("ebba", "Brugerne forveksler dem."),
    ]
