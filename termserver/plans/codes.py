"""The code systems, codes and value sets a plan is checked against (all from KL's kl-term).

Codes are the official KL UUIDs (CareSocialCodes 20250530, FFB 20240530); value sets are KL's
canonical URLs, held in ``ontology/valuesets/``.
"""

from __future__ import annotations

from termserver.plans.model import CITIZEN_WISH, FFB_GOAL, PURPOSE, SUBGOAL

FFB = "urn:oid:1.2.208.176.2.22"
CARE_SOCIAL = "http://fhir.kl.dk/term/CodeSystem/CareSocialCodes"

# Older or alternative URLs seen in KL's own IG examples, so a message can name the right one.
SYSTEM_ALIASES = {
    "http://kl.dk/fhir/common/caresocial/CodeSystem/FFB": FFB,
    "http://kl.dk/fhir/common/caresocial/CodeSystem/KLCommonCareSocialCodes": CARE_SOCIAL,
}

# CareSocialCodes "Mål/formål" (KLGoalTypeCodes)
GOAL_PURPOSE = "424827b1-23aa-4848-962b-56ee47def560"  # Indsatsformål
GOAL_FFB = "0bb3daef-538d-45dc-b444-abdbcb63f6bc"  # FFB indsatsmål
GOAL_SUB = "6746d4af-145a-4bfd-a672-05c0cf11b53b"  # FFB delmål
GOAL_CITIZEN = "416fe27d-3ccf-4390-8742-8b52a9d8dc78"  # FFB borgers mål og ønsker
GOAL_CITIZEN_GENERIC = "ffb9886b-d04e-46b1-9165-a400f91f822b"  # Borgers ønsker og mål
GOAL_KIND_CODES = {
    PURPOSE: GOAL_PURPOSE,
    FFB_GOAL: GOAL_FFB,
    SUBGOAL: GOAL_SUB,
    CITIZEN_WISH: GOAL_CITIZEN,
}
KIND_OF_GOAL_CODE = {
    **{code: kind for kind, code in GOAL_KIND_CODES.items()},
    GOAL_CITIZEN_GENERIC: CITIZEN_WISH,
}

# Goal.target.measure (CareSocialCodes "Målfokus")
MEASURE_LEVEL = "66959f77-6e2a-4574-8423-3ff097f8b9fa"  # funktionsevneniveau
MEASURE_GOAL_TYPE = "90c48f03-f194-4b2f-ad7d-6cba1069ae48"  # måltype

SUPPORT_NEED_EVALUATION = "effe55c7-572c-4a99-8fb4-2a9dda2f6572"  # FFB støttebehovsvurdering
EVALUATION_ACTIVITY = "95ec4535-8fe8-4296-867c-35de421794cf"  # evaluering

# CareSocialCodes "Kilde" (MatterOfInterestInformer)
INFORMER_CITIZEN = "25b4e705-2e9a-47a2-b11a-c829316b9d3a"  # Borger
INFORMER_CASEWORKER = "f6ea2920-7dde-491e-a489-6b99a3904069"  # Sagsbehandler
INFORMER_CITIZEN_CODES = frozenset(
    {
        INFORMER_CITIZEN,
        "12428e48-7df8-441f-9a89-d92bb7874066",  # Borger støttet af medarbejder
        "b66dc78a-a673-43fc-8ac0-1e859ba626e0",  # Borger støttet af pårørende
    }
)

# FFB Støttebehovsniveau values that make a case complex (seed 002, recommendation 10)
HIGH_SUPPORT_NEED = frozenset(
    {
        "b99a0790-4d70-4152-b149-3fe58b745583",  # Højt støttebehov
        "e99763d6-6c43-4969-ad52-2b1a7055f9dc",  # Fuldstændigt støttebehov
    }
)

_VS = "http://fhir.kl.dk/term/ValueSet/"
VS_CAREPLAN_CATEGORY = _VS + "KLCarePlanCategoryCodes"
VS_GOAL_TYPES = _VS + "KLGoalTypeCodes"
VS_CONDITIONS = _VS + "KLConditionCodesFFB"
VS_CONDITIONS_AD = _VS + "KLConditionADCodesFFB"
VS_TARGET_GROUPS = _VS + "KLTargetGroupsFFB"
VS_SEVERITIES = _VS + "KLSeveritiesFFB"
VS_CHANGE_VALUES = _VS + "KLChangeValueCodesFFB"
VS_EVALUATION_TYPES = _VS + "KLEvaluationTypeCodes"
VS_NEEDS = _VS + "KLNeedsAssessmentCodesFFB"
VS_INTERVENTIONS = _VS + "KLInterventionsFFB"
VS_SERVICES = _VS + "KLServiceCodesFFB"
VS_INFORMERS = _VS + "KLMatterOfInterestInformerFFB"
