"""What FHIR R5 expansions report from a concept's extensions.

A code system (or a supplement of it) may carry presentation data on a concept as extensions:
``codesystem-label``, ``codesystem-conceptOrder``, ``itemWeight``, the standards status and the
rendering hints. The loader keeps them with the concept (property values coded by the
extension's URL, :data:`termserver.loading.fhir_codesystem.CONCEPT_EXTENSIONS`). FHIR R5 defines
the first four as concept properties (``label``, ``order``, ``itemWeight``, ``status``), and the
ecosystem's servers report them on every expansion entry without being asked, since they are
how the entry is to be shown; the rendering hints stay extensions on the entry.
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
