"""FHIR resources generated from the snapshot: CodeSystem, Bundle, CapabilityStatement.

Also the JSON pieces several resources share (a property value, a designation), so each has one
form everywhere. Elements are built in the order of the FHIR R4 specification; the XML writer
(:mod:`termserver.fhir.xml`) depends on that order.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from termserver import __version__
from termserver.model import ACTIVE, Concept, Designation, PropertyValue, SchemeVersion
from termserver.vocabulary import Vocabulary

FHIR_VERSION = "4.0.1"
DESIGNATION_USAGE = "http://terminology.hl7.org/CodeSystem/designation-usage"
SUBSETTED = {
    "system": "http://terminology.hl7.org/CodeSystem/v3-ObservationValue",
    "code": "SUBSETTED",
}
_DATED_VERSION = re.compile(r"(\d{4})-?(\d{2})-?(\d{2})")


def codesystem_id(meta: SchemeVersion) -> str:
    """The logical id of one release: ``ffb-20240530``."""
    return f"{meta.scheme}-{meta.version}"


def property_value(pv: PropertyValue) -> tuple[str, Any]:
    """The ``value[x]`` key and value of a concept property (a Coding is kept as system|code)."""
    if pv.type == "Coding":
        system, _, code = str(pv.value).partition("|")
        return "valueCoding", {"system": system, "code": code}
    return "value" + pv.type[0].upper() + pv.type[1:], pv.value


def designation_json(d: Designation) -> dict[str, Any]:
    """A designation as in ``CodeSystem.concept.designation`` and ``expansion.contains``."""
    out: dict[str, Any] = {}
    if d.language:
        out["language"] = d.language
    if d.use_code:
        use = {"system": d.use_system, "code": d.use_code, "display": d.use_display}
        out["use"] = {k: v for k, v in use.items() if v}
    out["value"] = d.value
    return out


def display_designation(c: Concept) -> Designation:
    """The concept's display as a designation of use ``display``."""
    return Designation(c.display, c.language, DESIGNATION_USAGE, "display")


def codesystem_resource(
    vocab: Vocabulary, meta: SchemeVersion, *, summary: bool = False
) -> dict[str, Any]:
    """A CodeSystem resource for one release, with its whole concept tree unless ``summary``."""
    concepts = list(vocab.concepts(meta.system, meta.version))
    res: dict[str, Any] = {"resourceType": "CodeSystem", "id": codesystem_id(meta)}
    if summary:
        res["meta"] = {"tag": [SUBSETTED]}
    res |= {
        "language": meta.language,
        "url": meta.system,
        "identifier": [{"system": "urn:ietf:rfc:3986", "value": meta.iri}],
        "version": meta.version,
        "name": meta.name,
    }
    if meta.title:
        res["title"] = meta.title
    res["status"] = meta.status
    if meta.publisher:
        res["publisher"] = meta.publisher
    if meta.description:
        res["description"] = meta.description
    res["caseSensitive"] = meta.case_sensitive
    if meta.hierarchy_meaning:
        res["hierarchyMeaning"] = meta.hierarchy_meaning
    res["content"] = meta.content
    res["count"] = len(concepts)
    res["property"] = _property_defs(meta)
    if summary:
        return res
    by_code = {c.code: c for c in concepts}
    kids: dict[str | None, list[Concept]] = {}
    for c in concepts:
        first = next((p for p in c.parents if p in by_code), None)
        kids.setdefault(first, []).append(c)

    def node(c: Concept) -> dict[str, Any]:
        n: dict[str, Any] = {"code": c.code, "display": c.display}
        if c.definition:
            n["definition"] = c.definition
        if c.designations:
            n["designation"] = [designation_json(d) for d in c.designations]
        cprops: list[dict[str, Any]] = [{"code": "parent", "valueCode": p} for p in c.parents[1:]]
        if c.status != ACTIVE:
            cprops.append({"code": "status", "valueCode": c.status})
            cprops.append({"code": "inactive", "valueBoolean": not c.active})
        if c.not_selectable:
            cprops.append({"code": "notSelectable", "valueBoolean": True})
        for pv in c.properties:
            key, value = property_value(pv)
            cprops.append({"code": pv.code, key: value})
        if cprops:
            n["property"] = cprops
        children = kids.get(c.code)
        if children:
            n["concept"] = [node(k) for k in children]
        return n

    res["concept"] = [node(c) for c in kids.get(None, [])]
    return res


def _property_defs(meta: SchemeVersion) -> list[dict[str, Any]]:
    props: list[dict[str, Any]] = []
    for p in meta.property_defs:
        prop: dict[str, Any] = {"code": p.code}
        if p.uri:
            prop["uri"] = p.uri
        if p.description:
            prop["description"] = p.description
        props.append(prop | {"type": p.type})
    declared = {p["code"] for p in props}
    std = (
        ("inactive", "boolean"),
        ("status", "code"),
        ("parent", "code"),
        ("notSelectable", "boolean"),
    )
    for code, ptype in std:
        if code not in declared:
            uri = f"http://hl7.org/fhir/concept-properties#{code}"
            props.append({"code": code, "uri": uri, "type": ptype})
    return props


