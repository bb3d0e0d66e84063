"""CodeSystem operations: $lookup, $validate-code and $subsumes, as Parameters dicts."""

from __future__ import annotations

from typing import Any

from termserver.errors import UnknownConceptError
from termserver.fhir.outcome import bad_request, not_found
from termserver.fhir.params import Coding, OperationParams
from termserver.fhir.resources import designation_json, display_designation, property_value
from termserver.loading.fhir_codesystem import is_extension
from termserver.model import DEPRECATED, Concept, Designation
from termserver.valuesets import same_label
from termserver.vocabulary import Vocabulary

#: What $lookup returns when the request names no ``property``; each can also be asked for.
LOOKUP_PROPERTIES = (
    "definition",
    "designation",
    "parent",
    "child",
    "inactive",
    "status",
    "notSelectable",
    "replacedBy",
)


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


def coding_from(
    params: OperationParams, code_name: str = "code", coding_name: str = "coding"
) -> Coding:
    """The coding an operation is about: ``code`` (+ system, version, display) or a Coding."""
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


def lookup(vocab: Vocabulary, params: OperationParams, *, r5: bool = False) -> dict[str, Any]:
    """$lookup: display, designations, definition, hierarchy and status of one code.

    ``property=*`` asks for every property. With ``r5`` the answer is shaped as FHIR R5 servers
    give it: ``code`` and ``system`` echoed, no ``systemTitle``, only the concept's own
    designations, and ``status`` only when it is not active.
    """
    c = coding_from(params)
    version = c.version or params.str("version")
    system = _check_system(vocab, c.system, version, "system")
    if not c.code:
        raise bad_request("the code must not be empty", "code")
    concept = vocab.get(system, c.code, version)
    if concept is None:
        raise not_found(vocab_message(vocab, system, c.code, version), "code")
    asked = set(params.strings("property"))
    if "*" in asked:
        asked = set()
    wanted = asked or set(LOOKUP_PROPERTIES)
    language = params.str("displayLanguage")
    rel = vocab.release(system, concept.version)
    out: list[dict[str, Any]] = [_param("name", "valueString", rel.name)]
    if concept.version:
        out.append(_param("version", "valueString", concept.version))
    out.append(_param("display", "valueString", concept.label(language)))
    if r5:
        out.append(_param("code", "valueCode", concept.code))
        out.append(_param("system", "valueUri", system))
        out.append(_param("abstract", "valueBoolean", concept.not_selectable))
    elif rel.title:
        out.append(_param("systemTitle", "valueString", rel.title))
    if concept.definition and "definition" in wanted:
        out.append(_param("definition", "valueString", concept.definition))
    if "designation" in wanted:
        # R5 servers give the display as a plain designation in the code system's language.
        display = Designation(concept.display, concept.language) if r5 else None
        for d in (display or display_designation(concept), *concept.designations):
            out.append({"name": "designation", "part": _designation_parts(d)})
    props: list[tuple[str, str, Any]] = []
    if "parent" in wanted:
        props += [("parent", "valueCode", p) for p in concept.parents]
    if "child" in wanted:
        props += [("child", "valueCode", k.code) for k in vocab.children(concept)]
    if "inactive" in wanted:
        props.append(("inactive", "valueBoolean", not concept.active))
    if "status" in wanted and not (r5 and concept.active):
        props.append(("status", "valueCode", concept.status))
    if "notSelectable" in wanted and concept.not_selectable:
        props.append(("notSelectable", "valueBoolean", True))
    if "replacedBy" in wanted:
        props += [("replacedBy", "valueCode", r) for r in concept.replaced_by]
    for pv in concept.properties:
        if is_extension(pv):
            continue  # an extension kept with the concept, not one of its properties
        if not asked or pv.code in asked:
            props.append((pv.code, *property_value(pv)))
    for code, key, value in props:
        out.append(
            {
                "name": "property",
                "part": [_param("code", "valueCode", code), _param("value", key, value)],
            }
        )
    out += [_param("used-supplement", "valueCanonical", s) for s in rel.supplements]
    return {"resourceType": "Parameters", "parameter": out}


def _designation_parts(d) -> list[dict[str, Any]]:
    """A designation as $lookup's parts: the same fields as everywhere, as named values."""
    as_json = designation_json(d)
    kinds = {"language": "valueCode", "use": "valueCoding", "value": "valueString"}
    parts = [_param(name, kinds[name], value) for name, value in as_json.items()]
    if d.source:  # from a supplement the request named: say which
        parts.append(_param("source", "valueCanonical", d.source))
    return parts


def vocab_message(vocab: Vocabulary, system: str, code: str, version: str | None) -> str:
    """The snapshot's own explanation of why a code is unknown."""
    try:
        vocab.lookup(system, code, version)
    except UnknownConceptError as exc:
        return str(exc)
    return f"unknown code {code!r}"


def status_warning(vocab: Vocabulary, concept: Concept) -> str | None:
    """For a retired or deprecated code: what to tell the client, naming any replacement."""
    if concept.active and concept.status != DEPRECATED:
        return None
    repl = ", ".join(f"{r.code} '{r.display.strip()}'" for r in vocab.replacement(concept))
    msg = f"The code {concept.code} '{concept.display.strip()}' is {concept.status}"
    da = {"retired": "udgået", "deprecated": "frarådet"}.get(concept.status, concept.status)
    msg += f" ({da})"
    return msg + (f"; replaced by {repl}" if repl else "")


def validate_code(vocab: Vocabulary, params: OperationParams) -> dict[str, Any]:
    """CodeSystem/$validate-code: is the code in the system, and is its display right.

    A code that does not exist, or an unknown system or version, is ``result`` false with a
    message (HTTP 200), as FHIR defines; a retired code exists, so it is true with ``inactive``
    and a warning naming its replacement.
    """
    url, system = params.str("url"), params.str("system")
    if url and system and url != system:
        raise bad_request(f"'url' ({url}) and 'system' ({system}) name different systems", "url")
    cc = params.codeable_concept("codeableConcept")
    codings = cc if cc is not None else [coding_from(params)]
    if cc is not None and not codings:
        raise bad_request("codeableConcept has no coding", "codeableConcept")
    results = [validate_coding(vocab, c, url or system, params.str("version")) for c in codings]
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
    base.update(version=concept.version, display=concept.display, inactive=not concept.active)
    if c.display and not same_label(c.display, concept):
        valid = [concept.display.strip()] + [d.value for d in concept.designations]
        choices = ", ".join(f"'{v}'" for v in valid)
        msg = (
            f"Wrong display '{c.display}' for {system}#{c.code}: valid display is {choices} "
            f"(forkert visningsnavn; det gyldige er {choices})"
        )
        return {**base, "result": False, "message": msg, "issue": "invalid-display"}
    return {**base, "result": True, "message": status_warning(vocab, concept)}


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
    a = coding_from(params, "codeA", "codingA")
    b = coding_from(params, "codeB", "codingB")
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
