"""A validation report in three forms: FHIR OperationOutcome, plain JSON, and Danish text."""

from __future__ import annotations

from typing import Any

from termserver.plans.rules import RULES
from termserver.plans.validate import Report

RULE_SYSTEM = "https://w3id.org/ffb-termserver/plan-rules"
_SEVERITY_DA = {"error": "fejl", "warning": "advarsel", "information": "oplysning"}


def to_json(report: Report) -> dict[str, Any]:
    """The report as a JSON object (API and ``--format json``)."""
    if report.input_error is not None:
        exc = report.input_error
        return {
            "source": report.source,
            "valid": False,
            "readable": False,
            "error": {"message": exc.message, "where": exc.location},
        }
    return {
        "source": report.source,
        "format": report.format,
        "valid": report.valid,
        "readable": True,
        **report.counts,
        "findings": [
            {
                "rule": f.rule,
                "severity": f.severity,
                "location": f.location,
                "message": f.message,
                "message_en": f.message_en,
                **({"recommendation": f.recommendation} if f.recommendation else {}),
            }
            for f in report.findings
        ],
    }


def to_operation_outcome(report: Report) -> dict[str, Any]:
    """The report as an OperationOutcome: Danish in ``details.text``, English in
    ``diagnostics``, the rule id as a coding, the location in ``expression``."""
    if report.input_error is not None:
        exc = report.input_error
        issue: dict[str, Any] = {
            "severity": "error",
            "code": "structure",
            "diagnostics": exc.message,
        }
        if exc.location:
            issue["expression"] = [exc.location]
        return {"resourceType": "OperationOutcome", "issue": [issue]}
    issues = []
    for f in report.findings:
        rule = RULES[f.rule]
        issues.append(
            {
                "severity": f.severity,
                "code": rule.issue_type,
                "details": {
                    "coding": [{"system": RULE_SYSTEM, "code": f.rule, "display": rule.title}],
                    "text": f.message,
                },
                "diagnostics": f.message_en,
                "expression": [f.location],
            }
        )
    if not issues:
        issues.append(
            {
                "severity": "information",
                "code": "informational",
                "details": {"text": "Planen er gyldig; ingen fund."},
                "diagnostics": "The plan is valid; no findings.",
            }
        )
    return {"resourceType": "OperationOutcome", "issue": issues}


def to_text(report: Report) -> str:
    """The report as Danish text for people: a summary line, then one block per finding."""
    if report.input_error is not None:
        return f"{report.input_error}\n  (kan ikke læses; rettes før planen kan valideres)\n"
    c = report.counts
    warnings = "advarsel" if c["warnings"] == 1 else "advarsler"
    infos = "oplysning" if c["information"] == 1 else "oplysninger"
    summary = f"{c['errors']} fejl, {c['warnings']} {warnings}, {c['information']} {infos}"
    head = f"{report.source}: {'gyldig' if report.valid else 'ugyldig'} ({summary})\n"
    lines = [head]
    for f in report.findings:
        rec = f" (anbefaling {f.recommendation})" if f.recommendation else ""
        lines.append(f"  {_SEVERITY_DA[f.severity]:<9} {f.rule}{rec}  {f.location}\n")
        lines.append(f"            {f.message}\n")
    return "".join(lines)
