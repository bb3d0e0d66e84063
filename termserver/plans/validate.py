"""Validating a plan end to end: bytes → parsed document → plan model → findings → report.

The format is recognised from the document itself: a FHIR ``Bundle`` (also inside a
``Parameters`` resource, as FHIR's ``$validate`` sends it) or a native "Borgerens Plan"
document. Anything else is unreadable input, reported as such, never a stack trace.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from termserver.plans.fhir_reader import read_fhir
from termserver.plans.inputs import MAX_BYTES, PlanInputError, parse_any, parse_json
from termserver.plans.model import FHIR, NATIVE
from termserver.plans.native_reader import read_native
from termserver.plans.rules import ERROR, INFORMATION, WARNING, Finding, check_plan


@dataclass
class Report:
    """The outcome of validating one input: findings, or why the input could not be read."""

    source: str
    format: str | None = None
    findings: list[Finding] = field(default_factory=list)
    input_error: PlanInputError | None = None

    def count(self, severity: str) -> int:
        """How many findings of ``severity``."""
        return sum(1 for f in self.findings if f.severity == severity)

    @property
    def readable(self) -> bool:
        return self.input_error is None

    @property
    def valid(self) -> bool:
        """Readable and without errors (warnings and information do not make a plan invalid)."""
        return self.readable and self.count(ERROR) == 0

    @property
    def counts(self) -> dict[str, int]:
        return {
            "errors": self.count(ERROR),
            "warnings": self.count(WARNING),
            "information": self.count(INFORMATION),
        }


def unwrap(doc: Any, source: str) -> tuple[str, Any]:
    """(format, document): the Bundle or native document inside ``doc``; raises
    :class:`PlanInputError` (422) for anything else."""
    if not isinstance(doc, dict):
        raise PlanInputError(
            source,
            "$",
            "en plan skal være et JSON/YAML-objekt (a plan must be an object)",
            status=422,
        )
    rt = doc.get("resourceType")
    if rt is None:
        return NATIVE, doc
    if rt == "Parameters":
        params = doc.get("parameter")
        found = [
            p.get("resource")
            for p in (params if isinstance(params, list) else [])
            if isinstance(p, dict) and p.get("name") == "resource"
        ]
        if len(found) != 1 or not isinstance(found[0], dict):
            raise PlanInputError(
                source,
                "Parameters.parameter",
                "Parameters skal have præcis én parameter 'resource' med et Bundle "
                "(exactly one 'resource' parameter)",
                status=422,
            )
        return unwrap(found[0], source)
    if rt != "Bundle":
        raise PlanInputError(
            source,
            "resourceType",
            f"forventede et Bundle med en CarePlan, men fik {rt!r} (expected a Bundle, got {rt!r})",
            status=422,
        )
    return FHIR, doc


def validate_document(doc: Any, snapshot, source: str = "<input>") -> Report:
    """Validate an already parsed document."""
    report = Report(source)
    try:
        fmt, body = unwrap(doc, source)
        report.format = fmt
        plan = read_fhir(body, source) if fmt == FHIR else read_native(body, source)
    except PlanInputError as exc:
        report.input_error = exc
        return report
    report.findings = check_plan(plan, snapshot)
    return report


def validate_bytes(
    data: bytes | str, snapshot, source: str = "<input>", media_type: str | None = None
) -> Report:
    """Parse (JSON or YAML, by media type, file name or first character) and validate."""
    try:
        doc = parse_any(data, source, media_type)
    except PlanInputError as exc:
        return Report(source, input_error=exc)
    return validate_document(doc, snapshot, source)


def validate_ndjson(lines: Iterable[bytes | str], snapshot, source: str) -> Iterator[Report]:
    """One report per non-empty line of NDJSON (each line a plan), named ``source:line``."""
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        name = f"{source}:{n}"
        if len(line) > MAX_BYTES:
            yield Report(name, input_error=PlanInputError(name, None, "linjen er for lang", 413))
            continue
        try:
            doc = parse_json(line, name)
        except PlanInputError as exc:
            yield Report(name, input_error=exc)
            continue
        yield validate_document(doc, snapshot, name)
