"""CodeSystem operations: $lookup, $validate-code and $subsumes, as Parameters dicts."""

from __future__ import annotations

from typing import Any

from termserver.errors import UnknownConceptError
from termserver.fhir.outcome import bad_request, not_found
from termserver.fhir.params import Coding, OperationParams
from termserver.model import Concept
from termserver.search import normalize
from termserver.vocabulary import Vocabulary

LOOKUP_PROPERTIES = ("parent", "child", "inactive", "status", "definition", "notSelectable")


def _param(name: str, key: str, value: Any) -> dict[str, Any]:
    return {"name": name, key: value}


def _check_system(vocab: Vocabulary, system: str | None, version: str | None, where: str) -> str:
    if not system:
        raise bad_request("a code system is required ('system' or a coding with a system)", where)
    try:
        vocab.release(system, version)
    except UnknownConceptError as exc:
        raise not_found(str(exc), where) from None
    return system


def _coding_from(
    params: OperationParams, code_name: str = "code", coding_name: str = "coding"
) -> Coding:
    coding = params.coding(coding_name)
    code = params.str(code_name)
    if coding is not None and code is not None:
        raise bad_request(f"give either '{code_name}' or '{coding_name}', not both", code_name)
    if coding is None:
        if code is None:
            raise bad_request(
                f"parameter '{code_name}' (or '{coding_name}') is required", code_name
            )
        return Coding(params.str("system"), code, params.str("version"), params.str("display"))
    return coding


def lookup(vocab: Vocabulary, params: OperationParams) -> dict[str, Any]:
    """$lookup: display, designations, definition, hierarchy and status of one code."""
    c = _coding_from(params)
    version = c.version or params.str("version")
    system = _check_system(vocab, c.system, version, "system")
    if not c.code:
        raise bad_request("the code must not be empty", "code")
    concept = vocab.get(system, c.code, version)
    if concept is None:
        raise not_found(vocab_message(vocab, system, c.code, version), "code")
    wanted = set(params.all("property")) or set(LOOKUP_PROPERTIES)
    language = params.str("displayLanguage")
    rel = vocab.release(system, concept.version)
    out: list[dict[str, Any]] = [
        _param("name", "valueString", rel.name),
        _param("version", "valueString", concept.version),
        _param("display", "valueString", concept.label(language)),
    ]
    if rel.title:
        out.append(_param("systemTitle", "valueString", rel.title))
    if concept.definition and "definition" in wanted:
        out.append(_param("definition", "valueString", concept.definition))
    out.append(_designation(concept.display, concept.language, None))
    for d in concept.designations:
        out.append(_designation(d.value, d.language, d))
    props: list[tuple[str, str, Any]] = []
    if "parent" in wanted:
        props += [("parent", "valueCode", p) for p in concept.parents]
    if "child" in wanted:
        props += [("child", "valueCode", k.code) for k in vocab.children(concept)]
    if "inactive" in wanted:
        props.append(("inactive", "valueBoolean", not concept.active))
    if "status" in wanted:
        props.append(("status", "valueCode", concept.status))
    if "notSelectable" in wanted and concept.not_selectable:
        props.append(("notSelectable", "valueBoolean", True))
    for r in concept.replaced_by:
        props.append(("replacedBy", "valueCode", r))
    for pv in concept.properties:
        if pv.code in wanted or not params.all("property"):
            key = {"Coding": "valueCoding"}.get(pv.type, "value" + pv.type[0].upper() + pv.type[1:])
            value: Any = pv.value
            if pv.type == "Coding":
                system_part, _, code_part = str(pv.value).partition("|")
                value = {"system": system_part, "code": code_part}
            props.append((pv.code, key, value))
    for code, key, value in props:
        out.append(
            {
                "name": "property",
                "part": [_param("code", "valueCode", code), _param("value", key, value)],
            }
        )
    return {"resourceType": "Parameters", "parameter": out}


def _designation(value: str, language: str | None, d) -> dict[str, Any]:
    part: list[dict[str, Any]] = []
    if language:
        part.append(_param("language", "valueCode", language))
    if d is not None and d.use_code:
        use = {"code": d.use_code}
        if d.use_system:
            use["system"] = d.use_system
        if d.use_display:
            use["display"] = d.use_display
        part.append(_param("use", "valueCoding", use))
    elif d is None:
        part.append(
            _param(
                "use",
                "valueCoding",
                {
                    "system": "http://terminology.hl7.org/CodeSystem/designation-usage",
                    "code": "display",
                },
            )
        )
    part.append(_param("value", "valueString", value))
    return {"name": "designation", "part": part}


