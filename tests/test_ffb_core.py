"""The common FFB model (ontology/ffb-core.ttl): real codes, and axioms that hold under HermiT."""

from __future__ import annotations

import tempfile
from collections import defaultdict
from pathlib import Path

import owlready2
import pyoxigraph as ox
import pytest

from termserver import iris
from termserver.core_model import CoreModel, Kind, load_core_model
from termserver.errors import SourceError, TermserverError
from termserver.owl_check import check_owl_consistency

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data"
CORE_TTL = ROOT / "ontology" / "ffb-core.ttl"
FFB_TTL = ROOT / "ontology" / "schemes" / "ffb-20240530.ttl"
CSC_TTL = ROOT / "ontology" / "schemes" / "caresocialcodes-20250530.ttl"

CORE = iris.CORE
RDFS_LABEL = iris.RDFS + "label"
IS_DEFINED_BY = iris.RDFS + "isDefinedBy"
COMMENT = iris.RDFS + "comment"
DEFINITION = iris.SKOS + "definition"
PREF_LABEL = iris.SKOS + "prefLabel"
BROADER = iris.SKOS + "broader"
TYPE = iris.RDF + "type"
ENTITY_TYPES = {
    iris.OWL + name
    for name in ("Class", "ObjectProperty", "DatatypeProperty", "AnnotationProperty")
}

# The FFB (and CareSocialCodes) label each kind's root and each goal class's category must have:
# a wrong but existing UUID would pass an existence check, not this one.
EXPECTED_ROOT_LABELS = {
    "Tilstand": "FFB tilstande",
    "FunktionerOgForhold": "Funktioner og forhold",
    "AktivitetOgDeltagelse": "Aktivitet og deltagelse",
    "Omgivelsesfaktorer": "Omgivelsesfaktorer",
    "SocialIndsats": "Social indsats",
    "Ydelse": "Ydelse",
    "Tilbud": "Tilbud",
    "Maalgruppe": "Målgruppe",
    "Maaltype": "Måltype",
    "Funktionsevneniveau": "Funktionsevneniveau",
    "Stoettebehovsniveau": "Støttebehovsniveau",
    "StatusPaaIndsats": "Status på indsats",
}
EXPECTED_GOAL_LABELS = {
    "BorgersMaalOgOensker": "FFB borgers mål og ønsker",
    "Indsatsformaal": "Indsatsformål",
    "Indsatsmaal": "FFB indsatsmål",
    "Delmaal": "FFB delmål",
}


def _by_subject(path: Path) -> dict[str, dict[str, list]]:
    """subject IRI → predicate IRI → objects, for the named subjects of a Turtle file."""
    out: dict[str, dict[str, list]] = defaultdict(lambda: defaultdict(list))
    for t in ox.parse(path=str(path), format=ox.RdfFormat.TURTLE):
        if isinstance(t.subject, ox.NamedNode):
            out[t.subject.value][t.predicate.value].append(t.object)
    return out


@pytest.fixture(scope="module")
def core() -> dict[str, dict[str, list]]:
    return _by_subject(CORE_TTL)


@pytest.fixture(scope="module")
def schemes() -> dict[str, dict[str, list]]:
    merged = _by_subject(FFB_TTL)
    merged.update(_by_subject(CSC_TTL))
    return merged


@pytest.fixture(scope="module")
def model() -> CoreModel:
    return load_core_model(CORE_TTL)


def _entities(core: dict[str, dict[str, list]]) -> dict[str, dict[str, list]]:
    """The classes and properties this ontology defines (the core: namespace)."""
    return {
        s: po
        for s, po in core.items()
        if s.startswith(CORE) and ENTITY_TYPES & {o.value for o in po[TYPE]}
    }


# --- reasoner --------------------------------------------------------------------------------


def test_ffb_core_is_consistent_with_no_unsatisfiable_class_under_hermit():
    report = check_owl_consistency(CORE_TTL)
    assert report.consistent, report.message
    assert report.unsatisfiable == []
    assert report.classes >= 20
    assert report.properties >= 15


def test_individual_in_two_disjoint_classes_is_reported_inconsistent():
    report = check_owl_consistency(DATA / "inconsistent.ttl")
    assert not report.consistent
    assert "inconsistent" in report.message


def test_class_below_two_disjoint_classes_is_reported_unsatisfiable():
    report = check_owl_consistency(DATA / "unsatisfiable.ttl")
    assert report.consistent
    assert report.unsatisfiable == ["https://example.org/unsatisfiable#Hybrid"]
    assert (report.classes, report.properties) == (4, 0)


