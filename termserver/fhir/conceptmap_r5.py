"""``ConceptMap/$translate`` over FHIR ConceptMap resources (R5 endpoint).

Our own mappings are YAML mapping sets with SKOS relations (:mod:`termserver.translate`). FHIR
ConceptMaps given with a request (``tx-resource``) or at start (``--fhir-dir``) are translated
here, element by element as FHIR R5 defines it; without any, the R5 endpoint answers from our
mapping sets like the R4 one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from termserver.fhir import conceptmap_ops
from termserver.fhir.outcome import bad_request
from termserver.fhir.params import OperationParams
from termserver.translate import Translator

#: R4 ConceptMap equivalence -> R5 relationship.
_R4_EQUIVALENCE = {
    "equivalent": "equivalent",
    "equal": "equivalent",
    "wider": "source-is-narrower-than-target",
    "subsumes": "source-is-narrower-than-target",
    "narrower": "source-is-broader-than-target",
    "specializes": "source-is-broader-than-target",
    "relatedto": "related-to",
    "inexact": "related-to",
    "unmatched": "not-related-to",
    "disjoint": "not-related-to",
}
NOT_RELATED = "not-related-to"


@dataclass(frozen=True)
class TranslateScope:
    """What $translate reads on the R5 endpoint: our mapping sets and any FHIR ConceptMaps."""

    translator: Translator
    conceptmaps: tuple[dict[str, Any], ...] = ()


def translate(scope: TranslateScope, params: OperationParams) -> dict[str, Any]:
    """$translate: from the given ConceptMaps when there are any, else from our mapping sets."""
    if not scope.conceptmaps:
        return conceptmap_ops.translate(scope.translator, params)
    url = params.str("url")
    maps = [m for m in scope.conceptmaps if url is None or m.get("url") == url]
    target_system = params.str("targetSystem") or params.str("targetsystem")
    source_system = params.str("sourceSystem") or params.str("system")
    target_code = params.str("targetCode")
    if target_code is not None:
        matches = _reverse(maps, source_system, target_system, target_code)
    else:
        code = params.str("sourceCode") or params.str("code")
        coding = params.coding("sourceCoding") or params.coding("coding")
        if coding is not None:
            source_system, code = coding.system or source_system, coding.code
        if not code or not source_system:
            raise bad_request("give sourceCode and sourceSystem (or sourceCoding)", "sourceCode")
        matches = _forward(maps, source_system, target_system, code)
    out: list[dict[str, Any]] = [{"name": "result", "valueBoolean": bool(matches)}]
    if not matches:
        out.append({"name": "message", "valueString": "No mappings found"})
    out += [{"name": "match", "part": m} for m in matches]
    return {"resourceType": "Parameters", "parameter": out}


def _groups(maps: list[dict], source: str | None, target: str | None):
    for m in maps:
        origin = m.get("url", "")
        if m.get("version"):
            origin += f"|{m['version']}"
        for g in m.get("group") or ():
            if not isinstance(g, dict):
                continue
            if source is not None and g.get("source") != source:
                continue
            if target is not None and g.get("target") != target:
                continue
            yield origin, g


def _relationship(t: dict) -> str | None:
    rel = t.get("relationship")
    if isinstance(rel, str):
        return rel
    eq = t.get("equivalence")
    return _R4_EQUIVALENCE.get(eq) if isinstance(eq, str) else None


def _coding(system: Any, code: Any, display: Any = None) -> dict[str, Any]:
    out = {"system": system, "code": code}
    if isinstance(display, str):
        out["display"] = display
    return out


def _forward(maps: list[dict], source: str, target: str | None, code: str) -> list[list[dict]]:
    found = []
    for origin, g in _groups(maps, source, target):
        for e in g.get("element") or ():
            if not isinstance(e, dict) or e.get("code") != code:
                continue
            for t in e.get("target") or ():
                rel = _relationship(t) if isinstance(t, dict) else None
                if rel is None or rel == NOT_RELATED or not t.get("code"):
                    continue
                found.append(
                    [
                        {
                            "name": "concept",
                            "valueCoding": _coding(g.get("target"), t["code"], t.get("display")),
                        },
                        {"name": "relationship", "valueCode": rel},
                        {"name": "originMap", "valueCanonical": origin},
                    ]
                )
    return found


def _reverse(
    maps: list[dict], source: str | None, target: str | None, target_code: str
) -> list[list[dict]]:
    found = []
    for origin, g in _groups(maps, source, target):
        for e in g.get("element") or ():
            if not isinstance(e, dict):
                continue
            for t in e.get("target") or ():
                if not isinstance(t, dict) or t.get("code") != target_code:
                    continue
                rel = _relationship(t)
                if rel is None or rel == NOT_RELATED:
                    continue
                found.append(
                    [
                        {"name": "concept", "valueCoding": _coding(g.get("target"), target_code)},
                        {"name": "relationship", "valueCode": rel},
                        {"name": "originMap", "valueCanonical": origin},
                        {
                            "name": "source",
                            "valueCoding": _coding(
                                g.get("source"), e.get("code"), e.get("display")
                            ),
                        },
                    ]
                )
    return found
