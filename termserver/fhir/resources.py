"""FHIR resources generated from the snapshot: CodeSystem, Bundle, CapabilityStatement."""

from __future__ import annotations

from typing import Any

from termserver import __version__
from termserver.model import ACTIVE, SchemeVersion
from termserver.vocabulary import Vocabulary

FHIR_VERSION = "4.0.1"


def codesystem_id(meta: SchemeVersion) -> str:
    """The logical id of one release: ``ffb-20240530``."""
    return f"{meta.scheme}-{meta.version}"


def codesystem_resource(
    vocab: Vocabulary, meta: SchemeVersion, *, summary: bool = False
) -> dict[str, Any]:
    """A CodeSystem resource for one release, with its whole concept tree unless ``summary``."""
    concepts = list(vocab.concepts(meta.system, meta.version))
    res: dict[str, Any] = {
        "resourceType": "CodeSystem",
        "id": codesystem_id(meta),
        "url": meta.system,
        "identifier": [{"system": "urn:ietf:rfc:3986", "value": meta.iri}],
        "version": meta.version,
        "name": meta.name,
        "status": meta.status,
        "content": meta.content,
        "caseSensitive": meta.case_sensitive,
        "count": len(concepts),
        "language": meta.language,
    }
    for key, value in (
        ("title", meta.title),
        ("description", meta.description),
        ("publisher", meta.publisher),
        ("hierarchyMeaning", meta.hierarchy_meaning),
    ):
        if value:
            res[key] = value
    props = [{"code": p.code, "type": p.type} for p in meta.property_defs]
    declared = {p["code"] for p in props}
    std = (
        ("inactive", "boolean", "http://hl7.org/fhir/concept-properties#inactive"),
        ("status", "code", "http://hl7.org/fhir/concept-properties#status"),
        ("parent", "code", "http://hl7.org/fhir/concept-properties#parent"),
        ("notSelectable", "boolean", "http://hl7.org/fhir/concept-properties#notSelectable"),
    )
    for code, ptype, uri in std:
        if code not in declared:
            props.append({"code": code, "uri": uri, "type": ptype})
    res["property"] = props
    if summary:
        res["meta"] = {
            "tag": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/v3-ObservationValue",
                    "code": "SUBSETTED",
                }
            ]
        }
        return res
    by_code = {c.code: c for c in concepts}
    kids: dict[str | None, list] = {}
    for c in concepts:
        first = next((p for p in c.parents if p in by_code), None)
        kids.setdefault(first, []).append(c)

    def node(c) -> dict[str, Any]:
        n: dict[str, Any] = {"code": c.code, "display": c.display}
        if c.definition:
            n["definition"] = c.definition
        if c.designations:
            n["designation"] = [
                {k: v for k, v in (("language", d.language), ("value", d.value)) if v}
                | ({"use": {"system": d.use_system, "code": d.use_code}} if d.use_code else {})
                for d in c.designations
            ]
        cprops = [{"code": "parent", "valueCode": p} for p in c.parents[1:]]
        if c.status != ACTIVE:
            cprops.append({"code": "status", "valueCode": c.status})
            cprops.append({"code": "inactive", "valueBoolean": not c.active})
        if c.not_selectable:
            cprops.append({"code": "notSelectable", "valueBoolean": True})
        for pv in c.properties:
            key = (
                "valueCoding" if pv.type == "Coding" else "value" + pv.type[0].upper() + pv.type[1:]
            )
            val: Any = pv.value
            if pv.type == "Coding":
                s, _, code = str(pv.value).partition("|")
                val = {"system": s, "code": code}
            cprops.append({"code": pv.code, key: val})
        if cprops:
            n["property"] = cprops
        children = kids.get(c.code)
        if children:
            n["concept"] = [node(k) for k in children]
        return n

    res["concept"] = [node(c) for c in kids.get(None, [])]
    return res


def searchset(resources: list[dict[str, Any]], base_url: str) -> dict[str, Any]:
    """A search result Bundle."""
    return {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": len(resources),
        "entry": [
            {
                "fullUrl": f"{base_url}/{r['resourceType']}/{r['id']}",
                "resource": r,
                "search": {"mode": "match"},
            }
            for r in resources
        ],
    }


def capability_statement(base_url: str, operations: dict[str, list[str]]) -> dict[str, Any]:
    """The server's CapabilityStatement (``GET /fhir/metadata``)."""
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": "2026-11-23",
        "kind": "instance",
        "software": {"name": "termserver", "version": __version__},
        "implementation": {"description": "termserver: FFB terminology server", "url": base_url},
        "fhirVersion": FHIR_VERSION,
        "format": ["application/fhir+json", "json"],
        "instantiates": ["http://hl7.org/fhir/CapabilityStatement/terminology-server"],
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
            }
        ],
    }


def terminology_capabilities(vocab: Vocabulary) -> dict[str, Any]:
    """``GET /fhir/metadata?mode=terminology``: the code systems and versions we hold."""
    return {
        "resourceType": "TerminologyCapabilities",
        "status": "active",
        "date": "2026-11-23",
        "kind": "instance",
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
            "textFilter": "Danish-aware, typo-tolerant label search",
        },
        "validateCode": {"translations": False},
        "translation": {"needsMap": True},
    }
