"""FHIR JSON → FHIR XML, for clients that ask for ``application/fhir+xml``.

The generic rules of the FHIR XML format cover every resource we produce: primitives become
``<name value="..."/>``, arrays repeat the element, nested resources (``resource``) are wrapped in
an element named after their type, and an extension's ``url`` is an attribute. XML also needs the
specification's element order, which JSON does not: :data:`ORDER` gives it for the elements this
server writes, so the order of keys in a JSON dict never matters. Every element name is checked
against FHIR's name syntax and characters XML cannot carry are replaced, so whatever text a
value holds, the output is well-formed.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qs
from xml.sax.saxutils import quoteattr

import orjson

from termserver.fhir.outcome import operation_outcome

FHIR_NS = "http://hl7.org/fhir"
_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
# Characters XML 1.0 does not allow, even escaped.
_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")
_RESOURCE_START = ("id", "meta", "implicitRules", "language", "text", "contained", "extension")
_CANONICAL = (*_RESOURCE_START, "modifierExtension", "url", "identifier", "version", "name")
_CANONICAL_TAIL = ("title", "status", "experimental", "date", "publisher", "contact")
_DESCRIBED = ("description", "useContext", "jurisdiction")

#: FHIR R4 element order per element path (value[x] choices are ordered as "value").
ORDER: dict[str, tuple[str, ...]] = {
    "CodeSystem": (*_CANONICAL, *_CANONICAL_TAIL, *_DESCRIBED, "purpose", "copyright",
                   "caseSensitive", "valueSet", "hierarchyMeaning", "compositional",
                   "versionNeeded", "content", "supplements", "count", "filter", "property",
                   "concept"),
    "CodeSystem.property": ("code", "uri", "description", "type"),
    "CodeSystem.concept": ("code", "display", "definition", "designation", "property", "concept"),
    "CodeSystem.concept.designation": ("language", "use", "value"),
    "CodeSystem.concept.property": ("code", "value"),
    "ValueSet": (*_CANONICAL, *_CANONICAL_TAIL, *_DESCRIBED, "immutable", "purpose",
                 "copyright", "compose", "expansion"),
    "ValueSet.compose": ("lockedDate", "inactive", "include", "exclude"),
    "ValueSet.compose.include": ("system", "version", "concept", "filter", "valueSet"),
    "ValueSet.compose.exclude": ("system", "version", "concept", "filter", "valueSet"),
    "ValueSet.compose.include.concept": ("code", "display", "designation"),
    "ValueSet.compose.exclude.concept": ("code", "display", "designation"),
    "ValueSet.compose.include.filter": ("property", "op", "value"),
    "ValueSet.compose.exclude.filter": ("property", "op", "value"),
    "ValueSet.expansion": ("identifier", "timestamp", "total", "offset", "parameter", "contains"),
    "ValueSet.expansion.parameter": ("name", "value"),
    "ValueSet.expansion.contains": ("system", "abstract", "inactive", "version", "code",
                                    "display", "designation", "contains"),
    "ValueSet.expansion.contains.designation": ("language", "use", "value"),
    "ConceptMap": (*_CANONICAL, *_CANONICAL_TAIL, *_DESCRIBED, "purpose", "copyright",
                   "source", "target", "group"),
    "ConceptMap.group": ("source", "sourceVersion", "target", "targetVersion", "element",
                         "unmapped"),
    "ConceptMap.group.element": ("code", "display", "target"),
    "ConceptMap.group.element.target": ("code", "display", "equivalence", "comment",
                                        "dependsOn", "product"),
    "Parameters.parameter": ("name", "value", "resource", "part"),
    "Parameters.parameter.part": ("name", "value", "resource", "part"),
    "OperationOutcome.issue": ("severity", "code", "details", "diagnostics", "location",
                               "expression"),
    "Bundle": (*_RESOURCE_START, "identifier", "type", "timestamp", "total", "link", "entry"),
    "Bundle.link": ("relation", "url"),
    "Bundle.entry": ("link", "fullUrl", "resource", "search"),
    "CapabilityStatement": (*_CANONICAL, *_CANONICAL_TAIL, *_DESCRIBED, "purpose", "copyright",
                            "kind", "instantiates", "imports", "software", "implementation",
                            "fhirVersion", "format", "patchFormat", "implementationGuide",
                            "rest"),
    "CapabilityStatement.rest": ("mode", "documentation", "security", "resource"),
    "CapabilityStatement.rest.resource": ("type", "profile", "supportedProfile",
                                          "documentation", "interaction", "searchParam",
                                          "operation"),
    "TerminologyCapabilities": (*_CANONICAL, *_CANONICAL_TAIL, *_DESCRIBED, "purpose",
                                "copyright", "kind", "software", "implementation",
                                "lockedDate", "codeSystem", "expansion", "codeSearch",
                                "validateCode", "translation", "closure"),
    "TerminologyCapabilities.codeSystem": ("uri", "version", "subsumption"),
    "TerminologyCapabilities.codeSystem.version": ("code", "isDefault", "compositional",
                                                   "language", "filter", "property"),
}  # fmt: skip


class XmlRenderError(ValueError):
    """A resource that cannot be written as FHIR XML (a bug: every name we write is checked)."""


def to_xml(resource: dict[str, Any]) -> bytes:
    """Serialise one FHIR resource (as JSON dict) to FHIR XML."""
    parts: list[str] = ['<?xml version="1.0" encoding="UTF-8"?>']
    _resource(resource, parts)
    return "".join(parts).encode("utf-8")


def _check_name(name: Any) -> str:
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise XmlRenderError(f"{name!r} is not a FHIR element name")
    return name


def _ordered(path: str, node: dict[str, Any], resource: bool) -> list[str]:
    """The keys of ``node`` in specification order; unknown ones keep their place at the end."""
    # Every backbone element starts with its extensions; ORDER lists what follows them.
    start = () if resource else ("extension", "modifierExtension")
    order = (*start, *ORDER.get(path, _RESOURCE_START if resource else ()))
    rank = {name: i for i, name in enumerate(order)}
    last = len(order)

    def key(item: tuple[int, str]) -> tuple[int, int]:
        i, name = item
        base = "value" if name.startswith("value") and name[5:6].isupper() else name
        return rank.get(base, last), i

    return [name for _, name in sorted(enumerate(node), key=key)]


def _resource(res: dict[str, Any], out: list[str]) -> None:
    rtype = _check_name(res.get("resourceType"))
    out.append(f'<{rtype} xmlns="{FHIR_NS}">')
    for key in _ordered(rtype, res, resource=True):
        if key != "resourceType":
            _element(key, res[key], out, f"{rtype}.{key}")
    out.append(f"</{rtype}>")


def _element(name: str, value: Any, out: list[str], path: str) -> None:
    name = _check_name(name)
    if isinstance(value, list):
        for item in value:
            _element(name, item, out, path)
        return
    if isinstance(value, dict):
        if "resourceType" in value:
            out.append(f"<{name}>")
            _resource(value, out)
            out.append(f"</{name}>")
            return
        # Only an extension's url is an XML attribute; elsewhere (e.g. implementation.url)
        # url is an ordinary element.
        is_ext = name in ("extension", "modifierExtension")
        attrs = f" url={quoteattr(_text(value['url']))}" if is_ext and "url" in value else ""
        out.append(f"<{name}{attrs}>")
        # A part is a parameter again: the same order, whatever its depth.
        child_path = "Parameters.parameter.part" if path.endswith(".part") else path
        for key in _ordered(child_path, value, resource=False):
            if attrs and key == "url":
                continue
            _element(key, value[key], out, f"{child_path}.{key}")
        out.append(f"</{name}>")
        return
    out.append(f"<{name} value={quoteattr(_text(value))}/>")


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    return _ILLEGAL.sub("\ufffd", str(value))


XML_TYPES = ("application/fhir+xml", "application/xml", "text/xml")
_FORMAT_XML = {"xml", "text/xml", "application/xml", "application/fhir+xml"}
_FORMAT_JSON = {"json", "application/json", "application/fhir+json"}


def format_choice(query_format: str) -> str | None:
    """``xml`` or ``json`` for a ``_format`` value, None when it names neither.

    A '+' left unencoded in a URL arrives as a space, so ``application/fhir xml`` is XML too;
    parameters such as ``;charset=utf-8`` are ignored.
    """
    value = query_format.split(";")[0].strip().lower().replace(" ", "+")
    if value in _FORMAT_XML:
        return "xml"
    if value in _FORMAT_JSON:
        return "json"
    return None


def wants_xml(query_format: str | None, accept: str | None) -> bool:
    """True when ``_format`` or the Accept header asks for XML rather than JSON."""
    if query_format:
        return format_choice(query_format) == "xml"
    if not accept:
        return False
    accept = accept.lower()
    return any(t in accept for t in XML_TYPES) and "json" not in accept


class FhirXmlMiddleware:
    """Turns ``/fhir`` JSON answers into FHIR XML for clients that ask for XML."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/fhir"):
            await self.app(scope, receive, send)
            return
        raw_query = scope.get("query_string", b"")
        accept_raw = dict(scope.get("headers", [])).get(b"accept", b"")
        # The common JSON request pays for two substring tests, nothing more.
        if b"_format" not in raw_query and b"xml" not in accept_raw:
            await self.app(scope, receive, send)
            return
        query = parse_qs(raw_query.decode("latin-1"))
        # An unknown _format passes through as JSON: the handler answers it with a 400.
        if not wants_xml((query.get("_format") or [None])[0], accept_raw.decode("latin-1")):
            await self.app(scope, receive, send)
            return
        start: dict = {}
        body = bytearray()

        async def capture(message) -> None:
            if message["type"] == "http.response.start":
                start.update(message)
                return
            body.extend(message.get("body", b""))
            if message.get("more_body"):
                return
            headers = [
                (k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"
            ]
            ctype = dict(headers).get(b"content-type", b"")
            data = bytes(body)
            status = start.get("status", 200)
            if b"json" in ctype:
                try:
                    data = to_xml(orjson.loads(data))
                except (XmlRenderError, orjson.JSONDecodeError) as exc:
                    status = 500
                    problem = f"the answer cannot be written as FHIR XML: {exc}"
                    data = to_xml(operation_outcome("fatal", "exception", problem))
                headers = [(k, v) for k, v in headers if k.lower() != b"content-type"]
                headers.append((b"content-type", b"application/fhir+xml; charset=utf-8"))
            headers.append((b"content-length", str(len(data)).encode()))
            await send({**start, "status": status, "headers": headers})
            await send({"type": "http.response.body", "body": data})

        await self.app(scope, receive, capture)
