"""The IRIs this project mints, in one place.

Concept IRIs are version-independent (``<base><scheme>/<code>``): one concept keeps its IRI across
releases, and each release is its own concept scheme (``<base><scheme>/version/<version>``). The
official FHIR system URL and code are kept beside the IRI in the RDF, never replaced by it.
"""

from __future__ import annotations

from urllib.parse import quote, unquote

BASE = "https://w3id.org/ffb-termserver/"
#: The project's own vocabulary for what SKOS does not say (FHIR system, status, versions).
TS = BASE + "def#"
#: The common FFB model (concept kinds and plan structure), see ontology/ffb-core.ttl.
CORE = BASE + "core#"

SKOS = "http://www.w3.org/2004/02/skos/core#"
RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
RDFS = "http://www.w3.org/2000/01/rdf-schema#"
OWL = "http://www.w3.org/2002/07/owl#"
XSD = "http://www.w3.org/2001/XMLSchema#"
DCT = "http://purl.org/dc/terms/"

# Characters kept readable in the code segment of an IRI; everything else is percent-encoded so
# that any FHIR code (spaces, slashes, unicode) gives a valid, reversible IRI.
_SAFE = "-._~:@!$'()*+,;="


def scheme_iri(scheme_id: str) -> str:
    """The version-independent IRI of a scheme, e.g. ``<base>ffb``."""
    return BASE + quote(scheme_id, safe="-._~")


def scheme_version_iri(scheme_id: str, version: str) -> str:
    """The IRI of one release of a scheme, e.g. ``<base>ffb/version/20240530``."""
    return f"{scheme_iri(scheme_id)}/version/{quote(version, safe=_SAFE)}"


def concept_iri(scheme_id: str, code: str) -> str:
    """The version-independent IRI of a concept: the scheme IRI with the code appended."""
    return f"{scheme_iri(scheme_id)}/{quote(code, safe=_SAFE)}"


def designation_use_iri(scheme_id: str, use_system: str, use_code: str) -> str:
    """A sub-property of skos:altLabel standing for one FHIR designation use."""
    return f"{scheme_iri(scheme_id)}/designation-use/{quote(use_system + '|' + use_code, safe='')}"


def property_iri(scheme_id: str, property_code: str) -> str:
    """The predicate carrying one FHIR concept property of a scheme."""
    return f"{scheme_iri(scheme_id)}/property/{quote(property_code, safe=_SAFE)}"


def split_concept_iri(iri: str) -> tuple[str, str] | None:
    """Return ``(scheme_id, code)`` for an IRI minted by :func:`concept_iri`, else None."""
    if not iri.startswith(BASE):
        return None
    rest = iri[len(BASE) :]
    scheme, sep, code = rest.partition("/")
    if not sep or not code or "/" in code:
        return None
    return unquote(scheme), unquote(code)