def searchset(
    resources: list[dict[str, Any]],
    base_url: str,
    *,
    total: int | None = None,
    links: list[dict[str, str]] | None = None,
) -> dict[str, Any]:
    """A search result Bundle; ``total`` counts every match when ``resources`` is one page."""
    bundle: dict[str, Any] = {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": len(resources) if total is None else total,
    }
    if links:
        bundle["link"] = links
    if resources:  # FHIR JSON has no empty arrays
        bundle["entry"] = [
            {
                "fullUrl": f"{base_url}/{r['resourceType']}/{r['id']}",
                "resource": r,
                "search": {"mode": "match"},
            }
            for r in resources
        ]
    return bundle


def content_date(vocab: Vocabulary) -> str:
    """The date of the newest release whose version is a date (KL's are), else today (UTC).

    Statements about the server change when its content does, so that is their ``date``.
    """
    dates = []
    for meta in vocab.schemes():
        m = _DATED_VERSION.fullmatch(meta.version)
        if m:
            dates.append("-".join(m.groups()))
    return max(dates, default=datetime.now(UTC).date().isoformat())


def _statement(resource_type: str, vocab: Vocabulary) -> dict[str, Any]:
    return {
        "resourceType": resource_type,
        "status": "active",
        "date": content_date(vocab),
        "kind": "instance",
    }


#: The features of the terminology ecosystem we have (application-feature extension). Not the
#: tx-tests ``test-version`` feature: it claims every test of a suite version passes, and not
#: every one does (CONFORMANCE.md).
FEATURE = "http://hl7.org/fhir/uv/application-feature/StructureDefinition/feature"
CODE_SYSTEM_AS_PARAMETER = (
    "http://hl7.org/fhir/uv/tx-ecosystem/FeatureDefinition/CodeSystemAsParameter"
)
VERSIONS_OPERATION = "http://hl7.org/fhir/OperationDefinition/CapabilityStatement-versions"
#: The $expand parameters we act on (TerminologyCapabilities.expansion.parameter).
EXPANSION_PARAMETERS = (
    "activeOnly", "check-system-version", "count", "displayLanguage", "excludeNested", "filter",
    "force-system-version", "includeDefinition", "includeDesignations", "offset", "property",
    "system-version", "tx-resource", "useSupplement",
)  # fmt: skip
_NAME = "termserver"
_TITLE = "termserver: FFB terminology server"


def versions_parameters(version: str) -> dict[str, Any]:
    """``$versions``: the FHIR version an endpoint speaks (major.minor), which is its default."""
    return {
        "resourceType": "Parameters",
        "parameter": [
            {"name": "version", "valueCode": version},
            {"name": "default", "valueCode": version},
        ],
    }


def capability_statement(
    vocab: Vocabulary, base_url: str, operations: dict[str, list[str]]
) -> dict[str, Any]:
    """The server's CapabilityStatement (``GET /fhir/metadata``)."""
    feature = {
        "url": FEATURE,
        "extension": [
            {"url": "definition", "valueCanonical": CODE_SYSTEM_AS_PARAMETER},
            {"url": "value", "valueBoolean": True},  # tx-resource, on every operation
        ],
    }
    head = {"resourceType": "CapabilityStatement", "extension": [feature]}
    head |= {"url": f"{base_url}/metadata", "version": __version__, "name": _NAME}
    return (
        head
        | {"title": _TITLE}
        | _statement("CapabilityStatement", vocab)
        | {
            "instantiates": ["http://hl7.org/fhir/CapabilityStatement/terminology-server"],
            "software": {"name": "termserver", "version": __version__},
            "implementation": {
                "description": "termserver: FFB terminology server",
                "url": base_url,
            },
            "fhirVersion": FHIR_VERSION,
            "format": ["application/fhir+json", "json", "application/fhir+xml", "xml"],
            "rest": [
                {
                    "mode": "server",
                    "resource": [
                        {
                            "type": rtype,
                            "interaction": [{"code": "read"}, {"code": "search-type"}],
                            "operation": [
                                {
                                    "name": op,
                                    "definition": f"http://hl7.org/fhir/OperationDefinition/{rtype}-{op}",
                                }
                                for op in ops
                            ],
                        }
                        for rtype, ops in operations.items()
                    ],
                    "operation": [{"name": "versions", "definition": VERSIONS_OPERATION}],
                }
            ],
        }
    )


def terminology_capabilities(vocab: Vocabulary) -> dict[str, Any]:
    """``GET /fhir/metadata?mode=terminology``: the code systems and versions we hold."""
    head = {"resourceType": "TerminologyCapabilities", "version": __version__, "name": _NAME}
    return (
        head
        | {"title": _TITLE}
        | _statement("TerminologyCapabilities", vocab)
        | {
            "software": {"name": "termserver", "version": __version__},
            "codeSystem": [
                {
                    "uri": system,
                    "version": [
                        {"code": v.version, "isDefault": i == 0, "language": [v.language]}
                        for i, v in enumerate(vocab.versions(system))
                    ],
                    "subsumption": True,
                }
                for system in vocab.systems()
            ],
            "expansion": {
                "hierarchical": False,
                "paging": True,
                "parameter": [{"name": name} for name in EXPANSION_PARAMETERS],
                "textFilter": "Danish-aware, typo-tolerant label search",
            },
            "validateCode": {"translations": False},
            "translation": {"needsMap": True},
        }
    )
