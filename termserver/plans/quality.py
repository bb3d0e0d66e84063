"""Quality rules (QUAL-…): warnings from seed 002, Metodecentret's audit of action plans in
Randers Kommune (*Bedre handleplaner – bedre styring*, 2012). Each finding cites the number of
the recommendation it rests on.
"""

from __future__ import annotations

from datetime import date

from termserver.plans import codes
from termserver.plans.model import CITIZEN_WISH, FFB_GOAL, NATIVE, Plan
from termserver.plans.rules import Finding, finding
from termserver.plans.structure import granted
from termserver.plans.terminology import Terminology

FOLLOW_UP_MONTHS = 3  # recommendation 10: "senest efter tre måneder"


def check(plan: Plan, term: Terminology, out: list[Finding]) -> None:
    """Append every QUAL finding for ``plan``."""
    if any(p.kind == "no-plan" for p in plan.problems):
        return
    _duration(plan, out)
    _follow_up(plan, term, out)
    _involvement(plan, out)
    for g in plan.goals:
        if g.citizen_agreement == "disagree" and not g.justification:
            out.append(
                finding(
                    "QUAL-05",
                    g.location,
                    "borgeren er ikke enig i målet, og sagsbehandlerens faglige begrundelse for "
                    "alligevel at arbejde med det fremgår ikke (anbefaling 14)",
                    "the citizen disagrees with the goal and no professional justification is "
                    "recorded (recommendation 14)",
                )
            )
        if g.kind != FFB_GOAL:
            continue
        if plan.format == NATIVE and not g.success_criterion:
            out.append(
                finding(
                    "QUAL-06",
                    g.location,
                    "indsatsmålet har intet succeskriterium, så det kan ikke måles, om det er "
                    "nået (anbefaling 4 og 5)",
                    "the FFB goal has no success criterion (recommendations 4 and 5)",
                )
            )
        if not g.due_date:
            out.append(
                finding(
                    "QUAL-07",
                    g.location,
                    "det fremgår ikke, hvornår indsatsmålet forventes opfyldt (anbefaling 8)",
                    "no date by which the FFB goal is expected to be met (recommendation 8)",
                )
            )


def _duration(plan: Plan, out: list[Finding]) -> None:
    if plan.period_end or plan.expected_duration:
        return
    out.append(
        finding(
            "QUAL-01",
            plan.location,
            "planen angiver hverken indsatsens forventede varighed eller slutdato (anbefaling 9)",
            "the plan gives neither an expected duration nor an end date (recommendation 9)",
        )
    )


def _follow_up(plan: Plan, term: Terminology, out: list[Finding]) -> None:
    if not plan.follow_up_date:
        if not granted(plan):  # a granted plan without one is an error (STRUCT-010)
            out.append(
                finding(
                    "QUAL-02",
                    plan.location,
                    "planen har ingen dato for opfølgning (anbefaling 10)",
                    "the plan has no follow-up date (recommendation 10)",
                )
            )
        return
    new = plan.replaces is None
    complex_case = bool(plan.complex_case) or any(
        term.has_code(e.value, codes.FFB, codes.HIGH_SUPPORT_NEED) for e in plan.evaluations
    )
    if not (new or complex_case):
        return
    start = _date(plan.period_start) or _date(plan.created)
    follow = _date(plan.follow_up_date)
    if start is None or follow is None:
        return
    limit = _add_months(start, FOLLOW_UP_MONTHS)
    if follow > limit:
        why = "ny og kompleks" if new and complex_case else ("ny" if new else "kompleks")
        why_en = "new and complex" if new and complex_case else ("new" if new else "complex")
        out.append(
            finding(
                "QUAL-03",
                plan.follow_up_location or plan.location,
                f"sagen er {why}, men opfølgningen {follow.isoformat()} ligger mere end tre "
                f"måneder efter start {start.isoformat()}; følg op senest {limit.isoformat()} "
                "(anbefaling 10)",
                f"the case is {why_en}, but follow-up {follow.isoformat()} is more than three "
                f"months after start {start.isoformat()} (recommendation 10)",
            )
        )


def _involvement(plan: Plan, out: list[Finding]) -> None:
    if (
        plan.citizen_involvement
        or plan.citizen_comments
        or plan.citizen_is_contributor
        or any(g.kind == CITIZEN_WISH for g in plan.goals)
    ):
        return
    out.append(
        finding(
            "QUAL-04",
            plan.location,
            "det fremgår ikke, at borgeren har været inddraget i planen: ingen borgers mål og "
            "ønsker, bemærkninger eller beskrivelse af inddragelsen (anbefaling 11)",
            "nothing records the citizen's involvement in the plan (recommendation 11)",
        )
    )


def _date(text: str | None) -> date | None:
    if not text or len(text) < 10:
        return None
    try:
        return date.fromisoformat(text[:10])
    except ValueError:
        return None


def _add_months(d: date, months: int) -> date:
    month = d.month - 1 + months
    year = d.year + month // 12
    month = month % 12 + 1
    for day in (d.day, 30, 29, 28):
        try:
            return date(year, month, day)
        except ValueError:
            continue
    return date(year, month, 28)
