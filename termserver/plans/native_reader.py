"""The native "Borgerens Plan" document (JSON or YAML) → the plan model.

The document's shape is declared once in :mod:`termserver.plans.native_schema` (published as
``schemas/borgerens-plan.schema.json``); this module checks a parsed document against it and
builds the model. Links inside the document are ids (a goal's ``addresses[].condition``, a
delmål's ``basedOn``); an id that names nothing is reported, never guessed.
"""

from __future__ import annotations

from typing import Any

from termserver.plans import native_schema
from termserver.plans.codes import (
    CARE_SOCIAL,
    FFB,
    GOAL_KIND_CODES,
    SUPPORT_NEED_EVALUATION,
)
from termserver.plans.model import (
    CITIZEN_WISH,
    FFB_GOAL,
    NATIVE,
    OTHER_GOAL,
    PURPOSE,
    SUBGOAL,
    Coded,
    Coding,
    Condition,
    Evaluation,
    Goal,
    Intervention,
    Offer,
    Plan,
    Problem,
    Reference,
    TargetGroup,
)
from termserver.plans.references import find_cycles

_KINDS = {
    "purpose": PURPOSE,
    "ffb-goal": FFB_GOAL,
    "subgoal": SUBGOAL,
    "citizen-wish": CITIZEN_WISH,
}


def read_native(doc: Any, source: str = "<input>") -> Plan:
    """Build the plan model from a parsed native document (modified in place while checking)."""
    plan = Plan(source=source, format=NATIVE, location="$")
    checked = native_schema.check(doc, plan.problems)
    if checked is None:
        return plan
    d = checked
    plan.id = d.get("id")
    plan.status = d.get("status")
    plan.intent = d.get("intent")
    plan.category = _coded(d.get("category"), "$.category", CARE_SOCIAL)
    plan.created = d.get("created")
    period = d.get("period") or {}
    plan.period_start = period.get("start")
    plan.period_end = period.get("end")
    plan.expected_duration = d.get("expectedDuration")
    plan.follow_up_date = d.get("followUpDate")
    plan.follow_up_location = "$.followUpDate"
    plan.case_number = d.get("caseNumber")
    plan.replaces = d.get("replaces")
    plan.complex_case = d.get("complexCase")
    citizen = d.get("citizen") or {}
    plan.citizen_involvement = citizen.get("involvement")
    plan.citizen_comments = citizen.get("comments")

    ids: dict[str, str] = {}  # id -> kind of element ("Condition", "Goal", ...)

    def register(kind: str, item: dict, where: str) -> str:
        key = item["id"]
        if key in ids:
            plan.problems.append(
                Problem(
                    "format",
                    f"{where}.id",
                    f"id'et {key!r} er brugt mere end én gang",
                    f"id {key!r} is used more than once",
                )
            )
        ids.setdefault(key, kind)
        return key

    for i, tg in _items(d, "targetGroups"):
        where = f"$.targetGroups[{i}]"
        plan.target_groups.append(
            TargetGroup(
                key=register("TargetGroup", tg, where),
                location=where,
                code=_coded(tg.get("code"), f"{where}.code", FFB),
                rank=tg.get("rank"),
                rank_location=f"{where}.rank",
            )
        )
    for i, c in _items(d, "conditions"):
        where = f"$.conditions[{i}]"
        plan.conditions.append(
            Condition(
                key=register("Condition", c, where),
                location=where,
                code=_coded(c.get("code"), f"{where}.code", FFB),
                severity=_coded(c.get("severity"), f"{where}.severity", FFB),
            )
        )
    need = d.get("supportNeed")
    if need is not None and "level" in need:
        plan.evaluations.append(
            Evaluation(
                key="supportNeed",
                location="$.supportNeed",
                code=Coded(
                    (Coding(CARE_SOCIAL, SUPPORT_NEED_EVALUATION, None, None, "$.supportNeed"),),
                    "$.supportNeed",
                ),
                value=_coded(need.get("level"), "$.supportNeed.level", FFB),
                date=need.get("date"),
            )
        )
    for i, g in _items(d, "goals"):
        where = f"$.goals[{i}]"
        kind = _KINDS.get(g.get("kind", ""), OTHER_GOAL)
        goal = Goal(
            key=register("Goal", g, where),
            location=where,
            kind=kind,
            category=_kind_category(kind, f"{where}.kind"),
            text=g.get("text"),
            goal_type=_coded(g.get("goalType"), f"{where}.goalType", FFB),
            expected_level=_coded(g.get("expectedLevel"), f"{where}.expectedLevel", FFB),
            due_date=g.get("dueDate"),
            success_criterion=g.get("successCriterion"),
            citizen_agreement=g.get("citizenAgreement"),
            justification=g.get("justification"),
        )
        for j, a in enumerate(g.get("addresses") or ()):
            if a is None or "condition" not in a:
                continue  # dropped by the schema check, or its required id is already reported
            goal.addresses.append(
                Reference(
                    raw=a["condition"],
                    location=f"{where}.addresses[{j}].condition",
                    expected="Condition",
                    rank=a.get("rank"),
                    rank_location=f"{where}.addresses[{j}].rank",
                )
            )
        if "basedOn" in g:
            goal.based_on.append(Reference(g["basedOn"], f"{where}.basedOn", "Goal"))
        plan.goals.append(goal)
    for i, it in _items(d, "interventions"):
        where = f"$.interventions[{i}]"
        iv = Intervention(
            key=register("Intervention", it, where),
            location=where,
            code=_coded(it.get("code"), f"{where}.code", FFB),
        )
        for j, ref in enumerate(it.get("conditions") or ()):
            if ref is not None:
                iv.reasons.append(Reference(ref, f"{where}.conditions[{j}]", "Condition"))
        for j, ref in enumerate(it.get("goals") or ()):
            if ref is not None:
                iv.goals.append(Reference(ref, f"{where}.goals[{j}]", "Goal"))
        plan.interventions.append(iv)
    for i, o in _items(d, "offers"):
        where = f"$.offers[{i}]"
        plan.offers.append(
            Offer(
                key=register("Offer", o, where),
                location=where,
                category=_coded(o.get("code"), f"{where}.code", FFB),
                provider=o.get("provider"),
            )
        )
    _resolve(plan, ids)
    return plan


def _items(d: dict, key: str) -> list[tuple[int, dict]]:
    # Items the schema check dropped are None; ids are required, so an item without one is gone.
    return [(i, x) for i, x in enumerate(d.get(key) or ()) if x is not None and "id" in x]


def _coded(value: dict | None, where: str, default_system: str) -> Coded | None:
    if value is None or "code" not in value:
        return None
    coding = Coding(
        value.get("system", default_system),
        value["code"],
        value.get("version"),
        value.get("display"),
        where,
    )
    return Coded((coding,), where)


def _kind_category(kind: str, where: str) -> Coded | None:
    code = GOAL_KIND_CODES.get(kind)
    if code is None:
        return None
    return Coded((Coding(CARE_SOCIAL, code, None, None, where),), where)


def _resolve(plan: Plan, ids: dict[str, str]) -> None:
    refs: list[Reference] = []
    for g in plan.goals:
        refs.extend(g.addresses)
        refs.extend(g.based_on)
    for iv in plan.interventions:
        refs.extend(iv.reasons)
        refs.extend(iv.goals)
    for ref in refs:
        found = ids.get(ref.raw)
        ref.found = found
        if found == ref.expected:
            ref.target = ref.raw
    edges = {g.key: g.based_on for g in plan.goals}
    plan.problems.extend(find_cycles(edges, "basedOn"))
