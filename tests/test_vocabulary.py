"""The snapshot answers term questions about the real KL content correctly."""

from __future__ import annotations

import dataclasses

import pytest
from conftest import (
    AKTIVITET_OG_DELTAGELSE,
    EGENOMSORG,
    FFB,
    FFB_TILSTANDE,
    KL_SCHEMES,
    LOCAL_SCHEMES,
    VASKE_SIG,
)

from termserver.errors import UnknownConceptError
from termserver.model import Concept, SchemeRelease, SchemeVersion
from termserver.vocabulary import NOT_SUBSUMED, SUBSUMED_BY, SUBSUMES, Vocabulary, version_key

YDELSE = "af7624f8-affd-4a7e-8754-b1b1dd9d8def"
OMGIVELSER = "7445fb2b-0009-43d9-b49b-1b9782f2fcd9"
OMGIVELSESFAKTORER = "a56d59c0-c8fd-468c-85f9-b67f66561b90"


def test_lookup_vaske_sig_by_its_ffb_code(vocab):
    c = vocab.lookup(FFB, VASKE_SIG)
    assert c.display == "Vaske sig"
    assert c.version == "20240530"
    assert c.status == "active"
    assert "vaske" in c.definition.lower()


def test_vaske_sig_path_goes_up_to_ffb_tilstande(vocab):
    path = vocab.path_to_top(vocab.lookup(FFB, VASKE_SIG))
    assert [p.code for p in path] == [FFB_TILSTANDE, AKTIVITET_OG_DELTAGELSE, EGENOMSORG, VASKE_SIG]
    assert [p.display for p in path][:3] == [
        "FFB tilstande",
        "Aktivitet og deltagelse",
        "Egenomsorg",
    ]


def test_vaske_sig_exists_in_all_three_ffb_releases(vocab):
    assert vocab.versions_of(FFB, VASKE_SIG) == ["20240530", "20230517", "20200908"]
    assert [v.version for v in vocab.versions(FFB)] == ["20240530", "20230517", "20200908"]
    assert vocab.default_version(FFB) == "20240530"


def test_old_releases_answer_with_their_own_labels(vocab):
    assert vocab.lookup(FFB, YDELSE, "20200908").display == "Ydelse\xa0\xa0"
    assert vocab.lookup(FFB, YDELSE).display == "Ydelse"


def test_concept_added_in_a_later_release_is_unknown_in_the_older_one(vocab):
    assert vocab.lookup(FFB, OMGIVELSESFAKTORER).display == "Omgivelsesfaktorer"
    with pytest.raises(UnknownConceptError, match="exists in version 20240530, 20230517"):
        vocab.lookup(FFB, OMGIVELSESFAKTORER, "20200908")


def test_moved_concept_has_release_specific_parents(vocab):
    old = vocab.lookup(FFB, OMGIVELSER, "20200908")
    new = vocab.lookup(FFB, OMGIVELSER)
    assert new.parents == (OMGIVELSESFAKTORER,)
    assert old.parents != new.parents


def test_parents_children_ancestors_and_descendants(vocab):
    egenomsorg = vocab.lookup(FFB, EGENOMSORG)
    assert [p.code for p in vocab.parents(egenomsorg)] == [AKTIVITET_OG_DELTAGELSE]
    kids = [k.display for k in vocab.children(egenomsorg)]
    assert "Vaske sig" in kids and kids == sorted(kids)
    vaske = vocab.lookup(FFB, VASKE_SIG)
    assert [a.code for a in vocab.ancestors(vaske)] == [
        EGENOMSORG,
        AKTIVITET_OG_DELTAGELSE,
        FFB_TILSTANDE,
    ]
    ad = vocab.descendants(vocab.lookup(FFB, AKTIVITET_OG_DELTAGELSE))
    assert vaske in ad and egenomsorg in ad
    assert all(vocab.is_a(FFB, c.code, AKTIVITET_OG_DELTAGELSE) for c in ad)


def test_subsumption_in_both_directions(vocab):
    assert vocab.subsumes(FFB, EGENOMSORG, VASKE_SIG) == SUBSUMES
    assert vocab.subsumes(FFB, VASKE_SIG, EGENOMSORG) == SUBSUMED_BY
    assert vocab.subsumes(FFB, VASKE_SIG, VASKE_SIG) == "equivalent"
    assert vocab.subsumes(FFB, VASKE_SIG, YDELSE) == NOT_SUBSUMED
    assert vocab.is_a(FFB, VASKE_SIG, FFB_TILSTANDE)
    assert not vocab.is_a(FFB, FFB_TILSTANDE, VASKE_SIG)


def test_kriminalitet_exists_twice_with_different_parents(vocab):
    hits = [c for c in vocab.concepts(FFB) if c.display == "Kriminalitet"]
    assert len(hits) == 2
    assert len({c.parents for c in hits}) == 2


def test_lookup_by_iri_defaults_to_newest_and_accepts_a_version(vocab):
    iri = f"https://w3id.org/ffb-termserver/ffb/{YDELSE}"
    assert vocab.by_iri(iri).version == "20240530"
    assert vocab.by_iri(iri, "20200908").display == "Ydelse\xa0\xa0"
    with pytest.raises(UnknownConceptError):
        vocab.by_iri("https://w3id.org/ffb-termserver/ffb/no-such-code")


