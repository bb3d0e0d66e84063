"""Mapping sets as FHIR R4 ConceptMaps, and ``ConceptMap/$translate`` over the translator.

Equivalence (R4 ``ConceptMapEquivalence``, http://hl7.org/fhir/concept-map-equivalence), from
the SKOS relation read "source <relation> target":

=================  ============  ==========================================================
SKOS               R4            why
=================  ============  ==========================================================
exactMatch         equivalent    same meaning (extension); ``equal`` would claim identical
                                 definitions, which a crosswalk between tools never shows
closeMatch         inexact       similar, boundaries not known to coincide; R4 asks the
                                 comment to say how, and every row carries its reason
broadMatch         wider         the target is wider in meaning than the source
narrowMatch        narrower      the target is narrower; the comment says in what sense
relatedMatch       relatedto     some overlap, exact relationship unknown
=================  ============  ==========================================================

``subsumes``/``specializes`` are not used: they claim an is-a link inside one hierarchy, which a
mapping between two tools does not. In ``$translate`` the equivalence is always read from the
code given to the concept returned, also with ``reverse=true`` and for chains (the composed
relation of the path). Each match carries termserver extensions for the mapping status
(published/proposed), the weakest confidence and the path, since R4 has no place for them.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from termserver.errors import UnknownConceptError
from termserver.fhir.outcome import FhirError, bad_request, not_found
from termserver.fhir.params import Coding, OperationParams
from termserver.iris import BASE, TS
from termserver.mappings import (
    BROAD,
    CLOSE,
    EXACT,
    NARROW,
    RELATED,
    Mapping,
    MappingSet,
    predicate_iri,
    short_name,
)
from termserver.translate import Translation, Translator

EQUIVALENCE = {
    EXACT: "equivalent",
    CLOSE: "inexact",
    BROAD: "wider",
    NARROW: "narrower",
    RELATED: "relatedto",
}
EXT_STATUS = TS + "mappingStatus"
EXT_CONFIDENCE = TS + "mappingConfidence"
EXT_RELATION = TS + "skosRelation"
EXT_PATH = TS + "mappingPath"
EXT_VALID_FROM = TS + "validFrom"
EXT_VALID_TO = TS + "validTo"


def conceptmap_url(ms: MappingSet) -> str:
    """The canonical URL of a mapping set's ConceptMap."""
    return f"{BASE}mappings/{ms.id}"


def _row_extensions(m: Mapping) -> list[dict[str, Any]]:
    ext: list[dict[str, Any]] = [
        {"url": EXT_RELATION, "valueUri": predicate_iri(m.predicate)},
        {"url": EXT_STATUS, "valueCode": m.status},
    ]
    if m.confidence is not None:
        ext.append({"url": EXT_CONFIDENCE, "valueDecimal": m.confidence})
    if m.valid_from:
        ext.append({"url": EXT_VALID_FROM, "valueDate": m.valid_from.isoformat()})
    if m.valid_to:
        ext.append({"url": EXT_VALID_TO, "valueDate": m.valid_to.isoformat()})
    return ext


def _row_comment(m: Mapping) -> str:
    """Status and provenance first, so no proposed mapping reads as published."""
    head = "Publiceret" if not m.proposed else "Foreslået"
    parts = [f"{head} ({m.author}, {m.date.isoformat()})"]
    if m.source:
        parts.append(f"kilde: {m.source}")
    if m.confidence is not None:
        parts.append(f"sikkerhed {m.confidence:g}")
    if m.valid_from or m.valid_to:
        parts.append(
            f"gyldig {m.valid_from.isoformat() if m.valid_from else '…'}"
            f"–{m.valid_to.isoformat() if m.valid_to else '…'}"
        )
    text = "; ".join(parts) + "."
    if m.reason:
        text += f" {m.reason}"
    if m.comment:
        text += f" {m.comment}"
    return text


