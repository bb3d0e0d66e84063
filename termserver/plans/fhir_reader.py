"""A FHIR R4 Bundle following KL's information model (FKI) and FFB reporting → the plan model.

The plan is the CarePlan without ``basedOn``; CarePlans based on it are its PlannedInterventions.
Every Goal and Condition in the Bundle belongs to the plan; Conditions the CarePlan ``addresses``
are its target groups (FocusCondition), the others its tilstande. References resolve inside the
Bundle only, by ``fullUrl`` or by ``Type/id``; one that resolves to nothing is kept unresolved for
the rules to report, and links are followed one step at a time (cycles are found separately), so
no Bundle can make the reader loop.

Extensions are matched on the last segment of their URL (``.../ConditionRank``), because KL's
canonical base changed between IG releases while the names stayed.
"""

from __future__ import annotations

from typing import Any

from termserver.plans.codes import (
    CARE_SOCIAL,
    INFORMER_CASEWORKER,
    INFORMER_CITIZEN_CODES,
    KIND_OF_GOAL_CODE,
    MEASURE_GOAL_TYPE,
    MEASURE_LEVEL,
)
from termserver.plans.inputs import PlanInputError
from termserver.plans.model import (
    FHIR,
    OTHER_GOAL,
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

MAX_ENTRIES = 2000


class _Bundle:
    """The Bundle's entries, indexed for reference resolution."""

    def __init__(self, doc: dict, source: str, problems: list[Problem]) -> None:
        self.problems = problems
        entries = doc.get("entry", [])
        if not isinstance(entries, list):
            problems.append(_format("Bundle.entry", "skal være en liste", "must be an array"))
            entries = []
        if len(entries) > MAX_ENTRIES:
            raise PlanInputError(
                source,
                "Bundle.entry",
                f"Bundle har {len(entries):,} ressourcer; højst {MAX_ENTRIES:,} er tilladt "
                f"(too many resources)",
                status=413,
            )
        self.resources: list[tuple[str, dict, str]] = []  # (path, resource, key)
        self.by_url: dict[str, int] = {}
        by_url = self.by_url
        for i, entry in enumerate(entries):
            res = entry.get("resource") if type(entry) is dict else None
            rt = res.get("resourceType") if type(res) is dict else None
            if type(rt) is not str:
                problems.append(
                    _format(
                        f"Bundle.entry[{i}].resource",
                        "mangler en ressource med resourceType",
                        "has no resource with a resourceType",
                    )
                )
                continue
            rid = res.get("id")
            local = f"{rt}/{rid}" if rid and type(rid) is str else None
            full = entry.get("fullUrl")
            if type(full) is not str:
                full = None
            n = len(self.resources)
            self.resources.append(
                (f"Bundle.entry[{i}].resource", res, local or full or f"Bundle.entry[{i}]")
            )
            for url in (full, local):
                if not url:
                    continue
                seen = by_url.get(url)
                if seen is None:
                    by_url[url] = n
                elif seen != n:
                    problems.append(
                        _format(
                            f"Bundle.entry[{i}]",
                            f"{url} findes mere end én gang i Bundle",
                            f"{url} occurs more than once in the Bundle",
                        )
                    )

    def resolve(self, ref: Reference) -> dict | None:
        """Point ``ref`` at its resource (sets ``target``/``found``); the resource or None."""
        n = self.by_url.get(ref.raw)
        if n is None and "/" in ref.raw and not ref.raw.startswith("urn:"):
            n = self.by_url.get("/".join(ref.raw.rstrip("/").split("/")[-2:]))
        if n is None:
            return None
        _, res, key = self.resources[n]
        ref.found = res["resourceType"]
        if ref.found == ref.expected:
            ref.target = key
        return res


def read_fhir(doc: dict, source: str = "<input>") -> Plan:
    """Build the plan model from a parsed FHIR Bundle (``resourceType`` already checked)."""
    plan = Plan(source=source, format=FHIR, location="Bundle")
    bundle = _Bundle(doc, source, plan.problems)
    careplans = [(p, r, k) for p, r, k in bundle.resources if r["resourceType"] == "CarePlan"]
    main = [(p, r, k) for p, r, k in careplans if not r.get("basedOn")]
    if len(main) != 1:
        plan.problems.append(_no_plan(len(main), careplans))
    if main:
        path, res, key = main[0]
        plan.location = path
        plan.id = key
        _read_careplan(plan, bundle, path, res)
    target_keys = {r.target for r in plan.target_group_refs if r.target}
    for path, res, key in bundle.resources:
        rt = res["resourceType"]
        if rt == "Goal":
            plan.goals.append(_read_goal(plan, path, res, key))
        elif rt == "Condition":
            if key in target_keys or _target_group_profile(res):
                plan.target_groups.append(_read_target_group(plan, path, res, key))
            else:
                plan.conditions.append(
                    Condition(
                        key=key,
                        location=path,
                        code=_codeable(res.get("code"), f"{path}.code", plan.problems),
                        severity=_codeable(res.get("severity"), f"{path}.severity", plan.problems),
                    )
                )
            _notes(plan, res, path)
        elif rt == "CarePlan" and res.get("basedOn"):
            plan.interventions.append(_read_intervention(plan, path, res, key))
    # Resolve every link now that all elements exist.
    for ref in _all_refs(plan):
        bundle.resolve(ref)
    _ranks_from_plan(plan)
    goal_edges = {g.key: g.based_on for g in plan.goals}
    plan.problems.extend(find_cycles(goal_edges, "goal-relationship"))
    plan_edges = {k: _based_on_refs(r, p) for p, r, k in careplans}
    for key, refs in plan_edges.items():
        for ref in refs:
            bundle.resolve(ref)
        if key != plan.id:
            plan.other_refs.extend(refs)  # a PlannedIntervention's basedOn must resolve
    plan.problems.extend(find_cycles(plan_edges, "CarePlan.basedOn"))
    return plan


def _no_plan(found: int, careplans: list) -> Problem:
    if found == 0 and careplans:
        return Problem(
            "no-plan",
            "Bundle.entry",
            "Bundle har ingen CarePlan uden basedOn (selve planen); alle er ydelser",
            "the Bundle has no CarePlan without basedOn (the plan itself)",
        )
    if found == 0:
        return Problem(
            "no-plan", "Bundle.entry", "Bundle indeholder ingen CarePlan", "no CarePlan in Bundle"
        )
    return Problem(
        "no-plan",
        "Bundle.entry",
        f"Bundle indeholder {found} planer (CarePlan uden basedOn); der må kun være én",
        f"the Bundle holds {found} plans (CarePlans without basedOn); only one is allowed",
    )


def _read_careplan(plan: Plan, bundle: _Bundle, path: str, res: dict) -> None:
    problems = plan.problems
    plan.status = _str(res, "status", path, problems)
    plan.intent = _str(res, "intent", path, problems)
    cats = _list(res, "category", path, problems)
    if cats:
        plan.category = _codeable(cats[0], f"{path}.category[0]", problems)
    plan.created = _str(res, "created", path, problems)
    period = res.get("period")
    if isinstance(period, dict):
        plan.period_start = _str(period, "start", f"{path}.period", problems)
        plan.period_end = _str(period, "end", f"{path}.period", problems)
    for i, ext in enumerate(_list(res, "extension", path, problems)):
        name = _ext_name(ext)
        where = f"{path}.extension[{i}]"
        if name == "municipalitycasenumber":
            plan.case_number = _first_value(ext)
        elif name == "followupencounter":
            _follow_up(plan, bundle, ext, where)
        elif name == "relevanthistory":
            plan.replaces = plan.replaces or "relevantHistory"
    for ref in _list(res, "replaces", path, problems):
        if isinstance(ref, dict) and isinstance(ref.get("reference"), str):
            plan.replaces = ref["reference"]
    subject = (
        (res.get("subject") or {}).get("reference")
        if isinstance(res.get("subject"), dict)
        else None
    )
    for c in _list(res, "contributor", path, problems):
        ref = c.get("reference") if isinstance(c, dict) else None
        if ref and type(ref) is str and (ref == subject or ref.split("/")[-2:-1] == ["Patient"]):
            plan.citizen_is_contributor = True
    for text, informer in _notes(plan, res, path):
        if informer in INFORMER_CITIZEN_CODES:
            plan.citizen_comments = text
    for i, g in enumerate(_list(res, "goal", path, problems)):
        ref = _ref(g, f"{path}.goal[{i}]", "Goal", problems)
        if ref:
            plan.goal_refs.append(ref)
    for i, a in enumerate(_list(res, "addresses", path, problems)):
        where = f"{path}.addresses[{i}]"
        ref = _ref(a, where, "Condition", problems)
        if ref:
            ref.rank, ref.rank_location = _rank(a, where, problems)
            plan.target_group_refs.append(ref)
            bundle.resolve(ref)
    for i, ct in enumerate(_list(res, "careTeam", path, problems)):
        ref = _ref(ct, f"{path}.careTeam[{i}]", "CareTeam", problems)
        if ref is None:
            continue
        plan.other_refs.append(ref)
        team = bundle.resolve(ref)
        if team is not None and ref.target:
            tpath = bundle.resources[bundle.by_url[ref.target]][0]
            _read_care_team(plan, tpath, team, ref.target)
    for i, act in enumerate(_list(res, "activity", path, problems)):
        if not isinstance(act, dict):
            continue
        for j, o in enumerate(_list(act, "outcomeReference", f"{path}.activity[{i}]", problems)):
            ref = _ref(o, f"{path}.activity[{i}].outcomeReference[{j}]", "Observation", problems)
            if ref is None:
                continue
            plan.other_refs.append(ref)
            obs = bundle.resolve(ref)
            if obs is not None and ref.target:
                opath = bundle.resources[bundle.by_url[ref.target]][0]
                plan.evaluations.append(_read_evaluation(plan, opath, obs, ref.target))


def _follow_up(plan: Plan, bundle: _Bundle, ext: dict, where: str) -> None:
    for key in ("valueDate", "valueDateTime"):
        if isinstance(ext.get(key), str):
            plan.follow_up_date = ext[key][:10]
            plan.follow_up_location = f"{where}.{key}"
            return
    ref = _ref(ext.get("valueReference"), f"{where}.valueReference", "Encounter", plan.problems)
    if ref is None:
        return
    plan.other_refs.append(ref)
    enc = bundle.resolve(ref)
    period = enc.get("period") if isinstance(enc, dict) else None
    if isinstance(period, dict) and isinstance(period.get("start"), str):
        plan.follow_up_date = period["start"][:10]
        plan.follow_up_location = f"{where}.valueReference"


def _target_group_profile(res: dict) -> bool:
    """Does the Condition claim KL's FocusCondition (målgruppe) profile?"""
    meta = res.get("meta")
    profiles = meta.get("profile") if type(meta) is dict else None
    if type(profiles) is not list:
        return False
    profile = " ".join(str(p) for p in profiles)
    return "FocusCondition" in profile or "TargetGroup" in profile


def _read_goal(plan: Plan, path: str, res: dict, key: str) -> Goal:
    problems = plan.problems
    cats = _list(res, "category", path, problems)
    category = _codeable(cats[0], f"{path}.category[0]", problems) if cats else None
    kind = OTHER_GOAL
    if category:
        for c in category.codings:
            if c.system == CARE_SOCIAL and c.code in KIND_OF_GOAL_CODE:
                kind = KIND_OF_GOAL_CODE[c.code]
    desc = res.get("description")
    goal = Goal(
        key=key,
        location=path,
        kind=kind,
        category=category,
        text=desc.get("text") if isinstance(desc, dict) else None,
    )
    for i, t in enumerate(_list(res, "target", path, problems)):
        if not isinstance(t, dict):
            continue
        where = f"{path}.target[{i}]"
        if isinstance(t.get("dueDate"), str):
            goal.due_date = t["dueDate"]
        measure = _codeable(t.get("measure"), f"{where}.measure", problems)
        detail = _codeable(
            t.get("detailCodeableConcept"), f"{where}.detailCodeableConcept", problems
        )
        if measure:
            if any(c.code == MEASURE_LEVEL for c in measure.codings):
                goal.expected_level = detail
            elif any(c.code == MEASURE_GOAL_TYPE for c in measure.codings):
                goal.goal_type = detail
    for i, a in enumerate(_list(res, "addresses", path, problems)):
        where = f"{path}.addresses[{i}]"
        ref = _ref(a, where, "Condition", problems)
        if ref:
            ref.rank, ref.rank_location = _rank(a, where, problems)
            goal.addresses.append(ref)
    for i, ext in enumerate(_list(res, "extension", path, problems)):
        name = _ext_name(ext)
        where = f"{path}.extension[{i}]"
        if name in ("goal-relationship", "goalrelationship"):
            for j, sub in enumerate(_list(ext, "extension", where, problems)):
                if isinstance(sub, dict) and sub.get("url") == "target":
                    ref = _ref(
                        sub.get("valueReference"),
                        f"{where}.extension[{j}].valueReference",
                        "Goal",
                        problems,
                    )
                    if ref:
                        goal.based_on.append(ref)
        elif name == "goal-acceptance":
            for sub in _list(ext, "extension", where, problems):
                if isinstance(sub, dict) and sub.get("url") == "status":
                    goal.citizen_agreement = sub.get("valueCode")
    for text, informer in _notes(plan, res, path):
        if informer == INFORMER_CASEWORKER:
            goal.justification = text
    return goal


def _read_target_group(plan: Plan, path: str, res: dict, key: str) -> TargetGroup:
    return TargetGroup(
        key=key,
        location=path,
        code=_codeable(res.get("code"), f"{path}.code", plan.problems),
    )


def _ranks_from_plan(plan: Plan) -> None:
    """A target group's rank lives on the CarePlan's ``addresses`` link, not on the Condition."""
    by_key = {tg.key: tg for tg in plan.target_groups}
    for ref in plan.target_group_refs:
        tg = by_key.get(ref.target or "")
        if tg is not None and tg.rank is None:
            tg.rank = ref.rank
            tg.rank_location = ref.rank_location or ref.location


def _read_evaluation(plan: Plan, path: str, res: dict, key: str) -> Evaluation:
    eff = res.get("effectiveDateTime")
    return Evaluation(
        key=key,
        location=path,
        code=_codeable(res.get("code"), f"{path}.code", plan.problems),
        value=_codeable(
            res.get("valueCodeableConcept"), f"{path}.valueCodeableConcept", plan.problems
        ),
        date=eff if isinstance(eff, str) else None,
    )


def _read_intervention(plan: Plan, path: str, res: dict, key: str) -> Intervention:
    problems = plan.problems
    iv = Intervention(key=key, location=path, code=None)
    acts = _list(res, "activity", path, problems)
    detail = acts[0].get("detail") if acts and isinstance(acts[0], dict) else None
    if isinstance(detail, dict):
        where = f"{path}.activity[0].detail"
        iv.code = _codeable(detail.get("code"), f"{where}.code", problems)
        for i, r in enumerate(_list(detail, "reasonReference", where, problems)):
            ref = _ref(r, f"{where}.reasonReference[{i}]", "Condition", problems)
            if ref:
                iv.reasons.append(ref)
        for i, g in enumerate(_list(detail, "goal", where, problems)):
            ref = _ref(g, f"{where}.goal[{i}]", "Goal", problems)
            if ref:
                iv.goals.append(ref)
    return iv


def _read_care_team(plan: Plan, path: str, res: dict, key: str) -> None:
    cats = _list(res, "category", path, plan.problems)
    parts = res.get("participant")
    provider = None
    if isinstance(parts, list) and parts and isinstance(parts[0], dict):
        member = parts[0].get("member")
        provider = member.get("display") if isinstance(member, dict) else None
    plan.offers.append(
        Offer(
            key=key,
            location=path,
            category=_codeable(cats[0], f"{path}.category[0]", plan.problems) if cats else None,
            provider=provider or res.get("name"),
        )
    )


def _based_on_refs(res: dict, path: str) -> list[Reference]:
    out = []
    based = res.get("basedOn")
    if isinstance(based, list):
        for i, b in enumerate(based):
            if isinstance(b, dict) and isinstance(b.get("reference"), str):
                out.append(Reference(b["reference"], f"{path}.basedOn[{i}]", "CarePlan"))
    return out


def _all_refs(plan: Plan) -> list[Reference]:
    out: list[Reference] = list(plan.goal_refs)
    for g in plan.goals:
        out.extend(g.addresses)
        out.extend(g.based_on)
    for iv in plan.interventions:
        out.extend(iv.reasons)
        out.extend(iv.goals)
    return out


def _notes(plan: Plan, res: dict, path: str) -> list[tuple[str, str | None]]:
    """(text, informer code) of each note; informer codings are kept for terminology checks."""
    out: list[tuple[str, str | None]] = []
    if "note" not in res:  # most resources carry no notes; skip the setup
        return out
    for i, note in enumerate(_list(res, "note", path, plan.problems)):
        if not isinstance(note, dict) or not isinstance(note.get("text"), str):
            continue
        informer = None
        author = note.get("authorReference")
        if isinstance(author, dict) and str(author.get("reference", "")).startswith("Practitioner"):
            informer = INFORMER_CASEWORKER
        for j, ext in enumerate(_list(note, "extension", f"{path}.note[{i}]", plan.problems)):
            if _ext_name(ext) == "matterofinterestinformer":
                where = f"{path}.note[{i}].extension[{j}].valueCodeableConcept"
                coded = _codeable(ext.get("valueCodeableConcept"), where, plan.problems)
                if coded:
                    plan.informers.append(coded)
                    informer = next((c.code for c in coded.codings if c.code), informer)
        out.append((note["text"], informer))
    return out


# --- small readers that never raise --------------------------------------------------------


def _format(where: str, da: str, en: str) -> Problem:
    return Problem("format", where, da, en)


def _str(obj: dict, key: str, path: str, problems: list[Problem]) -> str | None:
    value = obj.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        problems.append(_format(f"{path}.{key}", "skal være en tekst", "must be a string"))
        return None
    return value


def _list(obj: Any, key: str, path: str, problems: list[Problem]) -> list:
    value = obj.get(key) if type(obj) is dict else None
    if value is None or type(value) is list:
        return value or []
    problems.append(_format(f"{path}.{key}", "skal være en liste", "must be an array"))
    return []


def _codeable(value: Any, where: str, problems: list[Problem]) -> Coded | None:
    if value is None:
        return None
    if type(value) is not dict:
        problems.append(_format(where, "skal være et CodeableConcept", "must be a CodeableConcept"))
        return None
    codings = []
    raw = value.get("coding")
    if raw is not None and type(raw) is not list:
        problems.append(_format(f"{where}.coding", "skal være en liste", "must be an array"))
        raw = None
    if raw:
        for i, c in enumerate(raw):
            if type(c) is dict:
                get = c.get
                system, code, version, display = (
                    get("system"),
                    get("code"),
                    get("version"),
                    get("display"),
                )
                # Nearly every coding is well formed; only a bad one pays for the field-by-field
                # check (this function runs ~70 times per plan and was the reader's hottest).
                if (
                    (system is None or type(system) is str)
                    and (code is None or type(code) is str)
                    and (version is None or type(version) is str)
                    and (display is None or type(display) is str)
                ):
                    codings.append(Coding(system, code, version, display, where, i))
                else:
                    codings.append(_checked_coding(c, f"{where}.coding[{i}]", problems))
            else:
                problems.append(
                    _format(f"{where}.coding[{i}]", "skal være en Coding", "must be a Coding")
                )
    text = value.get("text")
    return Coded(tuple(codings), where, text if type(text) is str else None)


def _checked_coding(c: dict, where: str, problems: list[Problem]) -> Coding:
    """A Coding whose non-string fields are reported and dropped."""
    fields: list[Any] = [c.get(name) for name in _CODING_FIELDS]
    for k, v in enumerate(fields):
        if v is not None and type(v) is not str:
            problems.append(
                _format(f"{where}.{_CODING_FIELDS[k]}", "skal være en tekst", "must be a string")
            )
            fields[k] = None
    return Coding(*fields, where)


_CODING_FIELDS = ("system", "code", "version", "display")


def _ref(value: Any, where: str, expected: str, problems: list[Problem]) -> Reference | None:
    if type(value) is not dict:
        problems.append(_format(where, "skal være en Reference", "must be a Reference"))
        return None
    raw = value.get("reference")
    if not raw or type(raw) is not str:
        # A reference by identifier or display only cannot be followed inside the Bundle.
        return Reference("", where, expected)
    return Reference(raw, f"{where}.reference", expected)


def _rank(link: Any, where: str, problems: list[Problem]) -> tuple[int | None, str | None]:
    if not isinstance(link, dict):
        return None, None
    for i, ext in enumerate(_list(link, "extension", where, problems)):
        if _ext_name(ext) == "conditionrank":
            value = ext.get("valuePositiveInt")
            if isinstance(value, int) and not isinstance(value, bool):
                return value, f"{where}.extension[{i}].valuePositiveInt"
            return None, f"{where}.extension[{i}]"
    return None, None


def _ext_name(ext: Any) -> str:
    if not isinstance(ext, dict) or not isinstance(ext.get("url"), str):
        return ""
    return ext["url"].rstrip("/").rsplit("/", 1)[-1].lower()


def _first_value(ext: dict) -> str | None:
    """The first string-like value in an extension or its nested extensions."""
    stack = [ext]
    seen = 0
    while stack and seen < 32:
        seen += 1
        e = stack.pop(0)
        if not isinstance(e, dict):
            continue
        for k, v in e.items():
            if k.startswith("value"):
                if isinstance(v, str):
                    return v
                if isinstance(v, dict) and isinstance(v.get("value"), str):
                    return v["value"]
        stack.extend(e.get("extension") or ())
    return None
