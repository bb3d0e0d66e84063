"""FHIR errors: one exception type that carries its HTTP status and becomes an OperationOutcome."""

from __future__ import annotations

from typing import Any

TX_ISSUE_TYPE = "http://hl7.org/fhir/tools/CodeSystem/tx-issue-type"
MESSAGE_ID = "http://hl7.org/fhir/StructureDefinition/operationoutcome-message-id"


def message_id_extension(message_id: str) -> dict[str, str]:
    """The ``operationoutcome-message-id`` extension naming an issue's kind.

    The ids are the message keys of HL7's validator (``Unknown_Code_in_Version``,
    ``None_of_the_provided_codes_are_in_the_value_set_one`` ...), which tx.fhir.org and HAPI
    give too: a client can recognise or suppress an issue by its id whatever the wording.
    """
    return {"url": MESSAGE_ID, "valueString": message_id}


class FhirError(Exception):
    """An error to answer with an OperationOutcome (never a stack trace).

    ``code`` is a FHIR issue-type code (invalid, not-found, processing, not-supported, too-costly,
    required, value, business-rule); ``expression`` names the parameter or element at fault.
    """

    def __init__(
        self,
        status: int,
        code: str,
        diagnostics: str,
        expression: str | None = None,
        severity: str = "error",
        tx_code: str | None = None,
        text: str | None = None,
        message_id: str | None = None,
    ) -> None:
        super().__init__(diagnostics)
        self.message_id = message_id  # HL7's key for this kind of error, reported on R5
        self.text = text  # the bare message, without the location prefix diagnostics may carry
        self.tx_code = tx_code  # a tx-issue-type code (vs-invalid, not-found ...), when known
        self.status = status
        self.code = code
        self.diagnostics = diagnostics
        self.expression = expression
        self.severity = severity

    def outcome(self) -> dict[str, Any]:
        """The OperationOutcome resource for this error."""
        return operation_outcome(self.severity, self.code, self.diagnostics, self.expression)

    def outcome_r5(self) -> dict[str, Any]:
        """The OperationOutcome as terminology ecosystem servers give it: the text in
        ``details`` with a tx-issue-type coding, and an expression only for element paths."""
        tx_code = self.tx_code or {"not-found": "not-found"}.get(self.code)
        details: dict[str, Any] = {"text": self.text or self.diagnostics}
        if tx_code:
            details = {"coding": [{"system": TX_ISSUE_TYPE, "code": tx_code}]} | details
        issue: dict[str, Any] = {"severity": self.severity, "code": self.code, "details": details}
        if self.message_id:
            issue = {"extension": [message_id_extension(self.message_id)]} | issue
        if self.expression and ("." in self.expression or "[" in self.expression):
            issue["location"] = [self.expression]
            issue["expression"] = [self.expression]
        return {"resourceType": "OperationOutcome", "issue": [issue]}


def operation_outcome(
    severity: str, code: str, diagnostics: str, expression: str | None = None
) -> dict[str, Any]:
    """A one-issue OperationOutcome."""
    issue: dict[str, Any] = {"severity": severity, "code": code, "diagnostics": diagnostics}
    if expression:
        issue["expression"] = [expression]
    return {"resourceType": "OperationOutcome", "issue": [issue]}


def bad_request(diagnostics: str, expression: str | None = None) -> FhirError:
    """400: the request's parameters are wrong."""
    return FhirError(400, "invalid", diagnostics, expression)


def not_found(diagnostics: str, expression: str | None = None) -> FhirError:
    """404: an unknown code system, value set, version or code."""
    return FhirError(404, "not-found", diagnostics, expression)


def too_costly(diagnostics: str, expression: str | None = None) -> FhirError:
    """422: well-formed, but more work than the server does for one request."""
    return FhirError(422, "too-costly", diagnostics, expression)
