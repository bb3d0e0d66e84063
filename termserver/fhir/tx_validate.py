"""$validate-code as the FHIR terminology ecosystem defines it (the R5 endpoint).

The answer carries ``result``, the coding's ``code``/``system``/``version``/``display``, an
``issues`` OperationOutcome whose issues have a ``tx-issue-type`` code and a FHIRPath expression
(``Coding.display``, ``CodeableConcept.coding[1].code``), and a ``message`` joining the errors and
warnings. The wording follows the reference servers (tests/data/tx-ecosystem/tests/messages-*.json),
because clients compare it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from termserver.fhir.codesystem_ops import coding_from
from termserver.fhir.outcome import TX_ISSUE_TYPE, bad_request, message_id_extension
from termserver.fhir.params import Coding, OperationParams
from termserver.fhir.valueset_ops import requested_valueset, valueset_error
from termserver.loading.fhir_codesystem import STATUS_AS_GIVEN
from termserver.model import Concept, language_matches
from termserver.valuesets import ValueSetDef, ValueSetError, ValueSetIndex
from termserver.vocabulary import Vocabulary

#: HL7's key for "the code is not in the value set", for one code or one coding of several.
NOT_IN_VS = "None_of_the_provided_codes_are_in_the_value_set_one"


@dataclass(frozen=True)
class Issue:
    """One OperationOutcome issue: severity, FHIR issue type, tx-issue-type, text, where."""

    severity: str
    code: str
    tx_code: str
    text: str
    expression: str | None = None
    in_message: bool = True  # repeated in ``message`` (a case-difference note is not)
    # R5 deprecates ``location`` (XML-specific); the ecosystem's display issues give only the
    # FHIRPath ``expression``, while its other issues still carry both.
    located: bool = True
    message_id: str | None = None  # HL7's key for this kind of issue (outcome.message_id_extension)

    def json(self) -> dict[str, Any]:
        """The issue as FHIR JSON."""
        out: dict[str, Any] = {}
        if self.message_id:
            out["extension"] = [message_id_extension(self.message_id)]
        out |= {
            "severity": self.severity,
            "code": self.code,
            "details": {
                "coding": [{"system": TX_ISSUE_TYPE, "code": self.tx_code}],
                "text": self.text,
            },
        }
        if self.expression:
            if self.located:
                out["location"] = [self.expression]
            out["expression"] = [self.expression]
        return out


@dataclass
class Checked:
    """What is known about one coding after checking it."""

    coding: Coding
    prefix: str  # "" (code), "Coding." or "CodeableConcept.coding[i]."
    concept: Concept | None = None
    version: str | None = None
    valid: bool = False
    member: bool = False  # the code exists (and is in the value set), whatever its display
    normalized: str | None = None
    unknown_system: bool = False
    issues: list[Issue] = field(default_factory=list)

    def error(self) -> bool:
        return any(i.severity == "error" for i in self.issues)


def validate_valueset(index: ValueSetIndex, params: OperationParams) -> dict[str, Any]:
    """ValueSet/$validate-code: is the coding (or one of the concept's codings) in the value set?"""
    vs = requested_valueset(index, params)
    return _Validator(index.vocab, params, index, vs).run()


def validate_codesystem(vocab: Vocabulary, params: OperationParams) -> dict[str, Any]:
    """CodeSystem/$validate-code: is the code in the code system, with a right display?"""
    return _Validator(vocab, params, None, None).run()


class _Validator:
    def __init__(
        self,
        vocab: Vocabulary,
        params: OperationParams,
        index: ValueSetIndex | None,
        vs: ValueSetDef | None,
    ) -> None:
        self.vocab = vocab
        self.params = params
        self.index = index
        self.vs = vs
        language = params.str("displayLanguage") or _valueset_language(vs)
        # Messages name the languages as the request gave them (an Accept-Language header with
        # its weights), as HL7 servers do.
        self.languages_given = (language or "").strip() or "--"
        self.languages = [
            x.split(";")[0].strip() for x in (language or "").split(",") if x.split(";")[0].strip()
        ]
        self.lenient = params.bool("lenient-display-validation")
        self.active_only = params.bool("activeOnly")
        self.unresolved = False  # the value set imports one that is not known
        self.membership_only = params.bool("valueset-membership-only")

    def run(self) -> dict[str, Any]:
        cc = self.params.codeable_concept("codeableConcept")
        if cc is not None:
            if not cc:
                raise bad_request("codeableConcept has no coding", "codeableConcept")
            prefixed = [(c, f"CodeableConcept.coding[{i}].") for i, c in enumerate(cc)]
        else:
            coding = coding_from(self.params)
            default_system = self.params.str("url") if self.vs is None else None
            system = coding.system or self.params.str("system") or default_system
            # coding_from reads ``version``; ValueSet/$validate-code names it systemVersion.
            version = coding.version or self.params.str("systemVersion")
            prefix = "Coding." if self.params.coding("coding") is not None else ""
            if system is None and self.vs is not None and coding.code:
                if not self.params.bool("inferSystem"):
                    return self._no_system(coding.code, prefix)
                system = self._infer_system(coding.code)
                if system is None:
                    return self._not_inferred(coding.code, prefix)
            prefixed = [(Coding(system, coding.code, version, coding.display), prefix)]
        checked = [self._check(c, prefix, cc is not None) for c, prefix in prefixed]
        return self._answer(checked, cc is not None)

    def _holding(self, code: str) -> list[str]:
        """The value set's code systems that hold ``code``."""
        assert self.vs is not None
        known = [s for s in sorted(_compose_systems(self.vs)) if s in self.vocab.systems()]
        return [s for s in known if self.vocab.get(s, code) is not None]

    def _infer_system(self, code: str) -> str | None:
        """The one code system of the value set that holds ``code`` (FHIR ``inferSystem``)."""
        holding = self._holding(code)
        return holding[0] if len(holding) == 1 else None

    def _no_system(self, code: str, prefix: str) -> dict[str, Any]:
        assert self.vs is not None
        issues = [
            Issue(
                "error",
                "code-invalid",
                "not-in-vs",
                f"The provided code '#{code}' was not found in the value set '{_vs_name(self.vs)}'",
                f"{prefix}code",
                message_id=NOT_IN_VS,
            ),
            Issue(
                "warning",
                "invalid",
                "invalid-data",
                "Coding has no system. A code with no system has no defined meaning, and it "
                "cannot be validated. A system should be provided",
                prefix.rstrip(".") or "code",
                message_id="Coding_has_no_system__cannot_validate",
            ),
        ]
        return _failure(code, issues)

    def _not_inferred(self, code: str, prefix: str) -> dict[str, Any]:
        assert self.vs is not None
        where = f"{prefix}code"
        holding = self._holding(code)
        found = (
            f"multiple matches: [{', '.join(holding)}]"
            if holding
            else f"no matches in [{', '.join(sorted(_compose_systems(self.vs)))}]"
        )
        issues = [
            Issue(
                "error",
                "code-invalid",
                "not-in-vs",
                f"The provided code '#{code}' was not found in the value set '{_vs_name(self.vs)}'",
                where,
                message_id=NOT_IN_VS,
            ),
            Issue(
                "error",
                "not-found",
                "cannot-infer",
                f"The System URI could not be determined for the code '{code}' in the ValueSet "
                f"'{_vs_name(self.vs)}': value set expansion has {found}",
                where,
                # The keys the suite gives for the two cases.
                message_id="Unable_to_resolve_system__value_set_has_multiple_matches"
                if holding
                else "UNABLE_TO_INFER_CODESYSTEM",
            ),
        ]
        return _failure(code, issues)

    # --- one coding ------------------------------------------------------------------------

    def _check(self, c: Coding, prefix: str, in_cc: bool) -> Checked:
        out = Checked(c, prefix)
        if not c.code:
            raise bad_request("a code is required", f"{prefix}code" if prefix else "code")
        if not c.system:
            raise bad_request(
                "a code system is required", f"{prefix}system" if prefix else "system"
            )
        if c.system not in self.vocab.systems():
            return self._unknown_system(out, in_cc)
        versions = [m.version for m in self.vocab.versions(c.system)]
        if c.version is not None and c.version not in versions:
            held = ", ".join(v for v in versions if v) or "none"
            out.issues.append(
                Issue(
                    "error",
                    "not-found",
                    "not-found",
                    f"A definition for CodeSystem '{c.system}' version '{c.version}' could not be "
                    f"found, so the code cannot be validated. Valid versions: {held}",
                    f"{prefix}version" if prefix else "version",
                    message_id="UNKNOWN_CODESYSTEM_VERSION",
                )
            )
            return out
        version = c.version or self.vocab.default_version(c.system)
        out.version = version
        concept = self.vocab.get(c.system, c.code, version)
        if concept is None and not self.vocab.release(c.system, version).case_sensitive:
            folded = c.code.casefold()
            concept = next(
                (k for k in self.vocab.concepts(c.system, version) if k.code.casefold() == folded),
                None,
            )
            if concept is not None:
                out.normalized = concept.code
                out.issues.append(
                    Issue(
                        "information",
                        "business-rule",
                        "code-rule",
                        f"The code '{c.code}' differs from the correct code '{concept.code}' by "
                        f"case. Although the code system '{_canonical(c.system, version)}' is "
                        "case insensitive, implementers are strongly encouraged to use the "
                        "correct case anyway",
                        f"{prefix}code",
                        in_message=False,
                        message_id="CODE_CASE_DIFFERENCE",
                    )
                )
        if concept is None and self.vocab.release(c.system, version).content == "fragment":
            # A fragment holds only some codes: an unknown one may exist elsewhere.
            out.issues.append(
                Issue(
                    "warning",
                    "code-invalid",
                    "invalid-code",
                    f"Unknown Code '{c.code}' in the CodeSystem '{c.system}' version '{version}' - "
                    "note that the code system is labeled as a fragment, so the code may be valid "
                    "in some other fragment",
                    f"{prefix}code",
                    in_message=False,
                    message_id="UNKNOWN_CODE_IN_FRAGMENT",
                )
            )
            out.valid = True
            return out
        if concept is None and self.vs is not None and self.membership_only:
            out.issues.append(self._not_in_vs(c, prefix, in_cc))
            return out
        if concept is None:
            where = f" version '{version}'" if version else ""
            out.issues.append(
                Issue(
                    "error",
                    "code-invalid",
                    "invalid-code",
                    f"Unknown code '{c.code}' in the CodeSystem '{c.system}'{where}",
                    f"{prefix}code",
                    message_id="Unknown_Code_in_Version" if version else "Unknown_Code_in",
                )
            )
            if self.vs is not None:
                out.issues.append(self._not_in_vs(c, prefix, in_cc))
            return out
        out.concept = concept
        if not concept.active:
            out.issues.append(
                Issue(
                    "warning",
                    "business-rule",
                    "code-comment",
                    f"The concept '{concept.code}' has a status of {_inactive_status(concept)} and "
                    "its use should be reviewed",
                    prefix.rstrip(".") or "code",
                    message_id="INACTIVE_CONCEPT_FOUND",
                )
            )
        if self.vs is not None and not self._in_vs(out, concept, in_cc):
            return out
        out.member = True
        self._check_display(out, concept)
        out.valid = not out.error()
        return out

    def _in_vs(self, out: Checked, concept: Concept, in_cc: bool) -> bool:
        assert self.index is not None and self.vs is not None
        c, prefix = out.coding, out.prefix
        try:
            member = self.index.member(self.vs, concept.system, concept.code, c.version)
        except ValueSetError as exc:
            if exc.missing is None:
                raise valueset_error(exc) from None
            # An import that is not known: the answer is "cannot tell", not a failed request.
            self.unresolved = True
            text = f"A definition for the value Set '{exc.missing}' could not be found"
            out.issues.append(
                Issue(
                    "error",
                    "not-found",
                    "not-found",
                    text,
                    message_id="Unable_to_resolve_value_Set_",
                )
            )
            return False
        if member is not None and self.active_only and not member.active:
            out.issues.append(
                Issue(
                    "error",
                    "business-rule",
                    "code-rule",
                    f"The concept '{concept.code}' is valid but is not active",
                    f"{prefix}code",
                    message_id="STATUS_CODE_WARNING_CODE",
                )
            )
            member = None
        if member is None:
            out.issues.append(self._not_in_vs(c, prefix, in_cc))
            return False
        return True

    def _not_in_vs(self, c: Coding, prefix: str, in_cc: bool) -> Issue:
        assert self.vs is not None
        # HL7 servers quote the display (and version) given with the code, so the reader sees
        # what was meant.
        given = f" ('{c.display}')" if c.display else ""
        text = (
            f"The provided code '{_canonical(c.system or '', c.version)}#{c.code}{given}' was not "
            f"found in the value set '{_vs_name(self.vs)}'"
        )
        if in_cc:
            # One coding of several: the "No valid coding" error speaks for the whole concept,
            # so this note stays out of ``message``.
            return Issue(
                "information",
                "code-invalid",
                "this-code-not-in-vs",
                text,
                f"{prefix}code",
                in_message=False,
                message_id=NOT_IN_VS,
            )
        return Issue(
            "error", "code-invalid", "not-in-vs", text, f"{prefix}code", message_id=NOT_IN_VS
        )

    def _unknown_system(self, out: Checked, in_cc: bool) -> Checked:
        c, prefix = out.coding, out.prefix
        assert c.system is not None
        if self.index is not None and self.index.get(c.system) is not None:
            text = f"The Coding references a value set, not a code system ('{c.system}')"
            out.issues.append(_bad_system(text, prefix, "Terminology_TX_System_ValueSet2"))
            if self.vs is not None:
                out.issues.append(self._not_in_vs(c, prefix, in_cc))
            return out
        out.unknown_system = True
        local = ":" not in c.system  # not an absolute URI: a reference inside a resource
        referenced = self.vs is None or c.system in _compose_systems(self.vs)
        name = f"'{c.system}'" if referenced or local else c.system
        if local:
            text = "Coding.system must be an absolute reference, not a local reference"
            out.issues.append(_bad_system(text, prefix, "Terminology_TX_System_Relative"))
        out.issues.append(
            Issue(
                "error",
                "not-found",
                "not-found",
                f"A definition for CodeSystem {name} could not be found, so the code cannot be "
                "validated",
                f"{prefix}system",
                message_id="UNKNOWN_CODESYSTEM",
            )
        )
        if not referenced:
            out.issues.append(self._not_in_vs(c, prefix, in_cc))
        return out

    def _check_display(self, out: Checked, concept: Concept) -> None:
        given = out.coding.display
        if given is None:
            return
        every = [(concept.display, concept.language)]
        every += [(d.value, d.language or concept.language) for d in concept.designations]
        labels = every
        if self.languages:
            labels = [
                (v, lang)
                for v, lang in every
                if any(language_matches(lang, want) for want in self.languages)
            ]
        if any(_same(given, v) for v, _ in labels):
            return
        where = f"{out.prefix}display"
        ref = f"{out.coding.system}#{out.coding.code}"
        langs = self.languages_given
        if not labels:  # nothing in the languages asked for: judge by the default language
            if any(_same(given, v) for v, _ in every):
                text = (
                    f"There are no valid display names found for the code {ref} for "
                    f"language(s) '{langs}'. The display is '{given}' which is a valid display "
                    "for the default language"
                )
                out.issues.append(
                    Issue(
                        "information",
                        "invalid",
                        "invalid-display",
                        text,
                        where,
                        located=False,
                        message_id="NO_VALID_DISPLAY_FOUND_NONE_FOR_LANG_OK",
                    )
                )
                return
            text = (
                f"Wrong Display Name '{given}' for {ref}. There are no valid display names "
                f"found for language(s) '{langs}'. Default display is '{concept.display}'"
            )
            severity = "warning" if self.lenient else "error"
            out.issues.append(
                Issue(
                    severity,
                    "invalid",
                    "invalid-display",
                    text,
                    where,
                    located=False,
                    message_id="NO_VALID_DISPLAY_FOUND_NONE_FOR_LANG_ERR",
                )
            )
            return
        shown = labels or [(concept.display, concept.language)]
        named = [f"'{v}' ({lang})" for v, lang in shown]
        choices = (
            named[0]
            if len(named) == 1
            else f"one of {len(named)} choices: {', '.join(named[:-1])} or {named[-1]}"
        )
        # A display right but for its spaces gets its own wording (and id), as at HL7.
        spacing = any(_spaced(given) == _spaced(v) for v, _ in shown)
        wrong = "Wrong whitespace in Display Name" if spacing else "Wrong Display Name"
        out.issues.append(
            Issue(
                "warning" if self.lenient else "error",
                "invalid",
                "invalid-display",
                f"{wrong} '{given}' for {out.coding.system}#{out.coding.code}. Valid "
                f"display is {choices} (for the language(s) '{langs}')",
                f"{out.prefix}display",
                located=False,
                message_id="Display_Name_WS_for__should_be_one_of__instead_of"
                if spacing
                else "Display_Name_for__should_be_one_of__instead_of",
            )
        )

    # --- the answer ---------------------------------------------------------------------------

    def _display(self, concept: Concept) -> str:
        for want in self.languages:
            label = concept.label(want)
            if label != concept.display or language_matches(concept.language, want):
                return label
        return concept.display

    def _answer(self, checked: list[Checked], in_cc: bool) -> dict[str, Any]:
        good = next((x for x in checked if x.valid), None)
        result = good is not None
        issues = [i for x in checked for i in x.issues]
        member = good or next((x for x in checked if x.member), None)
        if in_cc and member is None and self.vs is not None and not self.unresolved:
            issues.insert(
                0,
                Issue(
                    "error",
                    "code-invalid",
                    "not-in-vs",
                    f"No valid coding was found for the value set '{_vs_name(self.vs)}'",
                    message_id="TX_GENERAL_CC_ERROR_MESSAGE",
                ),
            )
        shown = member or (checked[0] if not in_cc else None)
        out: list[dict[str, Any]] = [{"name": "result", "valueBoolean": result}]
        if in_cc:
            cc = self.params.all("codeableConcept")[0]
            out.append({"name": "codeableConcept", "valueCodeableConcept": cc})
        if shown is not None:
            c = shown.coding
            out.append({"name": "code", "valueCode": c.code})
            out.append({"name": "system", "valueUri": c.system})
            if shown.version and not shown.unknown_system:
                out.append({"name": "version", "valueString": shown.version})
            if shown.concept is not None:
                out.append({"name": "display", "valueString": self._display(shown.concept)})
                if not shown.concept.active:
                    out.append({"name": "inactive", "valueBoolean": True})
            if shown.normalized:
                out.append({"name": "normalized-code", "valueCode": shown.normalized})
        for x in checked:
            if x.unknown_system:
                referenced = self.vs is None or x.coding.system in _compose_systems(self.vs)
                name = "x-caused-by-unknown-system" if referenced else "x-unknown-system"
                out.append({"name": name, "valueCanonical": x.coding.system})
        reported = sorted({i.text for i in issues if i.in_message})
        if reported:
            out.append({"name": "message", "valueString": "; ".join(reported)})
        if issues:
            outcome = {"resourceType": "OperationOutcome", "issue": [i.json() for i in issues]}
            out.append({"name": "issues", "resource": outcome})
        return {"resourceType": "Parameters", "parameter": out}


def _bad_system(text: str, prefix: str, message_id: str) -> Issue:
    """An error about the coding's ``system`` itself (not a code system URL)."""
    return Issue("error", "invalid", "invalid-data", text, f"{prefix}system", message_id=message_id)


def _failure(code: str, issues: list[Issue]) -> dict[str, Any]:
    """A failed answer that can name only the code."""
    out = [
        {"name": "result", "valueBoolean": False},
        {"name": "code", "valueCode": code},
        {"name": "message", "valueString": "; ".join(sorted(i.text for i in issues))},
        {
            "name": "issues",
            "resource": {"resourceType": "OperationOutcome", "issue": [i.json() for i in issues]},
        },
    ]
    return {"resourceType": "Parameters", "parameter": out}


def _valueset_language(vs: ValueSetDef | None) -> str | None:
    """The display language a value set asks for: a displayLanguage expansion parameter in its
    compose, else its own language."""
    if vs is None:
        return None
    for ext in vs.compose.get("extension", ()):
        if not isinstance(ext, dict) or not ext.get("url", "").endswith(
            "valueset-expansion-parameter"
        ):
            continue
        parts = {e.get("url"): e for e in ext.get("extension", ()) if isinstance(e, dict)}
        if parts.get("name", {}).get("valueCode") == "displayLanguage":
            value = parts.get("value", {})
            return value.get("valueCode") or value.get("valueString")
    language = vs.resource.get("language")
    return language if isinstance(language, str) else None


def _compose_systems(vs: ValueSetDef) -> set[str]:
    return {
        part["system"]
        for key in ("include", "exclude")
        for part in vs.compose.get(key, ())
        if "system" in part
    }


def _vs_name(vs: ValueSetDef) -> str:
    """How HL7 messages name a value set; one given inline without url is unidentified."""
    return vs.canonical or "(unidentified)"


def _canonical(system: str, version: str | None) -> str:
    return f"{system}|{version}" if version else system


def _spaced(text: str) -> str:
    return " ".join(text.split())


def _inactive_status(concept: Concept) -> str:
    """How HL7 messages name an inactive concept's status: ``retired and inactive`` where the
    code system gives a status of its own, else ``inactive``."""
    given = next((p.value for p in concept.properties if p.code == STATUS_AS_GIVEN), None)
    if isinstance(given, str) and given not in ("active", "inactive"):
        return f"{given} and inactive"
    return "inactive"


def _same(given: str, label: str) -> bool:
    # Exact: "Display  1" (two spaces) is not the display "Display 1".
    return given == label
