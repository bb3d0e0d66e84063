"""What FHIR R5 expansions report from a concept's extensions.

A code system (or a supplement of it) may carry presentation data on a concept as extensions:
``codesystem-label``, ``codesystem-conceptOrder``, ``itemWeight``, the standards status and the
rendering hints. The loader keeps them with the concept (property values coded by the
extension's URL, :data:`termserver.loading.fhir_codesystem.CONCEPT_EXTENSIONS`). FHIR R5 defines
the first four as concept properties (``label``, ``order``, ``itemWeight``, ``status``), and the
ecosystem's servers report them on every expansion entry without being asked, since they are
how the entry is to be shown; the rendering hints stay extensions on the entry. A value set's
own concept (``compose.include.concept``) may say the same (``valueset-label``,
``valueset-conceptOrder``, ``itemWeight``), which wins over the code system's, and mark the entry
``valueset-deprecated`` or give it a ``valueset-concept-definition``, carried as extensions.
"""

from __future__ import annotations

from typing import Any

from termserver.model import Concept

_EXT = "http://hl7.org/fhir/StructureDefinition/"
_PROPERTY = "http://hl7.org/fhir/concept-properties#"

#: Extension URL -> (property code in the expansion, its value[x] key, the property's URI).
PROPERTY_EXTENSIONS: dict[str, tuple[str, str, str]] = {
    _EXT + "codesystem-label": ("label", "valueString", _PROPERTY + "label"),
    _EXT + "codesystem-conceptOrder": ("order", "valueDecimal", _PROPERTY + "order"),
    _EXT + "itemWeight": ("weight", "valueDecimal", _PROPERTY + "itemWeight"),
    _EXT + "structuredefinition-standards-status": ("status", "valueCode", _PROPERTY + "status"),
    # The concept's own status property (see fhir_codesystem.STATUS_AS_GIVEN).
    _PROPERTY + "status": ("status", "valueCode", _PROPERTY + "status"),
}
#: Extensions an expansion entry carries over as extensions.
ENTRY_EXTENSIONS = (_EXT + "rendering-style", _EXT + "rendering-xhtml")

_KEYS = {"string": "valueString", "code": "valueCode", "integer": "valueInteger"}


def _latest(c: Concept) -> dict[str, Any]:
    """Extension URL -> value; a supplement's value (added after the code system's) wins."""
    found: dict[str, Any] = {}
    for pv in c.properties:
        if pv.code in PROPERTY_EXTENSIONS or pv.code in ENTRY_EXTENSIONS:
            found[pv.code] = (pv.type, pv.value)
    return found


def derived_properties(c: Concept) -> list[tuple[str, str, Any, str]]:
    """(property code, value[x] key, value, property URI) for each property-like extension."""
    if not c.properties:  # the common case (our own content): nothing to look at
        return []
    out = []
    codes: set[str] = set()
    for url, (_, value) in _latest(c).items():
        spec = PROPERTY_EXTENSIONS.get(url)
        if spec is not None and spec[0] not in codes:  # one status, even if given twice
            code, key, uri = spec
            codes.add(code)
            out.append((code, key, value, uri))
    return out


def entry_extensions(c: Concept) -> list[dict[str, Any]]:
    """The rendering extensions an expansion entry for ``c`` carries."""
    if not c.properties:
        return []
    found = _latest(c)
    return [
        {"url": url, _KEYS.get(found[url][0], "valueString"): found[url][1]}
        for url in ENTRY_EXTENSIONS
        if url in found
    ]


#: A value set's own concept extensions (``compose.include.concept``) R5 expansions report as
#: properties, over the code system's: extension URL -> property code (see PROPERTY_EXTENSIONS).
VALUESET_PROPERTY_EXTENSIONS = {
    _EXT + "valueset-label": "label",
    _EXT + "valueset-conceptOrder": "order",
    _EXT + "itemWeight": "weight",
}
#: A value set's concept extensions the entry carries as they are (over the code system's).
VALUESET_ENTRY_EXTENSIONS = (
    _EXT + "valueset-deprecated",
    _EXT + "valueset-concept-definition",
    *ENTRY_EXTENSIONS,
)
_SPEC_BY_CODE = {code: (key, uri) for code, key, uri in PROPERTY_EXTENSIONS.values()}


def valueset_concepts(compose: dict[str, Any] | None) -> dict[tuple[str, str], dict[str, Any]]:
    """(system, code) -> the concept a value set's ``compose.include`` lists for it."""
    out: dict[tuple[str, str], dict[str, Any]] = {}
    includes = compose.get("include") if isinstance(compose, dict) else None
    for inc in includes if isinstance(includes, list) else ():
        if not isinstance(inc, dict) or not isinstance(inc.get("system"), str):
            continue
        concepts = inc.get("concept")
        if not isinstance(concepts, list):
            continue
        for vc in concepts:
            if isinstance(vc, dict) and isinstance(vc.get("code"), str):
                out.setdefault((inc["system"], vc["code"]), vc)
    return out


def known_extensions(node: dict[str, Any], urls: Any) -> list[dict[str, Any]]:
    """``node``'s extensions with one of ``urls`` and one primitive value, as given."""
    out = []
    for ext in node.get("extension") or ():
        if isinstance(ext, dict) and ext.get("url") in urls:
            keys = [k for k in ext if k.startswith("value")]
            if len(keys) == 1 and isinstance(ext[keys[0]], str | int | float | bool):
                out.append({"url": ext["url"], keys[0]: ext[keys[0]]})
    return out


def valueset_properties(vc: dict[str, Any]) -> list[tuple[str, str, Any, str]]:
    """(property code, value[x] key, value, property URI) from a value set concept's extensions."""
    out = []
    for ext in known_extensions(vc, VALUESET_PROPERTY_EXTENSIONS):
        code = VALUESET_PROPERTY_EXTENSIONS[ext["url"]]
        key, uri = _SPEC_BY_CODE[code]
        value = next(v for k, v in ext.items() if k != "url")
        out.append((code, key, value, uri))
    return out


def valueset_entry_extensions(vc: dict[str, Any]) -> list[dict[str, Any]]:
    """The extensions an expansion entry carries from its value set concept ``vc``."""
    return known_extensions(vc, VALUESET_ENTRY_EXTENSIONS)
