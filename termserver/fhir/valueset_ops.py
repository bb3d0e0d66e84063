"""ValueSet operations: $expand and $validate-code, and the ValueSet resources we publish."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from termserver.errors import SourceError
from termserver.fhir.codesystem_ops import _coding_from
from termserver.fhir.outcome import FhirError, bad_request, not_found
from termserver.fhir.params import OperationParams
from termserver.model import Concept
from termserver.valuesets import ValueSetDef, ValueSetError, ValueSetIndex, read_valueset

MAX_COUNT = 10_000  # one page; larger value sets are paged with offset
MAX_UNPAGED = 10_000  # an expansion without count larger than this must be paged


def _error(exc: ValueSetError) -> FhirError:
    status = {"not-found": 404, "too-costly": 422, "not-supported": 422}.get(exc.issue_type, 400)
    return FhirError(status, exc.issue_type, str(exc), exc.location)


def _definition(index: ValueSetIndex, params: OperationParams) -> ValueSetDef:
    url = params.str("url")
    inline = params.resource("valueSet")
    if url and inline:
        raise bad_request("give either 'url' or 'valueSet', not both", "url")
    if inline is not None:
        try:
            return read_valueset(inline, source="parameter valueSet")
        except SourceError as exc:
            raise bad_request(
                f"the valueSet parameter is not a usable ValueSet: {exc.message}", exc.location
            ) from None
    if not url:
        raise bad_request("parameter 'url' (or an inline 'valueSet') is required", "url")
    version = params.str("valueSetVersion")
    if "|" in url:
        url, _, version = url.partition("|")
    vs = index.get(url, version)
    if vs is None:
        held = index.get(url)
        msg = f"unknown value set {url}" + (
            f" version {version} (held: {held.version or 'unversioned'})" if held else ""
        )
        raise not_found(msg, "url")
    return vs


def _system_versions(params: OperationParams) -> dict[str, str] | None:
    out = {}
    for name in ("system-version", "force-system-version"):
        for canonical in params.all(name):
            if not isinstance(canonical, str) or "|" not in canonical:
                raise bad_request(f"'{name}' must be a canonical 'system|version'", name)
            system, _, version = canonical.partition("|")
            out[system] = version
    return out or None


def expand(index: ValueSetIndex, params: OperationParams) -> dict[str, Any]:
    """ValueSet/$expand with filter, paging, activeOnly, designations and display language."""
    vs = _definition(index, params)
    count = params.int("count", minimum=0, maximum=MAX_COUNT)
    offset = params.int("offset", default=0, maximum=10_000_000) or 0
    text = params.str("filter")
    if text is not None and len(text) > 200:
        raise bad_request("'filter' is too long (at most 200 characters)", "filter")
    active_only = params.bool("activeOnly")
    include_designations = params.bool("includeDesignations")
    include_definition = params.bool("includeDefinition")
    language = params.str("displayLanguage")
    try:
        exp = index.expand(
            vs,
            filter=text,
            active_only=active_only,
            system_versions=_system_versions(params),
            offset=offset,
            count=count,
        )
    except ValueSetError as exc:
        raise _error(exc) from None
    if count is None and exp.total > MAX_UNPAGED:
        raise FhirError(
            422,
            "too-costly",
            f"the expansion has {exp.total} codes; page it with count and offset",
            "count",
        )
    used = [{"name": "used-codesystem", "valueUri": u} for u in exp.used_codesystems]
    used += [{"name": "used-valueset", "valueUri": u} for u in exp.used_valuesets]
    echo: list[dict[str, Any]] = [{"name": "offset", "valueInteger": offset}]
    if count is not None:
        echo.append({"name": "count", "valueInteger": count})
    if text is not None:
        echo.append({"name": "filter", "valueString": text})
    if active_only:
        echo.append({"name": "activeOnly", "valueBoolean": True})
    if language:
        echo.append({"name": "displayLanguage", "valueCode": language})
    contains = [_entry(c, language, include_designations, include_definition) for c in exp.concepts]
    out = (
        {k: v for k, v in vs.resource.items() if k not in ("compose", "text")}
        if vs.resource
        else {}
    )
    out.update(resourceType="ValueSet", url=vs.url, name=vs.name, status=vs.status)
    if vs.version:
        out["version"] = vs.version
    out["expansion"] = {
        "identifier": f"urn:uuid:{uuid.uuid4()}",
        "timestamp": datetime.now(UTC).isoformat(timespec="seconds"),
        "total": exp.total,
        "offset": offset,
        "parameter": echo + used,
        "contains": contains,
    }
    return out


def _entry(
    c: Concept, language: str | None, designations: bool, definition: bool
) -> dict[str, Any]:
    e: dict[str, Any] = {
        "system": c.system,
        "version": c.version,
        "code": c.code,
        "display": c.label(language),
    }
    if not c.active:
        e["inactive"] = True
    if c.not_selectable:
        e["abstract"] = True
    if designations:
        e["designation"] = [{"language": c.language, "value": c.display}] + [
            {k: v for k, v in (("language", d.language), ("value", d.value)) if v}
            | ({"use": {"system": d.use_system, "code": d.use_code}} if d.use_code else {})
            for d in c.designations
        ]
    if definition and c.definition:
        e.setdefault("extension", []).append(
            {
                "url": "http://hl7.org/fhir/StructureDefinition/valueset-concept-definition",
                "valueString": c.definition,
            }
        )
    return e


def validate_code(index: ValueSetIndex, params: OperationParams) -> dict[str, Any]:
    """ValueSet/$validate-code: is the code in the value set, and is its display right."""
    vs = _definition(index, params)
    cc = params.codeable_concept("codeableConcept")
    if cc is not None:
        if not cc:
            raise bad_request("codeableConcept has no coding", "codeableConcept")
        codings = cc
    else:
        codings = [_coding_from(params)]
    results = []
    for c in codings:
        system = c.system or params.str("system")
        if not system or not c.code:
            raise bad_request("a system and a code are required", "system")
        version = c.version or params.str("systemVersion")
        try:
            r = index.validate_code(vs, system, c.code, c.display, version)
        except ValueSetError as exc:
            raise _error(exc) from None
        results.append((c, system, r))
    c, system, r = next((x for x in results if x[2].result), results[0])
    out: list[dict[str, Any]] = [{"name": "result", "valueBoolean": r.result}]
    if r.message:
        out.append(
            {
                "name": "message",
                "valueString": f"{r.message} ({r.message_da})" if r.message_da else r.message,
            }
        )
    if r.concept is not None:
        out.append({"name": "display", "valueString": r.concept.display})
        out.append({"name": "version", "valueString": r.concept.version})
        if not r.concept.active:
            out.append({"name": "inactive", "valueBoolean": True})
    out.append({"name": "code", "valueCode": c.code})
    out.append({"name": "system", "valueUri": system})
    return {"resourceType": "Parameters", "parameter": out}


def valueset_resource(vs: ValueSetDef) -> dict[str, Any]:
    """The published definition as a ValueSet resource (its compose, no expansion)."""
    res = (
        dict(vs.resource)
        if vs.resource
        else {"resourceType": "ValueSet", "url": vs.url, "name": vs.name}
    )
    res.setdefault("id", vs.name)
    res.setdefault("status", vs.status)
    res["compose"] = vs.compose
    return res