def _core_plus(tmp_path: Path, extra: str) -> Path:
    """A copy of ffb-core.ttl with some Turtle appended (prefixes of the original apply)."""
    path = tmp_path / "core-plus.ttl"
    path.write_text(CORE_TTL.read_text("utf-8") + "\n" + extra, encoding="utf-8")
    return path


@pytest.mark.slow
def test_a_goal_that_is_both_indsatsmaal_and_indsatsformaal_is_unsatisfiable(tmp_path):
    extra = "core:Mixed a owl:Class ; rdfs:subClassOf core:Indsatsmaal , core:Indsatsformaal ."
    report = check_owl_consistency(_core_plus(tmp_path, extra))
    assert report.consistent
    assert report.unsatisfiable == [CORE + "Mixed"]


@pytest.mark.slow
def test_indsatsmaal_with_two_distinct_maaltyper_is_inconsistent(tmp_path):
    # Udvikle funktionsevne and Fastholde funktionsevne, stated distinct (OWL has no unique names).
    extra = """
    <urn:x:goal> a core:Indsatsmaal ;
        core:maaltype ffb:d41c8072-52f8-42b5-9375-ddbea454d27f ,
                      ffb:10752a63-00b4-4958-b7f4-9f3a18f74266 .
    ffb:d41c8072-52f8-42b5-9375-ddbea454d27f owl:differentFrom
        ffb:10752a63-00b4-4958-b7f4-9f3a18f74266 .
    """
    assert not check_owl_consistency(_core_plus(tmp_path, extra)).consistent


@pytest.mark.slow
def test_code_that_is_both_target_group_and_condition_is_inconsistent(tmp_path):
    extra = "<urn:x:kriminalitet> a core:Maalgruppe , core:Tilstand ."
    assert not check_owl_consistency(_core_plus(tmp_path, extra)).consistent


def test_reasoner_leaves_no_temporary_files(tmp_path, monkeypatch):
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    check_owl_consistency(DATA / "inconsistent.ttl")  # owlready2 leaks its file on this path
    assert list(scratch.iterdir()) == []


def test_missing_java_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(owlready2, "JAVA_EXE", "no-such-java-for-termserver")
    with pytest.raises(TermserverError, match="Java"):
        check_owl_consistency(CORE_TTL)


def test_owl_check_names_the_file_for_malformed_turtle(tmp_path):
    bad = tmp_path / "bad.ttl"
    bad.write_text("@prefix ex: <https://example.org/> .\nex:a ex:b \n", encoding="utf-8")
    with pytest.raises(SourceError) as info:
        check_owl_consistency(bad)
    assert info.value.source == str(bad)


# --- codes are real ---------------------------------------------------------------------------


def test_every_root_concept_is_the_named_ffb_concept(core, schemes):
    roots = {
        s[len(CORE) :]: po[CORE + "rootConcept"][0].value
        for s, po in core.items()
        if CORE + "rootConcept" in po
    }
    assert set(roots) == set(EXPECTED_ROOT_LABELS)
    for kind, root in roots.items():
        assert root.startswith(iris.concept_iri("ffb", "")), kind
        assert root in schemes, f"{kind}: {root} is not a concept of FFB 20240530"
        labels = {o.value for o in schemes[root][PREF_LABEL]}
        assert EXPECTED_ROOT_LABELS[kind] in labels, (kind, labels)


def test_every_goal_category_is_the_named_caresocialcodes_concept(core, schemes):
    categories = {
        s[len(CORE) :]: po[CORE + "goalCategory"][0].value
        for s, po in core.items()
        if CORE + "goalCategory" in po
    }
    assert set(categories) == set(EXPECTED_GOAL_LABELS)
    for goal, code in categories.items():
        assert code.startswith(iris.concept_iri("caresocialcodes", "")), goal
        assert code in schemes, f"{goal}: {code} is not a CareSocialCodes concept"
        assert {o.value for o in schemes[code][PREF_LABEL]} == {EXPECTED_GOAL_LABELS[goal]}


def test_every_ffb_or_caresocialcodes_iri_in_the_model_exists(core, schemes):
    prefixes = (iris.concept_iri("ffb", ""), iris.concept_iri("caresocialcodes", ""))
    used = {o.value for po in core.values() for objs in po.values() for o in objs}
    used |= set(core)
    missing = {i for i in used if i.startswith(prefixes) and i not in schemes}
    assert missing == set()


def test_kind_hierarchy_agrees_with_ffb_hierarchy(model, schemes):
    kinds = {k.iri: k for k in model.kinds}

    def ancestors(concept: str) -> set[str]:
        seen: set[str] = set()
        todo = [concept]
        while todo:
            for parent in schemes[todo.pop()].get(BROADER, []):
                if parent.value not in seen:
                    seen.add(parent.value)
                    todo.append(parent.value)
        return seen

    for kind in model.kinds:
        if kind.parent is not None:
            assert kinds[kind.parent].root_concept in ancestors(kind.root_concept), kind.iri


