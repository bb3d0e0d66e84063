"""FHIR errors: one exception type that carries its HTTP status and becomes an OperationOutcome."""

from __future__ import annotations

from typing import Any


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
    ) -> None:
        super().__init__(diagnostics)
        self.status = status
        self.code = code
        self.diagnostics = diagnostics
        self.expression = expression
        self.severity = severity

    def outcome(self) -> dict[str, Any]:
        """The OperationOutcome resource for this error."""
        return operation_outcome(self.severity, self.code, self.diagnostics, self.expression)


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