def vocab_message(vocab: Vocabulary, system: str, code: str, version: str | None) -> str:
    """The snapshot's own explanation of why a code is unknown."""
    try:
        vocab.lookup(system, code, version)
    except UnknownConceptError as exc:
        return str(exc)
    return f"unknown code {code!r}"


def display_matches(concept: Concept, display: str) -> bool:
    """A display is right when it equals the display or a designation, ignoring case and spaces."""
    want = normalize(display)
    return want == normalize(concept.display) or any(
        normalize(d.value) == want for d in concept.designations
    )


def validate_code(vocab: Vocabulary, params: OperationParams) -> dict[str, Any]:
    """CodeSystem/$validate-code: is the code in the system, active, and its display right."""
    url = params.str("url") or params.str("system")
    cc = params.codeable_concept("codeableConcept")
    codings = cc if cc is not None else [_coding_from(params)]
    if cc is not None and not codings:
        raise bad_request("codeableConcept has no coding", "codeableConcept")
    results = [validate_coding(vocab, c, url, params.str("version")) for c in codings]
    good = next((r for r in results if r["result"]), results[0])
    return {"resourceType": "Parameters", "parameter": _result_params(good)}


def validate_coding(
    vocab: Vocabulary, c: Coding, default_system: str | None, default_version: str | None
) -> dict:
    """Validate one coding; the returned dict feeds :func:`_result_params`."""
    system = c.system or default_system
    version = c.version or default_version
    if not system:
        raise bad_request("a code system is required ('url', 'system' or coding.system)", "system")
    if not c.code:
        raise bad_request("a code is required", "code")
    base = {"system": system, "code": c.code, "version": version}
    try:
        vocab.release(system, version)
    except UnknownConceptError as exc:
        return {**base, "result": False, "message": str(exc), "issue": "not-found"}
    concept = vocab.get(system, c.code, version)
    if concept is None:
        return {
            **base,
            "result": False,
            "message": vocab_message(vocab, system, c.code, version),
            "issue": "code-invalid",
        }
    base.update(version=concept.version, display=concept.display)
    if c.display and not display_matches(concept, c.display):
        valid = [concept.display.strip()] + [d.value for d in concept.designations]
        choices = ", ".join(f"'{v}'" for v in valid)
        msg = (
            f"Wrong display '{c.display}' for {system}#{c.code}: valid display is {choices} "
            f"(forkert visningsnavn; det gyldige er {choices})"
        )
        return {**base, "result": False, "message": msg, "issue": "invalid-display"}
    if not concept.active:
        repl = ", ".join(f"{r.code} '{r.display.strip()}'" for r in vocab.replacement(concept))
        msg = f"The code {c.code} '{concept.display.strip()}' is {concept.status}"
        msg += f"; replaced by {repl}" if repl else ""
        return {**base, "result": False, "message": msg, "inactive": True, "issue": "code-retired"}
    out = {**base, "result": True}
    if concept.status == "deprecated":
        out["message"] = f"The code {c.code} is deprecated (frarådet)"
    return out


def _result_params(r: dict) -> list[dict[str, Any]]:
    out = [_param("result", "valueBoolean", r["result"])]
    if r.get("message"):
        out.append(_param("message", "valueString", r["message"]))
    if r.get("display"):
        out.append(_param("display", "valueString", r["display"]))
    out.append(_param("code", "valueCode", r["code"]))
    out.append(_param("system", "valueUri", r["system"]))
    if r.get("version"):
        out.append(_param("version", "valueString", r["version"]))
    if r.get("inactive"):
        out.append(_param("inactive", "valueBoolean", True))
    return out


def subsumes(vocab: Vocabulary, params: OperationParams) -> dict[str, Any]:
    """$subsumes: equivalent, subsumes, subsumed-by or not-subsumed."""
    a = _coding_from(params, "codeA", "codingA")
    b = _coding_from(params, "codeB", "codingB")
    system = params.str("system") or a.system or b.system
    for c in (a, b):
        if c.system and system and c.system != system:
            raise bad_request("codeA and codeB must come from the same code system", "system")
    version = params.str("version") or a.version or b.version
    system = _check_system(vocab, system, version, "system")
    for name, c in (("codeA", a), ("codeB", b)):
        if not c.code or vocab.get(system, c.code, version) is None:
            raise not_found(vocab_message(vocab, system, c.code or "", version), name)
    outcome = vocab.subsumes(system, a.code, b.code, version)
    return {"resourceType": "Parameters", "parameter": [_param("outcome", "valueCode", outcome)]}
