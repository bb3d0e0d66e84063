"""The rules a plan is checked against: catalogue, findings and the runner.

Every rule has a stable id (``TERM-…`` terminology, ``STRUCT-…`` KL's information model and FFB
reporting rules, ``QUAL-…`` good practice from seed 002, the audit *Bedre handleplaner – bedre
styring*, citing its recommendation number), a fixed severity, and a Danish and an English title.
The checks live in :mod:`~termserver.plans.terminology`, :mod:`~termserver.plans.structure` and
:mod:`~termserver.plans.quality`; they all read the plan model only.
"""

from __future__ import annotations

from dataclasses import dataclass

from termserver.plans.model import Plan

ERROR = "error"
WARNING = "warning"
INFORMATION = "information"
SEVERITY_ORDER = {ERROR: 0, WARNING: 1, INFORMATION: 2}


@dataclass(frozen=True, slots=True)
class Rule:
    """One rule: id, severity, titles, the seed 002 recommendation it rests on, FHIR issue type."""

    id: str
    severity: str
    title: str
    title_en: str
    issue_type: str
    recommendation: int | None = None


@dataclass(frozen=True, slots=True)
class Finding:
    """One thing wrong (or worth knowing) about a plan, and where."""

    rule: str
    severity: str
    location: str
    message: str  # Danish
    message_en: str
    recommendation: int | None = None


def _r(id: str, sev: str, da: str, en: str, issue: str, rec: int | None = None) -> Rule:
    return Rule(id, sev, da, en, issue, rec)


RULES: dict[str, Rule] = {
    r.id: r
    for r in (
        _r("TERM-001", ERROR, "Ukendt kodesystem", "Unknown code system", "code-invalid"),
        _r("TERM-002", ERROR, "Koden findes ikke", "Unknown code", "code-invalid"),
        _r("TERM-003", ERROR, "Ukendt version af kodesystemet", "Unknown version", "not-found"),
        _r("TERM-004", ERROR, "Koden er udgået", "Code is retired", "code-invalid"),
        _r("TERM-005", WARNING, "Koden frarådes", "Code is deprecated", "code-invalid"),
        _r("TERM-006", WARNING, "Forkert betegnelse", "Display does not match", "code-invalid"),
        _r(
            "TERM-007",
            ERROR,
            "Koden hører ikke til det bundne værdisæt",
            "Code not in the bound value set",
            "code-invalid",
        ),
        _r(
            "TERM-008",
            WARNING,
            "Koden er uden for det anbefalede værdisæt",
            "Code outside the extensible value set",
            "code-invalid",
        ),
        _r("TERM-009", ERROR, "Ufuldstændig kode", "Incomplete coding", "required"),
        _r("STRUCT-001", ERROR, "Præcis ét indsatsformål", "Exactly one purpose", "invariant"),
        _r("STRUCT-002", ERROR, "Indsatsmål uden måltype", "Goal without goal type", "required"),
        _r(
            "STRUCT-003",
            ERROR,
            "Indsatsmål uden forventet funktionsevneniveau",
            "Goal without expected level",
            "required",
        ),
        _r(
            "STRUCT-004",
            ERROR,
            "Indsatsmål må kun handle om Aktivitet og deltagelse",
            "Goal addresses a non-A&D condition",
            "business-rule",
        ),
        _r(
            "STRUCT-005",
            ERROR,
            "Indsatsmål skal have præcis én måltilstand (rang 1)",
            "Goal needs exactly one rank-1 condition",
            "invariant",
        ),
        _r(
            "STRUCT-006",
            ERROR,
            "Delmål skal bygge på et indsatsmål",
            "Sub-goal not based on an FFB goal",
            "invariant",
        ),
        _r(
            "STRUCT-007",
            ERROR,
            "Præcis én primær målgruppe",
            "Exactly one primary target group",
            "invariant",
        ),
        _r(
            "STRUCT-008",
            ERROR,
            "Funktionsevneniveau kun på Aktivitet og deltagelse",
            "Severity on a non-A&D condition",
            "business-rule",
        ),
        _r(
            "STRUCT-009",
            ERROR,
            "Aktivitet og deltagelse kræver funktionsevneniveau",
            "A&D condition without severity",
            "required",
        ),
        _r(
            "STRUCT-010",
            ERROR,
            "Bevilget plan uden opfølgningsdato",
            "Granted plan without follow-up date",
            "required",
        ),
        _r(
            "STRUCT-011",
            ERROR,
            "Bevilget plan uden støttebehovsvurdering",
            "Granted plan without need-of-support assessment",
            "required",
        ),
        _r(
            "STRUCT-012",
            ERROR,
            "Bevilget plan uden målgrupper",
            "Granted plan without target groups",
            "required",
        ),
        _r("STRUCT-013", ERROR, "Henvisning uden mål", "Dangling reference", "not-found"),
        _r("STRUCT-014", ERROR, "Henvisninger i ring", "Reference cycle", "invariant"),
        _r("STRUCT-015", ERROR, "Præcis én plan", "Exactly one plan", "structure"),
        _r(
            "STRUCT-016",
            ERROR,
            "Elementet har forkert form",
            "Element has the wrong form",
            "structure",
        ),
        _r(
            "QUAL-01",
            WARNING,
            "Indsatsens forventede varighed mangler",
            "No expected duration or end",
            "informational",
            9,
        ),
        _r(
            "QUAL-02",
            WARNING,
            "Opfølgningsdato mangler",
            "No follow-up date",
            "informational",
            10,
        ),
        _r(
            "QUAL-03",
            WARNING,
            "Ny eller kompleks sag: opfølgning senest efter tre måneder",
            "New or complex case: follow up within three months",
            "informational",
            10,
        ),
        _r(
            "QUAL-04",
            WARNING,
            "Borgerens inddragelse fremgår ikke",
            "Nothing records the citizen's involvement",
            "informational",
            11,
        ),
        _r(
            "QUAL-05",
            WARNING,
            "Borgeren er uenig i målet, men faglig begrundelse mangler",
            "Citizen disagrees, no professional justification",
            "informational",
            14,
        ),
        _r(
            "QUAL-06",
            WARNING,
            "Indsatsmål uden succeskriterium",
            "Goal without success criterion",
            "informational",
            4,
        ),
        _r(
            "QUAL-07",
            INFORMATION,
            "Indsatsmål uden forventet tidspunkt for opfyldelse",
            "Goal without expected achievement date",
            "informational",
            8,
        ),
    )
}


def finding(rule_id: str, location: str, message: str, message_en: str) -> Finding:
    """A finding of rule ``rule_id``; severity and recommendation come from the catalogue."""
    rule = RULES[rule_id]
    return Finding(rule_id, rule.severity, location, message, message_en, rule.recommendation)


def check_plan(plan: Plan, snapshot) -> list[Finding]:
    """Run every rule on ``plan`` against the snapshot's vocabulary and value sets.

    Findings come in a stable order: by severity, then as the checks met them.
    """
    from termserver.plans import quality, structure, terminology

    term = terminology.for_snapshot(snapshot)
    out: list[Finding] = []
    term.check_plan(plan, out)
    structure.check(plan, term, out)
    quality.check(plan, term, out)
    out.sort(key=lambda f: SEVERITY_ORDER[f.severity])
    return out
