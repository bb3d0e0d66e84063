"""Structure rules (STRUCT-…): KL's information model (FKI) and the FFB reporting rules
(hl7dk/kl-ffb-reporting) as they apply to one plan.

Where a code cannot be judged (unknown code, unknown system) the rule that depends on its
meaning stays silent: the TERM finding already says what is wrong, and one mistake should give
one finding.
"""

from __future__ import annotations

from termserver.plans import codes
from termserver.plans.model import FFB_GOAL, PURPOSE, SUBGOAL, Plan
from termserver.plans.references import references
from termserver.plans.rules import Finding, finding
from termserver.plans.terminology import Terminology


def check(plan: Plan, term: Terminology, out: list[Finding]) -> None:
    """Append every STRUCT finding for ``plan``."""
    has_plan = True
    for p in plan.problems:
        if p.kind == "format":
            out.append(finding("STRUCT-016", p.location, p.detail, p.detail_en))
        elif p.kind == "cycle":
            out.append(finding("STRUCT-014", p.location, p.detail, p.detail_en))
        elif p.kind == "no-plan":
            has_plan = False
            out.append(finding("STRUCT-015", p.location, p.detail, p.detail_en))
    _references(plan, out)
    if has_plan:
        _purpose(plan, out)
        _granted(plan, out)
        _target_groups(plan, out)
    _goals(plan, term, out)
    _conditions(plan, term, out)


def granted(plan: Plan) -> bool:
    """A granted (bevilget) plan: intent order and not completed (FFB reporting invariant)."""
    return plan.intent == "order" and plan.status != "completed"


def _references(plan: Plan, out: list[Finding]) -> None:
    for ref in references(plan):
        if ref.target is not None:
            continue
        if not ref.raw:
            out.append(
                finding(
                    "STRUCT-013",
                    ref.location,
                    f"henvisningen til en {ref.expected} har ingen reference og kan ikke følges",
                    f"the link to a {ref.expected} has no reference and cannot be followed",
                )
            )
        elif ref.found:
            out.append(
                finding(
                    "STRUCT-013",
                    ref.location,
                    f"{ref.raw!r} er en {ref.found}, men her skal stå en {ref.expected}",
                    f"{ref.raw!r} is a {ref.found}, but a {ref.expected} is expected here",
                )
            )
        else:
            out.append(
                finding(
                    "STRUCT-013",
                    ref.location,
                    f"{ref.raw!r} findes ikke i planen (henvisning til en {ref.expected})",
                    f"{ref.raw!r} is not in the plan (link to a {ref.expected})",
                )
            )


def _purpose(plan: Plan, out: list[Finding]) -> None:
    purposes = [g for g in plan.goals if g.kind == PURPOSE]
    if len(purposes) == 1:
        return
    where = purposes[1].location if len(purposes) > 1 else plan.location
    out.append(
        finding(
            "STRUCT-001",
            where,
            f"planen har {len(purposes)} indsatsformål; der skal være præcis ét",
            f"the plan has {len(purposes)} purposes (indsatsformål); exactly one is required",
        )
    )


def _granted(plan: Plan, out: list[Finding]) -> None:
    if not granted(plan):
        return
    if not plan.follow_up_date:
        out.append(
            finding(
                "STRUCT-010",
                plan.location,
                "planen er bevilget (intent order), men har ingen opfølgningsdato",
                "the plan is granted (intent order) but has no follow-up date",
            )
        )
    support = frozenset({codes.SUPPORT_NEED_EVALUATION})
    term_has = any(
        e.code is not None
        and any(c.system == codes.CARE_SOCIAL and c.code in support for c in e.code.codings)
        for e in plan.evaluations
    )
    if not term_has:
        out.append(
            finding(
                "STRUCT-011",
                plan.location,
                "planen er bevilget, men har ingen FFB støttebehovsvurdering",
                "the plan is granted but has no FFB need-of-support assessment",
            )
        )
    if not plan.target_groups and not plan.target_group_refs:
        out.append(
            finding(
                "STRUCT-012",
                plan.location,
                "planen er bevilget, men angiver ingen målgruppe",
                "the plan is granted but names no target group",
            )
        )


