"""The one internal plan model: what a citizen's plan says, whatever format it came in.

Both readers (FHIR Bundle and the native "Borgerens Plan" document) produce these records, and
every rule reads only them. Every element keeps ``location``: where it stands in its source, as a
FHIRPath-like path (``Bundle.entry[3].resource.code.coding[0]``) or a JSON path
(``$.goals[2].code``), so a finding can point at the exact place to fix.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# Goal kinds, from CareSocialCodes "Mål/formål" (KLGoalTypeCodes).
PURPOSE = "purpose"  # Indsatsformål
FFB_GOAL = "ffb-goal"  # FFB indsatsmål
SUBGOAL = "subgoal"  # FFB delmål
CITIZEN_WISH = "citizen-wish"  # FFB borgers mål og ønsker / Borgers ønsker og mål
OTHER_GOAL = "other"  # any other goal type (FSIII tilstandsmål, unknown codes)

FHIR = "fhir"
NATIVE = "native"


@dataclass(slots=True)
class Coding:
    """One coding as written in the plan (nothing checked yet).

    ``where`` is the coding's own location, or with ``index`` ≥ 0 the location of its
    CodeableConcept: a Bundle carries ~70 codings per plan and a valid one needs none of their
    paths, so the FHIR reader leaves ``.coding[i]`` to :attr:`location`, built on demand.
    """

    system: str | None
    code: str | None
    version: str | None
    display: str | None
    where: str
    index: int = -1

    @property
    def location(self) -> str:
        """Where the coding stands (``Bundle.entry[3].resource.code.coding[0]``, ``$.x.code``)."""
        return self.where if self.index < 0 else f"{self.where}.coding[{self.index}]"


@dataclass(slots=True)
class Coded:
    """A coded element (a CodeableConcept): its codings and where the element itself stands."""

    codings: tuple[Coding, ...]
    location: str
    text: str | None = None


@dataclass(slots=True)
class Reference:
    """A link from one element to another, resolved by the reader.

    ``target`` is the key of the element it resolved to (None when dangling); ``expected`` names
    the kind of element the link must point at (Condition, Goal, ...), ``found`` the kind it did.
    """

    raw: str
    location: str
    expected: str
    target: str | None = None
    found: str | None = None
    rank: int | None = None
    rank_location: str | None = None


@dataclass(slots=True)
class Goal:
    """A goal at any level of the goal hierarchy."""

    key: str
    location: str
    kind: str
    category: Coded | None
    text: str | None = None
    goal_type: Coded | None = None  # måltype (changeValueSlice)
    expected_level: Coded | None = None  # expected funktionsevneniveau (severitySlice)
    addresses: list[Reference] = field(default_factory=list)
    based_on: list[Reference] = field(default_factory=list)  # goal relationships
    due_date: str | None = None
    success_criterion: str | None = None
    citizen_agreement: str | None = None  # agree | disagree | pending
    justification: str | None = None


@dataclass(slots=True)
class Condition:
    """A tilstand (FFB condition) with its funktionsevneniveau."""

    key: str
    location: str
    code: Coded | None
    severity: Coded | None = None


@dataclass(slots=True)
class TargetGroup:
    """A målgruppe (FocusCondition), ranked 1 (primary) or 2 (secondary) on the plan."""

    key: str
    location: str
    code: Coded | None
    rank: int | None = None
    rank_location: str | None = None


@dataclass(slots=True)
class Evaluation:
    """An evaluation on the plan, e.g. the FFB støttebehovsvurdering."""

    key: str
    location: str
    code: Coded | None
    value: Coded | None = None
    date: str | None = None


@dataclass(slots=True)
class Intervention:
    """A planned ydelse (PlannedIntervention)."""

    key: str
    location: str
    code: Coded | None
    reasons: list[Reference] = field(default_factory=list)
    goals: list[Reference] = field(default_factory=list)


@dataclass(slots=True)
class Offer:
    """A tilbud delivering the plan (CareTeam / ServicePerformer)."""

    key: str
    location: str
    category: Coded | None
    provider: str | None = None


@dataclass(frozen=True, slots=True)
class Problem:
    """Something a reader found wrong with the shape of the input (wrong type, bad reference,
    reference cycle); the rules turn these into findings."""

    kind: str  # "format" | "dangling" | "cycle" | "no-plan"
    location: str
    detail: str
    detail_en: str


@dataclass(slots=True)
class Plan:
    """A citizen's plan (handleplan / CarePlan for a social indsats)."""

    source: str
    format: str
    location: str
    id: str | None = None
    status: str | None = None  # draft | active | revoked | completed | ...
    intent: str | None = None  # proposal | plan | order (order = bevilget)
    category: Coded | None = None
    created: str | None = None
    period_start: str | None = None
    period_end: str | None = None
    expected_duration: str | None = None
    follow_up_date: str | None = None
    follow_up_location: str | None = None
    case_number: str | None = None
    replaces: str | None = None  # an earlier plan this one revises: then the case is not new
    complex_case: bool | None = None
    citizen_involvement: str | None = None
    citizen_comments: str | None = None
    citizen_is_contributor: bool = False
    goals: list[Goal] = field(default_factory=list)
    goal_refs: list[Reference] = field(default_factory=list)  # CarePlan.goal
    conditions: list[Condition] = field(default_factory=list)
    target_groups: list[TargetGroup] = field(default_factory=list)
    target_group_refs: list[Reference] = field(default_factory=list)  # CarePlan.addresses
    evaluations: list[Evaluation] = field(default_factory=list)
    interventions: list[Intervention] = field(default_factory=list)
    offers: list[Offer] = field(default_factory=list)
    informers: list[Coded] = field(default_factory=list)  # who said what (notes)
    other_refs: list[Reference] = field(default_factory=list)  # follow-up, care team, basedOn
    problems: list[Problem] = field(default_factory=list)

    def goal(self, key: str | None) -> Goal | None:
        """The goal with this key, or None."""
        if key is None:
            return None
        for g in self.goals:
            if g.key == key:
                return g
        return None

    def condition(self, key: str | None) -> Condition | None:
        """The condition with this key, or None."""
        if key is None:
            return None
        for c in self.conditions:
            if c.key == key:
                return c
        return None
