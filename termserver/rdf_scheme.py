"""The SKOS form of one scheme release: written as Turtle, read back into domain records.

Writer and reader sit together so the RDF shape is defined once. The writer uses rdflib (import
is not a hot path and its Turtle is readable); the reader uses pyoxigraph's Rust parser because
loading must be fast (see bench/bench_vocabulary.py). rdflib is imported by the writer functions
when they run, not with this module: the server reads at start-up and writes seldom, and rdflib
would add ~40 ms to its start (bench/bench_startup.py).
"""

from __future__ import annotations

import functools
import re
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import unquote

import pyoxigraph as ox

from termserver import iris
from termserver.errors import SourceError
from termserver.model import (
    ACTIVE,
    RETIRED,
    Concept,
    Designation,
    PropertyDef,
    PropertyValue,
    SchemeRelease,
    SchemeVersion,
)

if TYPE_CHECKING:
    from rdflib import Graph, URIRef


@functools.cache
def _xsd_types() -> dict[str, URIRef | None]:
    from rdflib import XSD  # deferred for start-up time (module docstring)
    from rdflib.namespace import Namespace

    return {
        "boolean": XSD.boolean,
        "integer": XSD.integer,
        "decimal": XSD.decimal,
        "dateTime": XSD.dateTime,
        "code": None,
        "string": None,
        "Coding": Namespace(iris.TS).coding,
    }


def release_to_graph(release: SchemeRelease) -> Graph:
    """Build the RDF graph of one release (deterministic given the same release)."""
    s = release.scheme
    g = new_graph(s)
    add_scheme_triples(g, s, len(release.concepts))
    for c in release.concepts:
        add_concept_triples(g, s, c)
    return g


def new_graph(s: SchemeVersion) -> Graph:
    """An empty graph with the prefixes our Turtle uses."""
    from rdflib import Graph  # deferred for start-up time (module docstring)
    from rdflib.namespace import DCTERMS, OWL, SKOS, Namespace

    TS = Namespace(iris.TS)
    g = Graph()
    g.bind("skos", SKOS)
    g.bind("dct", DCTERMS)
    g.bind("owl", OWL)
    g.bind("ts", TS)
    g.bind(s.scheme, Namespace(iris.scheme_iri(s.scheme) + "/"))
    return g


def add_scheme_triples(g: Graph, s: SchemeVersion, concept_count: int) -> None:
    """The triples describing a scheme and one of its releases."""
    from rdflib import RDF, XSD, Literal, URIRef  # deferred for start-up time (module docstring)
    from rdflib.namespace import DCTERMS, OWL, RDFS, SKOS, Namespace

    TS = Namespace(iris.TS)
    scheme = URIRef(s.scheme_iri)
    g.add((scheme, RDF.type, SKOS.ConceptScheme))
    g.add((scheme, TS.fhirSystem, Literal(s.system, datatype=XSD.anyURI)))
    v = URIRef(s.iri)
    g.add((v, RDF.type, SKOS.ConceptScheme))
    g.add((v, RDF.type, TS.CodeSystemVersion))
    g.add((v, DCTERMS.isVersionOf, scheme))
    g.add((v, OWL.versionInfo, Literal(s.version)))
    g.add((v, TS.fhirSystem, Literal(s.system, datatype=XSD.anyURI)))
    g.add((v, TS.name, Literal(s.name)))
    for pred, value in (
        (DCTERMS.title, s.title),
        (DCTERMS.description, s.description),
        (DCTERMS.publisher, s.publisher),
        (TS.fhirId, s.fhir_id),
        (TS.hierarchyMeaning, s.hierarchy_meaning),
        (DCTERMS.source, s.source),
        (TS.sourceSha256, s.source_sha256),
    ):
        if value is not None:
            g.add((v, pred, Literal(value)))
    g.add((v, TS.fhirStatus, Literal(s.status)))
    g.add((v, TS.content, Literal(s.content)))
    g.add((v, DCTERMS.language, Literal(s.language)))
    g.add((v, TS.caseSensitive, Literal(s.case_sensitive)))
    g.add((v, TS.conceptCount, Literal(concept_count)))
    for ref in s.references:
        g.add((v, DCTERMS.bibliographicCitation, Literal(ref)))
    if s.valid_from:
        g.add((v, TS.validFrom, Literal(s.valid_from, datatype=XSD.date)))
    if s.valid_to:
        g.add((v, TS.validTo, Literal(s.valid_to, datatype=XSD.date)))
    if s.codes_assigned:
        g.add((v, TS.codesAssignedByProject, Literal(True)))
    for pd in s.property_defs:
        p = URIRef(iris.property_iri(s.scheme, pd.code))
        g.add((v, TS.declaresProperty, p))
        g.add((p, RDF.type, OWL.AnnotationProperty))
        g.add((p, TS.propertyCode, Literal(pd.code)))
        g.add((p, TS.propertyType, Literal(pd.type)))
        if pd.uri:
            g.add((p, TS.propertyUri, Literal(pd.uri, datatype=XSD.anyURI)))
        if pd.description:
            g.add((p, RDFS.comment, Literal(pd.description)))