# --- documentation ----------------------------------------------------------------------------


def test_every_class_and_property_has_danish_and_english_label_definition_and_source(core):
    entities = _entities(core)
    assert len(entities) >= 30
    for iri, po in entities.items():
        languages = {o.language for o in po[RDFS_LABEL] if isinstance(o, ox.Literal)}
        assert {"da", "en"} <= languages, iri
        assert any(o.language == "da" for o in po[DEFINITION]), iri
        assert po[IS_DEFINED_BY], iri


def test_every_core_iri_used_is_declared(core):
    # Catches typos such as core:Indsatsmal, which OWL would silently accept as a new class.
    declared = set(_entities(core))
    used = {o.value for po in core.values() for objs in po.values() for o in objs}
    used |= {p for po in core.values() for p in po} | set(core)
    assert {i for i in used if i.startswith(CORE)} - declared == set()


def test_definitions_are_quoted_from_kl_or_marked_as_this_projects_own(core, schemes):
    for iri, po in _entities(core).items():
        source = po.get(CORE + "rootConcept") or po.get(CORE + "goalCategory")
        if not source:
            continue
        definition = next(o.value for o in po[DEFINITION] if o.language == "da")
        official = next(o.value for o in schemes[source[0].value][DEFINITION])
        comments = " ".join(o.value for o in po.get(COMMENT, []))
        assert definition in official or "this project's" in comments, iri


# --- core_model -------------------------------------------------------------------------------


def test_load_core_model_gives_each_kind_its_root_and_parent(model):
    by_name = {k.iri[len(CORE) :]: k for k in model.kinds}
    assert set(by_name) == set(EXPECTED_ROOT_LABELS)
    ad = by_name["AktivitetOgDeltagelse"]
    assert ad == Kind(
        iri=CORE + "AktivitetOgDeltagelse",
        label_da="Aktivitet og deltagelse",
        label_en="Activity and participation",
        root_concept=iris.concept_iri("ffb", "93433530-b85c-4d04-a4fb-5ae26cf16f1c"),
        parent=CORE + "Tilstand",
    )
    for name in ("FunktionerOgForhold", "Omgivelsesfaktorer"):
        assert by_name[name].parent == CORE + "Tilstand"
    assert by_name["Tilstand"].parent is None
    assert by_name["Ydelse"].parent is None  # not a subclass of SocialIndsats, see the TTL


def test_kinds_by_root_maps_ffb_concepts_to_kinds(model):
    by_root = model.kinds_by_root()
    assert len(by_root) == len(model.kinds)
    ffb_tilstande = iris.concept_iri("ffb", "b3ddc7d7-f6c1-4d47-8280-456992cbe0a6")
    assert by_root[ffb_tilstande].iri == CORE + "Tilstand"
    maaltype = iris.concept_iri("ffb", "b5257b2d-0fbf-4d00-bf38-d298c8568116")
    assert by_root[maaltype].label_da == "Måltype"


def test_load_core_model_gives_goal_categories(model):
    assert model.goal_categories[CORE + "Indsatsmaal"] == iris.concept_iri(
        "caresocialcodes", "0bb3daef-538d-45dc-b444-abdbcb63f6bc"
    )
    assert len(model.goal_categories) == 4


def test_load_core_model_names_file_and_line_for_malformed_turtle(tmp_path):
    bad = tmp_path / "broken-core.ttl"
    bad.write_text(
        "@prefix core: <https://w3id.org/ffb-termserver/core#> .\n\ncore:X core:rootConcept \n",
        encoding="utf-8",
    )
    with pytest.raises(SourceError) as info:
        load_core_model(bad)
    assert info.value.source == str(bad)
    assert "line" in (info.value.location or "")


def test_load_core_model_rejects_a_literal_root_concept(tmp_path):
    bad = tmp_path / "literal-root.ttl"
    bad.write_text(
        "@prefix core: <https://w3id.org/ffb-termserver/core#> .\n"
        "@prefix owl: <http://www.w3.org/2002/07/owl#> .\n"
        "@prefix rdfs: <http://www.w3.org/2000/01/rdf-schema#> .\n"
        'core:X a owl:Class ; rdfs:label "X"@da , "X"@en ; core:rootConcept "b3ddc7d7" .\n',
        encoding="utf-8",
    )
    with pytest.raises(SourceError, match="must be an IRI"):
        load_core_model(bad)


def test_load_core_model_missing_file_is_a_source_error(tmp_path):
    with pytest.raises(SourceError, match="cannot read"):
        load_core_model(tmp_path / "absent.ttl")
