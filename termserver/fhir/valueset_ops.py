"""ValueSet operations: $expand and $validate-code, and the ValueSet resources we publish."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import UTC, datetime
from typing import Any

from termserver import settings, valuesets
from termserver.errors import SourceError, UnknownConceptError
from termserver.fhir.codesystem_ops import coding_from, status_warning
from termserver.fhir.concept_extensions import (
    derived_properties,
    entry_extensions,
    known_extensions,
    valueset_concepts,
    valueset_entry_extensions,
    valueset_properties,
)
from termserver.fhir.outcome import FhirError, bad_request, too_costly
from termserver.fhir.params import OperationParams
from termserver.fhir.resources import designation_json, display_designation, property_value
from termserver.loading.fhir_codesystem import DESIGNATION_EXTENSIONS
from termserver.model import Concept, Designation
from termserver.valuesets import ValueSetDef, ValueSetError, ValueSetIndex, read_valueset

#: The largest page, and the largest expansion answered without count.
MAX_COUNT = 10_000
# An inline value set is the client's program run on our CPU: bounded like one.
MAX_INLINE_PARTS = 100  # include + exclude
MAX_INLINE_FILTERS = 50
#: Filter properties every code system has; others must be declared by the release.
BUILTIN_FILTER_PROPERTIES = frozenset(
    {"concept", "code", "display", "definition", "parent", "child", "status", "inactive"}
    | {"notSelectable"}
)
#: Request parameters an expansion reports back (as sent), with their type when sent by GET.
ECHOED = {
    "activeOnly": "valueBoolean", "count": "valueInteger", "offset": "valueInteger",
    "filter": "valueString", "displayLanguage": "valueCode", "excludeNested": "valueBoolean",
    "includeDesignations": "valueBoolean", "designation": "valueString",
    "system-version": "valueUri",
    "force-system-version": "valueUri", "check-system-version": "valueUri",
    "excludeNotForUI": "valueBoolean", "excludePostCoordinated": "valueBoolean",
}  # fmt: skip
# What an expansion keeps of a published definition's own elements (never a client's).
_HEADER = ("id", "meta", "language", "extension", "url", "identifier", "version", "name", "title")
_HEADER_TAIL = ("status", "experimental", "date", "publisher", "description")


def valueset_error(exc: ValueSetError) -> FhirError:
    """The FHIR error for a value set that cannot be evaluated."""
    status = {"not-found": 404, "too-costly": 422, "not-supported": 422}.get(exc.issue_type, 400)
    tx_code = "vs-invalid" if exc.issue_type == "invalid" else None
    return FhirError(
        status,
        exc.issue_type,
        str(exc),
        exc.location,
        tx_code=tx_code,
        text=exc.message,
        message_id=exc.message_id,
    )


def requested_valueset(index: ValueSetIndex, params: OperationParams) -> ValueSetDef:
    """The value set an operation is about: ``url`` (+ ``valueSetVersion``) or ``valueSet``."""
    url = params.str("url")
    inline = params.resource("valueSet")
    if url and inline:
        raise bad_request("give either 'url' or 'valueSet', not both", "url")
    if inline is not None:
        _check_inline_size(inline)
        try:
            vs = read_valueset(inline, source="parameter valueSet", url_required=False)
        except SourceError as exc:
            raise bad_request(
                f"the valueSet parameter is not a usable ValueSet: {exc.message}",
                f"valueSet.{exc.location.removeprefix('$.')}" if exc.location else "valueSet",
            ) from None
        _check_filter_properties(index, vs)
        return vs
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
        named = f"{url}|{version}" if version else url
        raise FhirError(
            404,
            "not-found",
            msg,
            "url",
            tx_code="not-found",
            text=f"A definition for the value Set '{named}' could not be found",
            message_id="Unable_to_resolve_value_Set_",
        )
    return vs


def _check_inline_size(doc: dict) -> None:
    # Contained value sets count too: they are evaluated as part of this one.
    inner = doc.get("contained") if isinstance(doc.get("contained"), list) else []
    composes = [r.get("compose") for r in (doc, *inner) if isinstance(r, dict)]
    parts = [
        p for compose in composes if isinstance(compose, dict)
        for key in ("include", "exclude") if isinstance(compose.get(key), list)
        for p in compose[key]
    ]  # fmt: skip
    if len(parts) > MAX_INLINE_PARTS:
        raise too_costly(
            f"an inline value set may have at most {MAX_INLINE_PARTS} include/exclude parts",
            "valueSet.compose",
        )
    filters = sum(len(p["filter"]) for p in parts if isinstance(p, dict) and "filter" in p
                  and isinstance(p["filter"], list))  # fmt: skip
    if filters > MAX_INLINE_FILTERS:
        raise too_costly(
            f"an inline value set may have at most {MAX_INLINE_FILTERS} filters",
            "valueSet.compose",
        )


def _check_filter_properties(index: ValueSetIndex, vs: ValueSetDef) -> None:
    """400 for a filter on a property the code system does not have (it would match nothing)."""
    for key in ("include", "exclude"):
        for i, part in enumerate(vs.compose.get(key, ())):
            system = part.get("system")
            if not part.get("filter") or system not in index.vocab.systems():
                continue  # an unknown system is reported by the expansion, with its path
            try:
                meta = index.vocab.release(system, part.get("version"))
            except UnknownConceptError:
                continue
            known = BUILTIN_FILTER_PROPERTIES | {p.code for p in meta.property_defs}
            for j, flt in enumerate(part["filter"]):
                if flt["property"] not in known:
                    raise bad_request(
                        f"{system} has no property {flt['property']!r} to filter on "
                        f"(use one of {', '.join(sorted(known))})",
                        f"valueSet.compose.{key}[{i}].filter[{j}].property",
                    )


def _canonicals(params: OperationParams, name: str) -> dict[str, str]:
    out = {}
    for canonical in params.strings(name):
        system, bar, version = canonical.partition("|")
        if not bar or not system.strip() or not version.strip() or "|" in version:
            raise bad_request(
                f"'{name}' must be a canonical 'system|version', got {canonical!r}", name
            )
        out[system] = version
    return out


def _pinned(vs: ValueSetDef | None, forced: dict[str, str]) -> ValueSetDef | None:
    """``vs`` with the forced versions put in place of the ones its parts pin."""
    if vs is None:
        return None
    compose = dict(vs.compose)
    for key in ("include", "exclude"):
        if key in compose:
            compose[key] = [
                {**part, "version": forced[part["system"]]}
                if part.get("system") in forced
                else part
                for part in compose[key]
            ]
    return dataclasses.replace(vs, compose=compose)


def _check_versions(exp: valuesets.Expansion, checked: dict[str, str]) -> None:
    """``check-system-version``: 400 when the expansion read another version of a checked code
    system than the one the request requires (the value set, or an import, pins another)."""
    for canonical in exp.used_codesystems:
        system, _, version = canonical.partition("|")
        wanted = checked.get(system)
        if wanted is not None and version != wanted:
            raise FhirError(
                400,
                "invalid",
                f"The value set uses version {version} of the code system {system}, but "
                f"check-system-version requires version {wanted}",
                "check-system-version",
                tx_code="vs-invalid",
            )


def expand(index: ValueSetIndex, params: OperationParams, *, r5: bool = False) -> dict[str, Any]:
    """ValueSet/$expand with filter, paging, activeOnly, designations and display language.

    ``system-version`` chooses a code system version where the definition pins none;
    ``force-system-version`` overrides the definition's (and its imports') own pins;
    ``check-system-version`` chooses like ``system-version`` and refuses (400) an expansion that
    reads another version of that code system because the definition pins one. With
    ``r5`` the answer is FHIR R5: ``property`` asks for ``expansion.property`` and
    ``contains.property`` (the definition too: R5 has no definition extension), and
    designations are only the concept's own (the display is not repeated as one).

    ``contains`` nests by the code systems' hierarchy where HL7 servers nest (see
    :func:`nests`); ``excludeNested=true`` always answers flat.
    """
    vs = requested_valueset(index, params)
    max_count = settings.current().max_expansion  # TERMSERVER_MAX_EXPANSION
    count = params.int("count", minimum=0, maximum=max_count)
    offset = params.int("offset", default=0, maximum=10_000_000) or 0
    text = params.str("filter")
    if text is not None and len(text) > 200:
        raise bad_request("'filter' is too long (at most 200 characters)", "filter")
    active_only = params.bool("activeOnly")
    include_designations = params.bool("includeDesignations")
    include_definition = params.bool("includeDefinition")
    language = params.str("displayLanguage")
    checked = _canonicals(params, "check-system-version")
    # Where the definition pins no version, a checked version is the one to use.
    defaults = checked | _canonicals(params, "system-version")
    forced = _canonicals(params, "force-system-version")
    options = {"filter": text, "active_only": active_only, "offset": offset, "count": count}
    options["nested"] = nests(vs, params, r5=r5)
    try:
        if forced:
            exp = valuesets.expand(
                index.vocab,
                _pinned(vs, forced),
                system_versions=defaults | forced,
                resolve=lambda url: _pinned(index.get(url), forced),
                **options,
            )
        else:
            exp = index.expand(vs, system_versions=defaults or None, **options)
    except ValueSetError as exc:
        raise valueset_error(exc) from None
    _check_versions(exp, checked)
    if count is None and exp.total > max_count:
        raise too_costly(
            f"the expansion has {exp.total} codes; page it with count and offset", "count"
        )
    echo = _echo(params)
    used = [{"name": "used-codesystem", "valueUri": u} for u in exp.used_codesystems]
    used += [{"name": "used-valueset", "valueUri": u} for u in exp.used_valuesets]
    used += [{"name": "used-supplement", "valueUri": u} for u in _supplements(index, exp)]
    fragments = _fragments(index, exp) if r5 else []
    used += [{"name": "used-fragment", "valueUri": u} for u in fragments]
    out = _header(index, vs, r5)
    out["expansion"] = {
        "identifier": f"urn:uuid:{uuid.uuid4()}",
        "timestamp": datetime.now(UTC).isoformat(timespec="seconds"),
        "total": exp.total,
        "offset": offset,
        "parameter": echo + used,
    }
    if fragments:
        out["expansion"] = {"extension": _unclosed(fragments[0]), **out["expansion"]}
    if r5 and not params.given("offset"):
        # R5 reports offset only when paging: where it starts is what the client asked.
        del out["expansion"]["offset"]
    if exp.concepts:  # FHIR JSON has no empty arrays
        # A version tells members apart only where the server holds several.
        several = {s for s in {c.system for c in exp.concepts} if len(index.vocab.versions(s)) > 1}
        # R5: what the definition itself says of a listed concept (its label, order, ...).
        listed = valueset_concepts(vs.compose) if r5 else {}
        entries = [
            _entry(
                c,
                language,
                include_designations,
                include_definition and not r5,
                c.system in several,
                r5,
                listed.get((c.system, c.code)),
            )
            for c in exp.concepts
        ]
        if r5:
            _add_properties(
                index,
                exp.concepts,
                entries,
                out["expansion"],
                params.strings("property"),
                [listed.get((c.system, c.code)) for c in exp.concepts],
            )
        out["expansion"]["contains"] = _nested(exp, entries) if exp.parents else entries
    return out


def nests(vs: ValueSetDef, params: OperationParams, *, r5: bool) -> bool:
    """Does the client want ``contains`` nested (where the definition allows it)?

    ``excludeNested`` decides when given. Without it, the R5 endpoint nests, as HL7 servers
    do; the R4 endpoint (``/fhir``, which KL's existing clients use) and KL's own value sets
    (``ontology/valuesets``, published as lists in Danish alphabetical order) stay flat, so
    answers clients page and compare do not change shape under them.
    """
    if params.given("excludeNested"):
        return not params.bool("excludeNested")
    return r5 and not vs.strict


def _nested(exp: valuesets.Expansion, entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The entries as a tree: each under the entry of its parent member, in member order."""
    by_key = {(c.system, c.code): e for c, e in zip(exp.concepts, entries, strict=True)}
    top = []
    for c, e in zip(exp.concepts, entries, strict=True):
        parent = exp.parents.get((c.system, c.code))
        if parent is None:
            top.append(e)
        else:
            by_key[parent].setdefault("contains", []).append(e)
    return top


def _supplements(index: ValueSetIndex, exp: valuesets.Expansion) -> list[str]:
    """The supplements the request applied to the code systems this expansion read."""
    found: dict[str, None] = {}
    for canonical in exp.used_codesystems:
        system, _, version = canonical.partition("|")
        found |= dict.fromkeys(index.vocab.release(system, version or None).supplements)
    return list(found)


def _fragments(index: ValueSetIndex, exp: valuesets.Expansion) -> list[str]:
    """The code systems read that are fragments (``content`` = fragment), as canonicals."""
    out = []
    for canonical in exp.used_codesystems:
        system, _, version = canonical.partition("|")
        if index.vocab.release(system, version or None).content == "fragment":
            out.append(canonical)
    return out


def _unclosed(fragment: str) -> list[dict[str, Any]]:
    """An expansion drawn from a fragment may lack members the full code system has."""
    system = fragment.partition("|")[0]
    return [
        {"url": f"{_EXT}valueset-unclosed", "valueBoolean": True},
        {
            "url": f"{_EXT}valueset-unclosed-reason",
            # The ecosystem's wording, which clients compare.
            "valueString": f"This extension is based on a fragment of the code system {system}",
        },
    ]


def _echo(params: OperationParams) -> list[dict[str, Any]]:
    """The expansion parameters the request gave, as FHIR servers report them."""
    out = []
    for name, default_key in ECHOED.items():
        for key, value in params.given(name):
            if key is None and default_key == "valueBoolean":
                value = str(value).lower() == "true"
            elif key is None and default_key == "valueInteger":
                value = int(value)
            if key is None or isinstance(value, str):
                key = default_key  # string types are reported as the operation defines them
            out.append({"name": name, key: value})
    return out


def _header(index: ValueSetIndex, vs: ValueSetDef, r5: bool = False) -> dict[str, Any]:
    """The expansion's own elements: a published definition's, or only the basic ones.

    R5 leaves out ``publisher``: the ecosystem's expansions identify the definition (url,
    version, name, title, status, date) but do not repeat who published it.
    """
    published = vs.resource if index.get(vs.url, vs.version) is vs else {}
    fields = {
        "url": vs.url or None,  # an inline value set may have none
        "version": vs.version,
        # A definition without a name gets one made up from its id or url: give only what was
        # sent (a definition built in code, without a resource, has only the made-up one).
        "name": vs.resource.get("name") if vs.resource else vs.name,
        "title": vs.title,
        "status": vs.status,
        "description": vs.description,
    }
    out: dict[str, Any] = {"resourceType": "ValueSet"}
    for key in (*_HEADER, *_HEADER_TAIL):
        if r5 and key == "publisher":
            continue
        value = fields.get(key) if key in fields else published.get(key)
        if value is not None:
            out[key] = value
    return out


def _entry(
    c: Concept,
    language: str | None,
    designations: bool,
    definition: bool,
    version: bool,
    r5: bool = False,
    listed: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """One ``contains`` entry; ``listed``: the R5 definition's own ``compose`` concept for it,
    whose extensions (deprecated, definition, rendering) and designations the entry carries."""
    e: dict[str, Any] = {}
    if definition and c.definition:
        e["extension"] = [
            {
                "url": "http://hl7.org/fhir/StructureDefinition/valueset-concept-definition",
                "valueString": c.definition,
            }
        ]
    e["system"] = c.system
    if c.not_selectable:
        e["abstract"] = True
    if not c.active:
        e["inactive"] = True
    if version and c.version:
        e["version"] = c.version
    e |= {"code": c.code, "display": c.label(language)}
    if designations:
        own = c.designations if r5 else (display_designation(c), *c.designations)
        found = [_designation(d, r5) for d in own]
        if listed is not None:
            found += _listed_designations(listed, found)
        if found:
            e["designation"] = found
    if r5:
        given = valueset_entry_extensions(listed) if listed is not None else []
        urls = {x["url"] for x in given}
        extensions = [x for x in entry_extensions(c) if x["url"] not in urls] + given
        if extensions:
            e["extension"] = e.get("extension", []) + extensions
    return e


def _designation(d: Designation, r5: bool) -> dict[str, Any]:
    """A designation's JSON; in R5 with the extensions its source gave it."""
    out = designation_json(d)
    if r5 and d.extensions:
        out = {"extension": [{"url": u, key: v} for u, key, v in d.extensions], **out}
    return out


def _listed_designations(listed: dict[str, Any], found: list[dict[str, Any]]) -> list[dict]:
    """The designations a definition's ``compose`` concept adds (the same text, language and
    use the code system gives is not repeated), with their known extensions."""
    seen = {(d.get("language"), d["value"], str(d.get("use"))) for d in found}
    out = []
    for d in listed.get("designation") or ():
        if not isinstance(d, dict) or not isinstance(d.get("value"), str):
            continue
        if (d.get("language"), d["value"], str(d.get("use"))) in seen:
            continue
        item: dict[str, Any] = {}
        extensions = known_extensions(d, DESIGNATION_EXTENSIONS)
        if extensions:
            item["extension"] = extensions
        item |= {k: d[k] for k in ("language", "use", "value") if k in d}
        out.append(item)
    return out


_EXT = "http://hl7.org/fhir/StructureDefinition/"
#: Standard concept properties (FHIR R5 concept-properties) by code.
_STANDARD_PROPERTY = "http://hl7.org/fhir/concept-properties#"


def _concept_property(c: Concept, code: str) -> list[tuple[str, Any]]:
    """The ``value[x]`` keys and values of one property of one concept."""
    if code == "definition":
        return [("valueString", c.definition)] if c.definition else []
    if code == "status":
        return [("valueCode", c.status)]
    if code == "inactive":
        return [("valueBoolean", not c.active)]
    if code == "parent":
        return [("valueCode", p) for p in c.parents]
    if code == "notSelectable":
        return [("valueBoolean", c.not_selectable)]
    return [property_value(pv) for pv in c.properties if pv.code == code]


def _add_properties(
    index: ValueSetIndex,
    concepts: tuple[Concept, ...],
    entries: list[dict[str, Any]],
    expansion: dict[str, Any],
    wanted: list[str],
    listed: list[dict[str, Any] | None],
) -> None:
    """R5 ``expansion.property`` declarations and each entry's ``property`` values: the ones
    asked for, and always those the code system gives as extensions (label, order, ...), where
    the definition's own ``compose`` concept (``listed``) gives them it wins."""
    used: dict[str, str] = {}
    for c, e, vc in zip(concepts, entries, listed, strict=True):
        values = [
            {"code": code, key: value}
            for code in wanted
            for key, value in _concept_property(c, code)
        ]
        asked = {v["code"] for v in values}
        own = valueset_properties(vc) if vc is not None else []
        given = {p[0] for p in own}
        derived = [p for p in derived_properties(c) if p[0] not in given] + own
        for code, key, value, uri in derived:
            if code not in asked:
                values.append({"code": code, key: value})
                used.setdefault(code, uri)
        if values:
            e["property"] = values
            for v in values:
                used.setdefault(v["code"], _property_uri(index, c, v["code"]))
    if used:
        expansion["property"] = [{"code": code, "uri": uri} for code, uri in used.items()]


def _property_uri(index: ValueSetIndex, c: Concept, code: str) -> str:
    meta = index.vocab.release(c.system, c.version)
    declared = next((p.uri for p in meta.property_defs if p.code == code and p.uri), None)
    return declared or f"{_STANDARD_PROPERTY}{code}"


def validate_code(index: ValueSetIndex, params: OperationParams) -> dict[str, Any]:
    """ValueSet/$validate-code: is the code in the value set, and is its display right.

    A retired member is valid (it is in the set) with ``inactive`` and a warning naming its
    replacement, the same answer CodeSystem/$validate-code gives.
    """
    vs = requested_valueset(index, params)
    cc = params.codeable_concept("codeableConcept")
    if cc is not None:
        if not cc:
            raise bad_request("codeableConcept has no coding", "codeableConcept")
        codings = cc
    else:
        codings = [coding_from(params)]
    results = []
    for c in codings:
        system = c.system or params.str("system")
        if not system or not c.code:
            raise bad_request("a system and a code are required", "system")
        version = c.version or params.str("systemVersion")
        try:
            r = index.validate_code(vs, system, c.code, c.display, version)
        except ValueSetError as exc:
            raise valueset_error(exc) from None
        results.append((c, system, r))
    c, system, r = next((x for x in results if x[2].result), results[0])
    messages = [f"{r.message} ({r.message_da})" if r.message_da else r.message]
    warning = status_warning(index.vocab, r.concept) if r.concept is not None else None
    if warning:
        messages.append(warning)
    out: list[dict[str, Any]] = [{"name": "result", "valueBoolean": r.result}]
    if any(messages):
        out.append({"name": "message", "valueString": "; ".join(m for m in messages if m)})
    if r.concept is not None:
        out.append({"name": "display", "valueString": r.concept.display})
    out.append({"name": "code", "valueCode": c.code})
    out.append({"name": "system", "valueUri": system})
    if r.concept is not None:
        out.append({"name": "version", "valueString": r.concept.version})
        if not r.concept.active:
            out.append({"name": "inactive", "valueBoolean": True})
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