def add_concept_triples(g: Graph, s: SchemeVersion, c: Concept) -> None:
    """The triples describing one concept as it stands in release ``s``."""
    from rdflib import RDF, Literal, URIRef  # deferred for start-up time (module docstring)
    from rdflib.namespace import DCTERMS, OWL, RDFS, SKOS, Namespace

    TS = Namespace(iris.TS)
    lang = s.language
    v = URIRef(s.iri)
    declared = {pd.code for pd in s.property_defs}
    node = URIRef(c.iri)
    g.add((node, RDF.type, SKOS.Concept))
    g.add((node, SKOS.inScheme, v))
    g.add((node, SKOS.notation, Literal(c.code)))
    g.add((node, SKOS.prefLabel, Literal(c.display, lang=lang)))
    if c.definition is not None:
        g.add((node, SKOS.definition, Literal(c.definition, lang=lang)))
    if not c.parents:
        g.add((node, SKOS.topConceptOf, v))
    for parent in c.parents:
        g.add((node, SKOS.broader, URIRef(iris.concept_iri(s.scheme, parent))))
    if c.status != ACTIVE:
        g.add((node, TS.status, Literal(c.status)))
        g.add((node, OWL.deprecated, Literal(True)))
    for r in c.replaced_by:
        g.add((node, DCTERMS.isReplacedBy, URIRef(iris.concept_iri(s.scheme, r))))
    if c.not_selectable:
        g.add((node, TS.notSelectable, Literal(True)))
    for src in c.sources:
        g.add((node, DCTERMS.source, Literal(src)))
    if c.note:
        # Notes come in Danish or English from the sources, so no language tag is claimed.
        g.add((node, SKOS.note, Literal(c.note)))
    if c.code_assigned:
        g.add((node, TS.codeAssignedByProject, Literal(True)))
    for d in c.designations:
        pred = SKOS.altLabel
        if d.use_code is not None:
            pred = URIRef(iris.designation_use_iri(s.scheme, d.use_system or "", d.use_code))
            g.add((pred, RDF.type, OWL.AnnotationProperty))
            g.add((pred, RDFS.subPropertyOf, SKOS.altLabel))
            g.add((pred, TS.useSystem, Literal(d.use_system or "")))
            g.add((pred, TS.useCode, Literal(d.use_code)))
            if d.use_display:
                g.add((pred, RDFS.label, Literal(d.use_display)))
        g.add((node, pred, Literal(d.value, lang=d.language or None)))
    for pv in c.properties:
        pred = URIRef(iris.property_iri(s.scheme, pv.code))
        lexical = _lexical(pv)
        g.add(
            (
                node,
                pred,
                Literal(lexical, datatype=_datatype(pv.type, lexical), normalize=False),
            )
        )
        if pv.code not in declared:
            # Undeclared in the source: remember its type so the value reads back the same.
            g.add((pred, TS.propertyCode, Literal(pv.code)))
            g.add((pred, TS.propertyType, Literal(pv.type)))