def conceptmap_resource(ms: MappingSet, vocab=None) -> dict[str, Any]:
    """The FHIR R4 ConceptMap of one set: one group (source → target system), one element per
    source code, one target per row. ``vocab`` (optional) supplies versions and displays."""
    all_published = all(not m.proposed for m in ms.mappings)
    res: dict[str, Any] = {
        "resourceType": "ConceptMap",
        "id": ms.id,
        "url": conceptmap_url(ms),
        "name": "".join(p.capitalize() for p in ms.id.replace("--", "-to-").split("-")),
        "title": ms.title,
        # draft while any row is only proposed: the map as a whole is not a published crosswalk
        "status": "active" if all_published and ms.mappings else "draft",
        "experimental": not all_published,
    }
    if ms.version:
        res["version"] = ms.version
    if ms.creators:
        res["publisher"] = ", ".join(ms.creators)
    description = ms.description or ""
    if ms.proposed_count:
        description += (
            f" {ms.proposed_count} af {len(ms.mappings)} mappinger er kun foreslået (ikke "
            "publiceret); se hver måls kommentar."
        )
    if description.strip():
        res["description"] = description.strip()
    if ms.license:
        res["copyright"] = ms.license
    group: dict[str, Any] = {"source": ms.subject_system, "target": ms.object_system}
    if vocab is not None:
        for key, system in (
            ("sourceVersion", ms.subject_system),
            ("targetVersion", ms.object_system),
        ):
            if system in vocab.systems():
                group[key] = vocab.default_version(system)
    elements: dict[str, dict[str, Any]] = {}
    for m in ms.mappings:
        el = elements.get(m.subject_code)
        if el is None:
            el = {"code": m.subject_code}
            display = _display(vocab, m.subject_system, m.subject_code) or m.subject_label
            if display:
                el["display"] = display
            el["target"] = []
            elements[m.subject_code] = el
        target: dict[str, Any] = {
            "extension": _row_extensions(m),
            "code": m.object_code,
        }
        display = _display(vocab, m.object_system, m.object_code) or m.object_label
        if display:
            target["display"] = display
        target["equivalence"] = EQUIVALENCE[m.predicate]
        target["comment"] = _row_comment(m)
        el["target"].append(target)
    group["element"] = list(elements.values())
    res["group"] = [group]
    return res


def _display(vocab, system: str, code: str) -> str | None:
    if vocab is None or system not in vocab.systems():
        return None
    concept = vocab.get(system, code)
    return concept.display.strip() if concept is not None else None


def conceptmap_by_id(translator: Translator, resource_id: str) -> dict[str, Any]:
    """``GET ConceptMap/<id>``: the resource, or 404."""
    try:
        ms = translator.mapping_set(resource_id)
    except UnknownConceptError:
        raise not_found(f"no ConceptMap with id {resource_id!r}") from None
    return conceptmap_resource(ms, translator.vocab)


def conceptmap_resources(translator: Translator, url: str | None = None) -> list[dict[str, Any]]:
    """Every ConceptMap (optionally only the one with ``url``), for a search Bundle."""
    return [
        conceptmap_resource(ms, translator.vocab)
        for ms in translator.mapping_sets
        if url is None or conceptmap_url(ms) == url
    ]


# --- $translate --------------------------------------------------------------------------------


def _value_set_system(translator: Translator, url: str, name: str) -> str:
    """A system from a value set URL: the implicit all-codes value set ``<system>?vs`` or the
    system URL itself. Explicit value sets are not mapped to systems here."""
    system = url[:-3] if url.endswith("?vs") else url
    if translator.knows_system(system):
        return system
    raise FhirError(
        400,
        "not-supported",
        f"'{name}' must be a code system URL (or its implicit value set '<system>?vs'); "
        f"{url!r} is not one this server maps",
        name,
    )


def _codings(params: OperationParams) -> tuple[list[Coding], str]:
    code = params.str("code")
    coding = params.coding("coding")
    concept = params.codeable_concept("codeableConcept")
    given = [n for n, v in (("code", code), ("coding", coding), ("codeableConcept", concept)) if v]
    if not given:
        raise bad_request("one of 'code' (with 'system'), 'coding' or 'codeableConcept' is needed")
    if len(given) > 1:
        raise bad_request(f"give only one of {', '.join(given)}", given[1])
    if code is not None:
        return [Coding(params.str("system"), code, params.str("version"))], "code"
    if coding is not None:
        return [coding], "coding"
    if not concept:
        raise bad_request("the codeableConcept has no codings", "codeableConcept")
    return list(concept), "codeableConcept"