def _target_groups(plan: Plan, out: list[Finding]) -> None:
    groups = plan.target_groups
    if not groups:
        return
    for tg in groups:
        if tg.rank is None:
            out.append(
                finding(
                    "STRUCT-007",
                    tg.rank_location or tg.location,
                    "målgruppen mangler rang (1 = primær, 2 = sekundær)",
                    "the target group has no rank (1 = primary, 2 = secondary)",
                )
            )
        elif tg.rank not in (1, 2):
            out.append(
                finding(
                    "STRUCT-007",
                    tg.rank_location or tg.location,
                    f"målgruppens rang er {tg.rank}; kun 1 (primær) og 2 (sekundær) er tilladt",
                    f"target group rank is {tg.rank}; only 1 and 2 are allowed",
                )
            )
    primary = [tg for tg in groups if tg.rank == 1]
    if len(primary) != 1:
        where = primary[1].rank_location if len(primary) > 1 else plan.location
        out.append(
            finding(
                "STRUCT-007",
                where or plan.location,
                f"planen har {len(primary)} primære målgrupper (rang 1); der skal være præcis én",
                f"the plan has {len(primary)} primary target groups; exactly one is required",
            )
        )


def _goals(plan: Plan, term: Terminology, out: list[Finding]) -> None:
    group_keys = {tg.key for tg in plan.target_groups}
    for g in plan.goals:
        if g.kind == FFB_GOAL:
            if g.goal_type is None:
                out.append(
                    finding(
                        "STRUCT-002",
                        g.location,
                        "indsatsmålet har ingen måltype (udvikle, fastholde, begrænse tab)",
                        "the FFB goal has no goal type (måltype)",
                    )
                )
            if g.expected_level is None:
                out.append(
                    finding(
                        "STRUCT-003",
                        g.location,
                        "indsatsmålet har intet forventet funktionsevneniveau",
                        "the FFB goal has no expected functioning level",
                    )
                )
            _addresses(plan, g, term, group_keys, out)
        elif g.kind == SUBGOAL:
            if any(r.target is None for r in g.based_on):
                continue  # the dangling link is reported by STRUCT-013
            bases = [plan.goal(r.target) for r in g.based_on]
            if not any(b is not None and b.kind == FFB_GOAL for b in bases):
                out.append(
                    finding(
                        "STRUCT-006",
                        g.location,
                        "delmålet bygger ikke på et FFB indsatsmål (goal-relationship / basedOn)",
                        "the sub-goal is not based on an FFB goal",
                    )
                )


def _addresses(plan, g, term: Terminology, group_keys: set[str], out: list[Finding]) -> None:
    rank1 = 0
    for a in g.addresses:
        if a.rank == 1:
            rank1 += 1
        elif a.rank is not None and a.rank != 2:
            out.append(
                finding(
                    "STRUCT-005",
                    a.rank_location or a.location,
                    f"rang {a.rank} er ikke tilladt; brug 1 (måltilstand) eller 2",
                    f"rank {a.rank} is not allowed; use 1 (primary condition) or 2",
                )
            )
        if a.target is None:
            continue
        if a.target in group_keys:
            out.append(
                finding(
                    "STRUCT-004",
                    a.location,
                    f"indsatsmålet peger på målgruppen {a.target}, ikke på en tilstand",
                    f"the FFB goal addresses target group {a.target}, not a condition",
                )
            )
            continue
        cond = plan.condition(a.target)
        if cond is not None and term.is_member(cond.code, codes.VS_CONDITIONS_AD) is False:
            display = _display(cond.code)
            out.append(
                finding(
                    "STRUCT-004",
                    a.location,
                    f"indsatsmålet handler om {display}, som ikke hører under Aktivitet og "
                    "deltagelse",
                    f"the FFB goal addresses {display}, which is not an A&D condition",
                )
            )
    if rank1 != 1:
        out.append(
            finding(
                "STRUCT-005",
                g.location,
                f"indsatsmålet har {rank1} måltilstande (rang 1); der skal være præcis én",
                f"the FFB goal has {rank1} rank-1 conditions; exactly one is required",
            )
        )


def _conditions(plan: Plan, term: Terminology, out: list[Finding]) -> None:
    for c in plan.conditions:
        ad = term.is_member(c.code, codes.VS_CONDITIONS_AD)
        if ad is None:
            continue
        if ad and c.severity is None:
            out.append(
                finding(
                    "STRUCT-009",
                    c.location,
                    f"{_display(c.code)} hører under Aktivitet og deltagelse og skal have et "
                    "funktionsevneniveau",
                    f"{_display(c.code)} is an A&D condition and needs a severity",
                )
            )
        elif not ad and c.severity is not None:
            out.append(
                finding(
                    "STRUCT-008",
                    c.severity.location,
                    f"{_display(c.code)} hører ikke under Aktivitet og deltagelse og må ikke "
                    "have et funktionsevneniveau",
                    f"{_display(c.code)} is not an A&D condition and must not have a severity",
                )
            )


def _display(coded) -> str:
    if coded is None or not coded.codings:
        return "tilstanden"
    c = coded.codings[0]
    return repr(c.display) if c.display else str(c.code)