def write_turtle(release: SchemeRelease) -> bytes:
    """Serialise a release as Turtle, byte-identical for identical input."""
    data = release_to_graph(release).serialize(format="turtle", encoding="utf-8")
    header = (
        f"# Generated by termserver from {release.scheme.source} "
        f"(sha256 {release.scheme.source_sha256}). Do not edit by hand.\n"
    ).encode()
    return header + data


def _datatype(ptype: str, lexical: str) -> URIRef | None:
    # FHIR dateTime allows a bare year or date; give each its own XSD type so the literal is valid.
    from rdflib import XSD  # deferred for start-up time (module docstring)

    if ptype == "dateTime":
        if re.fullmatch(r"\d{4}", lexical):
            return XSD.gYear
        if re.fullmatch(r"\d{4}-\d{2}", lexical):
            return XSD.gYearMonth
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", lexical):
            return XSD.date
    return _xsd_types()[ptype]


def _lexical(pv: PropertyValue) -> str:
    if pv.type == "boolean":
        return "true" if pv.value else "false"
    return str(pv.value)


# --- reading -------------------------------------------------------------------------------

_ALT = iris.SKOS + "altLabel"
_TYPE = iris.RDF + "type"
_CONCEPT = iris.SKOS + "Concept"


def read_turtle(path: str | Path) -> SchemeRelease:
    """Read one generated scheme file back into a release; SourceError on malformed Turtle."""
    path = Path(path)
    try:
        return release_from_triples(ox.parse(path=str(path), format=ox.RdfFormat.TURTLE), str(path))
    except SyntaxError as exc:
        raise SourceError(str(path), None, f"invalid Turtle: {exc}") from exc
    except OSError as exc:
        raise SourceError(str(path), None, f"cannot read file: {exc}") from exc


# Predicates every concept carries, read on a fast path; anything else goes through ``other``.
_NOTATION, _PREF, _DEF, _BROAD, _TYPED, _SKIP = range(6)
_FAST = {
    iris.SKOS + "notation": _NOTATION,
    iris.SKOS + "prefLabel": _PREF,
    iris.SKOS + "definition": _DEF,
    iris.SKOS + "broader": _BROAD,
    iris.RDF + "type": _TYPED,
    iris.SKOS + "inScheme": _SKIP,
    iris.SKOS + "topConceptOf": _SKIP,
}