def test_unknown_system_code_and_version_raise_clear_errors(vocab):
    with pytest.raises(UnknownConceptError, match="unknown code system"):
        vocab.lookup("http://example.org/nope", VASKE_SIG)
    with pytest.raises(UnknownConceptError, match="unknown code 'nope'"):
        vocab.lookup(FFB, "nope")
    with pytest.raises(UnknownConceptError, match=r"no version '1999'.*held: 20240530"):
        vocab.lookup(FFB, VASKE_SIG, "1999")
    assert vocab.get(FFB, "nope") is None


def test_every_kl_code_system_and_local_tool_is_listed_with_its_versions(vocab):
    schemes = {s.scheme: s for s in vocab.schemes()}
    assert set(schemes) == KL_SCHEMES | LOCAL_SCHEMES
    assert vocab.system_of("ffb") == FFB
    assert vocab.scheme_of(FFB) == "ffb"
    # Seven KL files (three of them FFB releases) and one release per local tool.
    assert vocab.stats()["releases"] == 7 + len(LOCAL_SCHEMES)


def test_snapshot_records_are_immutable(vocab):
    c = vocab.lookup(FFB, VASKE_SIG)
    with pytest.raises(dataclasses.FrozenInstanceError):
        c.display = "Noget andet"  # type: ignore[misc]


def _release(version: str, concepts: list[tuple[str, tuple[str, ...]]], **kw) -> SchemeRelease:
    meta = SchemeVersion(
        scheme="t",
        system="http://example.org/t",
        version=version,
        iri=f"x/{version}",
        scheme_iri="x",
        name="t",
    )
    return SchemeRelease(
        meta,
        tuple(
            Concept(
                scheme="t",
                system=meta.system,
                version=version,
                code=code,
                iri=f"x/{code}",
                display=code.upper(),
                language="da",
                parents=parents,
                **kw.get(code, {}),
            )
            for code, parents in concepts
        ),
    )


def test_a_cycle_in_the_source_does_not_hang_the_snapshot():
    vocab = Vocabulary(
        [_release("1", [("a", ("c",)), ("b", ("a",)), ("c", ("b",)), ("d", ("a",))])]
    )
    assert vocab.is_a("http://example.org/t", "d", "c")
    assert len(vocab.path_to_top(vocab.lookup("http://example.org/t", "d"))) <= 4


def test_deep_hierarchy_does_not_hit_the_recursion_limit():
    chain = [("c0", ())] + [(f"c{i}", (f"c{i - 1}",)) for i in range(1, 5000)]
    vocab = Vocabulary([_release("1", chain)])
    assert vocab.is_a("http://example.org/t", "c4999", "c0")


def test_retired_concept_names_its_replacement():
    rel = _release(
        "1",
        [("old", ()), ("new", ())],
        old={"status": "retired", "replaced_by": ("new",)},
    )
    vocab = Vocabulary([rel])
    old = vocab.lookup("http://example.org/t", "old")
    assert not old.active
    assert [r.code for r in vocab.replacement(old)] == ["new"]


def test_versions_sort_numerically():
    assert sorted(["1.10", "1.9", "1.2"], key=version_key) == ["1.2", "1.9", "1.10"]
    assert max(["20200908", "20240530", "20230517"], key=version_key) == "20240530"


def test_the_same_release_loaded_twice_is_refused():
    with pytest.raises(ValueError, match="loaded twice"):
        Vocabulary([_release("1", [("a", ())]), _release("1", [("a", ())])])


def test_an_overlay_searches_its_own_and_the_base_concepts_and_leaves_the_base_alone(vocab):
    extra = _release("9", [("vaskeægte", ()), ("vaskebjørn", ("vaskeægte",))])
    merged = vocab.with_releases([extra])
    found = {(h.concept.system, h.concept.code) for h in merged.search("vaske", limit=200)}
    assert ("http://example.org/t", "vaskebjørn") in found
    assert (FFB, VASKE_SIG) in found
    assert merged.is_a("http://example.org/t", "vaskebjørn", "vaskeægte")
    # The base snapshot is not changed by the overlay built from it.
    assert "http://example.org/t" not in vocab.systems()
    assert all(h.concept.system != "http://example.org/t" for h in vocab.search("vaske"))


def test_an_overlay_release_replaces_the_base_release_of_the_same_version():
    base = Vocabulary([_release("1", [("a", ()), ("b", ("a",))])])
    merged = base.with_releases([_release("1", [("a", ()), ("c", ("a",))])])
    assert [c.code for c in merged.concepts("http://example.org/t")] == ["a", "c"]
    assert [h.concept.code for h in merged.search("C")] == ["c"]
    assert [h.concept.code for h in base.search("B")] == ["b"]


def test_the_search_index_is_built_once_under_concurrent_first_searches(monkeypatch):
    import threading

    import termserver.vocabulary as module

    built = []

    class Counting(module.LabelIndex):
        def __init__(self, entries):
            built.append(1)
            super().__init__(entries)

    monkeypatch.setattr(module, "LabelIndex", Counting)
    vocab = Vocabulary([_release("1", [(f"c{i}", ()) for i in range(2000)])])
    assert built == []  # nothing is indexed until someone searches
    start = threading.Barrier(8)
    results: list[list[str]] = []

    def search() -> None:
        start.wait()
        results.append([h.concept.code for h in vocab.search("C1999")])

    threads = [threading.Thread(target=search) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert built == [1]
    assert len(results) == 8 and all(r == results[0] for r in results)
    assert results[0][0] == "c1999"
