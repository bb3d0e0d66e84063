"""FHIR JSON → FHIR XML, for clients that ask for ``application/fhir+xml``.

The generic rules of the FHIR XML format cover every resource we produce: primitives become
``<name value="..."/>``, arrays repeat the element, nested resources (``resource``) are wrapped in
an element named after their type, and an extension's ``url`` is an attribute. XML also needs
the specification's element order; the resources this server builds follow it.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs
from xml.sax.saxutils import quoteattr

import orjson

FHIR_NS = "http://hl7.org/fhir"


def to_xml(resource: dict[str, Any]) -> bytes:
    """Serialise one FHIR resource (as JSON dict) to FHIR XML."""
    parts: list[str] = ['<?xml version="1.0" encoding="UTF-8"?>']
    _resource(resource, parts)
    return "".join(parts).encode("utf-8")


def _resource(res: dict[str, Any], out: list[str]) -> None:
    rtype = res["resourceType"]
    out.append(f'<{rtype} xmlns="{FHIR_NS}">')
    for key, value in res.items():
        if key != "resourceType":
            _element(key, value, out)
    out.append(f"</{rtype}>")


def _element(name: str, value: Any, out: list[str]) -> None:
    if isinstance(value, list):
        for item in value:
            _element(name, item, out)
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
        attrs = f" url={quoteattr(str(value['url']))}" if is_ext and "url" in value else ""
        out.append(f"<{name}{attrs}>")
        for key, child in value.items():
            if attrs and key == "url":
                continue
            _element(key, child, out)
        out.append(f"</{name}>")
        return
    out.append(f"<{name} value={quoteattr(_primitive(value))}/>")


def _primitive(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    return str(value)


XML_TYPES = ("application/fhir+xml", "application/xml", "text/xml")
_FORMAT_XML = {"xml", "text/xml", "application/xml", "application/fhir+xml"}


def wants_xml(query_format: str | None, accept: str | None) -> bool:
    """True when ``_format`` or the Accept header asks for XML rather than JSON."""
    if query_format:
        return query_format.strip().lower() in _FORMAT_XML
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
            if b"json" in ctype:
                data = to_xml(orjson.loads(data))
                headers = [(k, v) for k, v in headers if k.lower() != b"content-type"]
                headers.append((b"content-type", b"application/fhir+xml; charset=utf-8"))
            headers.append((b"content-length", str(len(data)).encode()))
            await send({**start, "headers": headers})
            await send({"type": "http.response.body", "body": data})

        await self.app(scope, receive, capture)