def release_from_triples(triples: Iterable, source: str) -> SchemeRelease:
    """Rebuild a release from parsed triples (one scheme version per graph), streaming.

    Loading speed matters (a 100k-concept scheme has 600k triples), so the common predicates
    are read straight into per-field dicts and the triples are never held all at once.
    """
    notation: dict[str, str] = {}
    pref: dict[str, str] = {}
    definition: dict[str, str] = {}
    broader: dict[str, list[str]] = defaultdict(list)
    concepts_seen: set[str] = set()
    other: dict[str, list[tuple[str, object]]] = defaultdict(list)
    named = ox.NamedNode
    fast = _FAST.get
    for t in triples:
        subject = t.subject
        if type(subject) is not named:
            continue
        sv = subject.value
        p = t.predicate.value
        kind = fast(p)
        if kind is None:
            other[sv].append((p, t.object))
        elif kind == _NOTATION:
            notation[sv] = t.object.value
        elif kind == _PREF:
            pref[sv] = t.object.value
        elif kind == _DEF:
            definition[sv] = t.object.value
        elif kind == _BROAD:
            broader[sv].append(t.object.value)
        elif kind == _TYPED:
            o = t.object
            if o.value == _CONCEPT:
                concepts_seen.add(sv)
            else:
                other[sv].append((p, o))
    version_type = ox.NamedNode(iris.TS + "CodeSystemVersion")
    versions = [s for s, po in other.items() if (_TYPE, version_type) in po]
    if len(versions) != 1:
        raise SourceError(source, None, f"expected one ts:CodeSystemVersion, found {len(versions)}")
    scheme = _scheme_from(versions[0], other, source)
    meta = _predicate_meta(other)
    prefix = scheme.scheme_iri + "/"
    concepts = []
    for sv in concepts_seen:
        code, display = notation.get(sv), pref.get(sv)
        if code is None or display is None:
            raise SourceError(source, sv, "concept lacks skos:notation or skos:prefLabel")
        found = broader.get(sv, ())
        parents = (
            tuple(sorted(_code_of(b, prefix, source) for b in found))
            if len(found) > 1
            else tuple(_code_of(b, prefix, source) for b in found)
        )
        concepts.append(
            _concept_from(
                sv,
                code,
                display,
                definition.get(sv),
                parents,
                other.get(sv, ()),
                scheme,
                meta,
                source,
            )
        )
    concepts.sort(key=lambda c: c.code)
    return SchemeRelease(scheme=scheme, concepts=tuple(concepts))


def _one(po: list, pred: str) -> object | None:
    for p, o in po:
        if p == pred:
            return o
    return None


def _scheme_from(iri: str, by_subject: dict, source: str) -> SchemeVersion:
    po = by_subject[iri]

    def text(pred: str) -> str | None:
        o = _one(po, pred)
        return o.value if o is not None else None

    system = text(iris.TS + "fhirSystem")
    version = text(iris.OWL + "versionInfo")
    scheme_iri = text(iris.DCT + "isVersionOf")
    if not system or not version or not scheme_iri:
        raise SourceError(
            source, iri, "scheme version lacks fhirSystem, versionInfo or isVersionOf"
        )
    scheme_id = scheme_iri[len(iris.BASE) :] if scheme_iri.startswith(iris.BASE) else scheme_iri
    defs = []
    for p, o in po:
        if p == iris.TS + "declaresProperty":
            ppo = by_subject.get(o.value, [])
            code = _one(ppo, iris.TS + "propertyCode")
            ptype = _one(ppo, iris.TS + "propertyType")
            if code is None or ptype is None:
                raise SourceError(source, o.value, "property declaration lacks code or type")
            uri = _one(ppo, iris.TS + "propertyUri")
            desc = _one(ppo, iris.RDFS + "comment")
            defs.append(
                PropertyDef(
                    code=code.value,
                    type=ptype.value,
                    uri=uri.value if uri is not None else None,
                    description=desc.value if desc is not None else None,
                )
            )
    defs.sort(key=lambda d: d.code)
    return SchemeVersion(
        scheme=scheme_id,
        system=system,
        version=version,
        iri=iri,
        scheme_iri=scheme_iri,
        name=text(iris.TS + "name") or scheme_id,
        title=text(iris.DCT + "title"),
        description=text(iris.DCT + "description"),
        status=text(iris.TS + "fhirStatus") or ACTIVE,
        language=text(iris.DCT + "language") or "da",
        case_sensitive=(text(iris.TS + "caseSensitive") or "true") == "true",
        hierarchy_meaning=text(iris.TS + "hierarchyMeaning"),
        content=text(iris.TS + "content") or "complete",
        publisher=text(iris.DCT + "publisher"),
        fhir_id=text(iris.TS + "fhirId"),
        source=text(iris.DCT + "source"),
        source_sha256=text(iris.TS + "sourceSha256"),
        property_defs=tuple(defs),
        references=tuple(sorted(o.value for p, o in po if p == iris.DCT + "bibliographicCitation")),
        valid_from=text(iris.TS + "validFrom"),
        valid_to=text(iris.TS + "validTo"),
        codes_assigned=text(iris.TS + "codesAssignedByProject") == "true",
    )