def translate(translator: Translator, params: OperationParams) -> dict[str, Any]:
    """``ConceptMap/$translate`` (R4): Parameters with result, message and match.

    Inputs: url, conceptMapVersion, system, version, code, coding, codeableConcept, source,
    target, targetsystem, reverse; termserver extension ``date`` (YYYY-MM-DD): translate as of
    that day. An inline ``conceptMap`` is not supported.
    """
    if params.resource("conceptMap") is not None:
        raise FhirError(400, "not-supported", "an inline conceptMap is not supported", "conceptMap")
    url = params.str("url")
    scope = translator
    if url is not None:
        matches = [ms for ms in translator.mapping_sets if conceptmap_url(ms) == url]
        if not matches:
            raise not_found(f"no ConceptMap with url {url!r}", "url")
        wanted_version = params.str("conceptMapVersion")
        if wanted_version is not None and matches[0].version != wanted_version:
            raise not_found(
                f"ConceptMap {url} has version {matches[0].version}, not {wanted_version!r}",
                "conceptMapVersion",
            )
        scope = translator.restricted([matches[0].id])
    reverse = params.bool("reverse")
    target_system = params.str("targetsystem")
    target_vs = params.str("target")
    if target_vs is not None:
        from_vs = _value_set_system(translator, target_vs, "target")
        if target_system is not None and target_system != from_vs:
            raise bad_request("'target' and 'targetsystem' name different systems", "target")
        target_system = from_vs
    if target_system is not None and not translator.knows_system(target_system):
        raise not_found(f"unknown target system {target_system!r}", "targetsystem")
    day = _date(params.str("date"))
    source_system = None
    source_vs = params.str("source")
    if source_vs is not None:
        source_system = _value_set_system(translator, source_vs, "source")
    codings, where = _codings(params)
    matches: list[dict[str, Any]] = []
    unknown: list[str] = []
    for c in codings:
        system = c.system or source_system
        if not system:
            raise bad_request("the code needs a system ('system' or coding.system)", "system")
        if source_system is not None and system != source_system:
            raise bad_request(f"the code's system {system} is not the 'source' system", "source")
        if not translator.knows_system(system):
            if where == "codeableConcept":
                continue  # a concept may carry codings from systems we do not map
            raise not_found(f"unknown code system {system!r}", "system")
        if not c.code:
            raise bad_request("the code must not be empty", where)
        try:
            found = scope.translate(
                system, c.code, target_system=target_system, reverse=reverse, as_of=day
            )
        except UnknownConceptError as exc:
            unknown.append(str(exc))
            continue
        matches.extend(_match(t) for t in found)
    out: list[dict[str, Any]] = [
        {"name": "result", "valueBoolean": bool(matches)},
        {"name": "message", "valueString": _message(matches, unknown, reverse, day)},
    ]
    out.extend(matches)
    return {"resourceType": "Parameters", "parameter": out}


def _date(text: str | None) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise bad_request(f"'date' must be YYYY-MM-DD, got {text!r}", "date") from None


def _match(t: Translation) -> dict[str, Any]:
    ext: list[dict[str, Any]] = [
        {"url": EXT_RELATION, "valueUri": predicate_iri(t.relation)},
        {"url": EXT_STATUS, "valueCode": "proposed" if t.proposed else "published"},
        {"url": EXT_PATH, "valueString": _path_text(t)},
    ]
    if t.confidence is not None:
        ext.append({"url": EXT_CONFIDENCE, "valueDecimal": t.confidence})
    concept: dict[str, Any] = {"system": t.system, "code": t.code}
    if t.display:
        concept["display"] = t.display
    first = t.path[0]
    return {
        "name": "match",
        "extension": ext,
        "part": [
            {"name": "equivalence", "valueCode": EQUIVALENCE[t.relation]},
            {"name": "concept", "valueCoding": concept},
            {"name": "source", "valueUri": f"{BASE}mappings/{first.set_id}"},
        ],
    }


def _path_text(t: Translation) -> str:
    """One line per step: ``code —relation→ code [set, status, author, date]``."""
    steps = []
    for s in t.path:
        m = s.mapping
        rel = short_name(s.relation) + (" (omvendt)" if s.inverted else "")
        steps.append(
            f"{s.start[1]} —{rel}→ {s.end[1]} [{s.set_id}: {m.status}, {m.author}, "
            f"{m.date.isoformat()}]"
        )
    return " ; ".join(steps)


def _message(matches: list, unknown: list[str], reverse: bool, day: date | None) -> str:
    if unknown and not matches:
        return "; ".join(unknown)
    if not matches:
        hint = "" if reverse else " (with reverse=true the code is looked up as a map target)"
        when = f" valid on {day.isoformat()}" if day else ""
        return f"no mapping{when} found{hint}"
    proposed = sum(
        1
        for m in matches
        for e in m["extension"]
        if e["url"] == EXT_STATUS and e["valueCode"] == "proposed"
    )
    text = f"{len(matches)} match(es)"
    if proposed:
        text += f"; {proposed} only proposed, not published"
    return text