def _predicate_meta(by_subject: dict) -> dict[str, tuple]:
    """Designation-use and property predicates: what each stands for."""
    meta: dict[str, tuple] = {}
    for s, po in by_subject.items():
        use_code = _one(po, iris.TS + "useCode")
        if use_code is not None:
            use_system = _one(po, iris.TS + "useSystem")
            label = _one(po, iris.RDFS + "label")
            meta[s] = (
                "use",
                (use_system.value or None) if use_system is not None else None,
                use_code.value,
                label.value if label is not None else None,
            )
            continue
        pcode = _one(po, iris.TS + "propertyCode")
        ptype = _one(po, iris.TS + "propertyType")
        if pcode is not None and ptype is not None:
            meta[s] = ("prop", pcode.value, ptype.value)
    return meta


_SOURCE = iris.DCT + "source"
_NOTE = iris.SKOS + "note"
_ASSIGNED = iris.TS + "codeAssignedByProject"


def _concept_from(
    iri: str,
    code: str,
    display: str,
    definition: str | None,
    parents: tuple[str, ...],
    po: Iterable[tuple[str, object]],
    scheme: SchemeVersion,
    meta: dict,
    source: str,
) -> Concept:
    replaced: list[str] = []
    designations: list[Designation] = []
    props: list[PropertyValue] = []
    status = ACTIVE
    not_selectable = False
    sources: list[str] = []
    note = None
    code_assigned = False
    prefix = scheme.scheme_iri + "/"
    for p, o in po:
        if p == _SOURCE:
            sources.append(o.value)
        elif p == _NOTE:
            note = o.value
        elif p == _ASSIGNED:
            code_assigned = o.value == "true"
        elif p == iris.TS + "status":
            status = o.value
        elif p == iris.DCT + "isReplacedBy":
            replaced.append(_code_of(o.value, prefix, source))
        elif p == iris.TS + "notSelectable":
            not_selectable = o.value == "true"
        elif p == _ALT:
            designations.append(Designation(o.value, o.language))
        elif p in meta:
            m = meta[p]
            if m[0] == "use":
                designations.append(Designation(o.value, o.language, m[1], m[2], m[3]))
            else:
                props.append(PropertyValue(m[1], m[2], _typed(o.value, m[2])))
    if status not in (ACTIVE, "deprecated", RETIRED):
        raise SourceError(source, iri, f"unknown status {status!r}")
    if len(designations) > 1:
        designations.sort(
            key=lambda d: (d.use_system or "", d.use_code or "", d.language or "", d.value)
        )
    if len(props) > 1:
        props.sort(key=lambda v: (v.code, str(v.value)))
    return Concept(
        scheme=scheme.scheme,
        system=scheme.system,
        version=scheme.version,
        code=code,
        iri=iri,
        display=display,
        language=scheme.language,
        definition=definition,
        parents=parents,
        status=status,
        replaced_by=tuple(sorted(replaced)) if replaced else (),
        not_selectable=not_selectable,
        designations=tuple(designations) if designations else (),
        properties=tuple(props) if props else (),
        sources=tuple(sorted(sources)) if sources else (),
        note=note,
        code_assigned=code_assigned,
    )


def _code_of(iri: str, prefix: str, source: str) -> str:
    if not iri.startswith(prefix):
        raise SourceError(source, iri, f"reference outside the scheme ({prefix}...)")
    code = iri[len(prefix) :]
    if not code or "/" in code:
        raise SourceError(source, iri, "not a concept IRI of this project")
    return unquote(code) if "%" in code else code


def _typed(lexical: str, ptype: str) -> str | int | bool | float:
    if ptype == "boolean":
        return lexical == "true"
    if ptype == "integer":
        return int(lexical)
    if ptype == "decimal":
        return float(lexical)
    return lexical
