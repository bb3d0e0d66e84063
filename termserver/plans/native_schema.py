"""The native "Borgerens Plan" document: its fields, checked by hand and published as JSON Schema.

One declaration (:data:`PLAN`) serves twice: :func:`check` walks a parsed document against it
(fast, no JSON Schema engine on the hot path, every problem named by JSON path), and
:func:`json_schema` turns it into the JSON Schema committed at
``schemas/borgerens-plan.schema.json``. A test keeps the two equal, so the published schema can
never drift from what the reader accepts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from functools import cached_property
from typing import Any

from termserver.plans.model import Problem

SCHEMA_ID = "https://w3id.org/ffb-termserver/schemas/borgerens-plan.schema.json"
MAX_ITEMS = 500
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}\Z")
INVALID = object()  # what check() returns for a value it had to drop


class Type:
    """A field type: checks a value and describes itself as JSON Schema.

    ``valid`` is the fast yes/no used first; only a document that fails it is walked again by
    ``check``, which names every problem. Most documents are valid, so most pay only for
    ``valid``.
    """

    def valid(self, value: Any) -> bool:
        raise NotImplementedError

    def check(self, value: Any, path: str, problems: list[Problem]) -> Any:
        raise NotImplementedError

    def schema(self) -> dict[str, Any]:
        raise NotImplementedError


def _wrong(problems: list[Problem], path: str, da: str, en: str) -> Any:
    problems.append(Problem("format", path, da, en))
    return INVALID


@dataclass(frozen=True)
class Str(Type):
    def valid(self, value: Any) -> bool:
        return type(value) is str and bool(value) and not value.isspace()

    def check(self, value: Any, path: str, problems: list[Problem]) -> Any:
        if not isinstance(value, str):
            return _wrong(problems, path, "skal være en tekst", "must be a string")
        if not value.strip():
            return _wrong(problems, path, "må ikke være tom", "must not be empty")
        return value

    def schema(self) -> dict[str, Any]:
        return {"type": "string", "minLength": 1}


@dataclass(frozen=True)
class Date(Type):
    def valid(self, value: Any) -> bool:
        if type(value) is not str or not _DATE.match(value):
            return False
        try:
            date.fromisoformat(value)
        except ValueError:
            return False
        return True

    def check(self, value: Any, path: str, problems: list[Problem]) -> Any:
        if isinstance(value, str) and _DATE.match(value):
            try:
                date.fromisoformat(value)
                return value
            except ValueError:
                pass
        return _wrong(
            problems,
            path,
            f"skal være en dato på formen ÅÅÅÅ-MM-DD, ikke {value!r}",
            f"must be a date YYYY-MM-DD, not {value!r}",
        )

    def schema(self) -> dict[str, Any]:
        return {"type": "string", "format": "date", "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}$"}


@dataclass(frozen=True)
class Int(Type):
    minimum: int = 1

    def valid(self, value: Any) -> bool:
        return type(value) is int and value >= self.minimum

    def check(self, value: Any, path: str, problems: list[Problem]) -> Any:
        if isinstance(value, bool) or not isinstance(value, int) or value < self.minimum:
            return _wrong(
                problems,
                path,
                f"skal være et heltal på mindst {self.minimum}",
                f"must be an integer of at least {self.minimum}",
            )
        return value

    def schema(self) -> dict[str, Any]:
        return {"type": "integer", "minimum": self.minimum}


@dataclass(frozen=True)
class Bool(Type):
    def valid(self, value: Any) -> bool:
        return type(value) is bool

    def check(self, value: Any, path: str, problems: list[Problem]) -> Any:
        if not isinstance(value, bool):
            return _wrong(problems, path, "skal være true eller false", "must be true or false")
        return value

    def schema(self) -> dict[str, Any]:
        return {"type": "boolean"}


@dataclass(frozen=True)
class Enum(Type):
    values: tuple[str, ...]

    def valid(self, value: Any) -> bool:
        return type(value) is str and value in self.values

    def check(self, value: Any, path: str, problems: list[Problem]) -> Any:
        if value not in self.values:
            allowed = ", ".join(self.values)
            return _wrong(
                problems,
                path,
                f"skal være en af: {allowed} (ikke {value!r})",
                f"must be one of: {allowed} (not {value!r})",
            )
        return value

    def schema(self) -> dict[str, Any]:
        return {"enum": list(self.values)}


@dataclass(frozen=True)
class Field:
    type: Type
    description: str
    required: bool = False


@dataclass(frozen=True)
class Obj(Type):
    name: str
    description: str
    fields: dict[str, Field]

    @cached_property
    def _names(self) -> frozenset[str]:
        return frozenset(self.fields)

    @cached_property
    def _required(self) -> tuple[str, ...]:
        return tuple(k for k, f in self.fields.items() if f.required)

    @cached_property
    def _types(self) -> dict[str, Type]:
        return {k: f.type for k, f in self.fields.items()}

    def valid(self, value: Any) -> bool:
        if type(value) is not dict or not value.keys() <= self._names:
            return False
        for key in self._required:
            if key not in value:
                return False
        types = self._types
        return all(v is not None and types[key].valid(v) for key, v in value.items())

    def check(self, value: Any, path: str, problems: list[Problem]) -> Any:
        if not isinstance(value, dict):
            return _wrong(problems, path, "skal være et objekt", "must be an object")
        fields = self.fields
        for key in [k for k in value if k not in fields]:
            known = ", ".join(fields)
            _wrong(
                problems,
                f"{path}.{key}",
                f"ukendt felt {key!r}; kendte felter her: {known}",
                f"unknown field {key!r}; known fields here: {known}",
            )
            del value[key]
        for key, f in fields.items():
            if key not in value or value[key] is None:
                value.pop(key, None)
                if f.required:
                    _wrong(problems, f"{path}.{key}", "skal udfyldes", "is required")
                continue
            checked = f.type.check(value[key], f"{path}.{key}", problems)
            if checked is INVALID:
                del value[key]
        return value

    def schema(self) -> dict[str, Any]:
        return {"$ref": f"#/$defs/{self.name}"}

    def definition(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "type": "object",
            "description": self.description,
            "properties": {
                k: {**f.type.schema(), "description": f.description} for k, f in self.fields.items()
            },
            "additionalProperties": False,
        }
        required = [k for k, f in self.fields.items() if f.required]
        if required:
            out["required"] = required
        return out


@dataclass(frozen=True)
class List(Type):
    item: Type

    def valid(self, value: Any) -> bool:
        if type(value) is not list or len(value) > MAX_ITEMS:
            return False
        valid = self.item.valid
        return all(valid(v) for v in value)

    def check(self, value: Any, path: str, problems: list[Problem]) -> Any:
        if not isinstance(value, list):
            return _wrong(problems, path, "skal være en liste", "must be a list")
        if len(value) > MAX_ITEMS:
            return _wrong(
                problems,
                path,
                f"har {len(value)} elementer; højst {MAX_ITEMS} er tilladt",
                f"has {len(value)} items; at most {MAX_ITEMS} are allowed",
            )
        for i, item in enumerate(value):
            if self.item.check(item, f"{path}[{i}]", problems) is INVALID:
                value[i] = None
        return value

    def schema(self) -> dict[str, Any]:
        return {"type": "array", "items": self.item.schema(), "maxItems": MAX_ITEMS}


GOAL_KINDS = ("purpose", "ffb-goal", "subgoal", "citizen-wish")
PLAN_STATUSES = (
    "draft",
    "active",
    "on-hold",
    "revoked",
    "completed",
    "entered-in-error",
    "unknown",
)

CODING = Obj(
    "Coding",
    "En kode fra et kodesystem. Uden system bruges elementets standard (FFB, eller "
    "CareSocialCodes for kategori). A code; without system the element's default system is used.",
    {
        "code": Field(Str(), "Koden, fx FFB-UUID'en. The code.", required=True),
        "display": Field(Str(), "Kodens betegnelse; kontrolleres. The display; checked."),
        "system": Field(Str(), "Kodesystemets URL. The code system URL."),
        "version": Field(Str(), "Kodesystemets version, fx 20240530. The release."),
    },
)
ID = Field(Str(), "Id, unikt i dokumentet; bruges i henvisninger. Unique id in the document.", True)

PLAN = Obj(
    "BorgerensPlan",
    "Borgerens Plan: en handleplan for en social indsats efter FFB. A citizen's plan.",
    {
        "$schema": Field(Str(), "Skemaets URL (valgfri). Schema URL (optional)."),
        "id": ID,
        "title": Field(Str(), "Planens titel. Title."),
        "caseNumber": Field(Str(), "Kommunens sagsnummer. Municipality case number."),
        "status": Field(
            Enum(PLAN_STATUSES), "Planens status (FHIR RequestStatus). Plan status.", True
        ),
        "intent": Field(
            Enum(("proposal", "plan", "order")),
            "order = bevilget indsats; plan = udkast til plan. order = granted.",
            True,
        ),
        "category": Field(CODING, "Indsatsforløbets kategori (KLCarePlanCategoryCodes)."),
        "created": Field(Date(), "Oprettet. Created."),
        "period": Field(
            Obj(
                "Period",
                "Bevillingsperiode. Period of the indsats.",
                {
                    "start": Field(Date(), "Bevilget fra. Start (bevillingstid)."),
                    "end": Field(Date(), "Forventet afslutning. Expected end."),
                },
            ),
            "Indsatsens periode. Period.",
        ),
        "expectedDuration": Field(
            Str(), "Forventet varighed i ord, fx '12 måneder' (anbefaling 9). Expected duration."
        ),
        "followUpDate": Field(Date(), "Dato for opfølgning (anbefaling 10). Follow-up date."),
        "replaces": Field(
            Str(), "Id på en tidligere plan, som denne afløser (så er sagen ikke ny)."
        ),
        "complexCase": Field(Bool(), "Kompleks eller omkostningstung sag (anbefaling 10)."),
        "citizen": Field(
            Obj(
                "Citizen",
                "Borgeren og borgerens inddragelse. The citizen's involvement.",
                {
                    "name": Field(Str(), "Navn. Name."),
                    "involvement": Field(
                        Str(), "Hvordan borgeren har været inddraget (anbefaling 11)."
                    ),
                    "comments": Field(Str(), "Borgerens bemærkninger til planen (anbefaling 13)."),
                },
            ),
            "Borgeren. The citizen.",
        ),
        "targetGroups": Field(
            List(
                Obj(
                    "TargetGroup",
                    "Målgruppe (KLTargetGroupsFFB) med rang 1 = primær, 2 = sekundær.",
                    {
                        "id": ID,
                        "code": Field(CODING, "Målgruppens FFB-kode.", True),
                        "rank": Field(Int(), "1 = primær målgruppe, 2 = sekundær."),
                    },
                )
            ),
            "Målgrupper. Target groups.",
        ),
        "conditions": Field(
            List(
                Obj(
                    "Condition",
                    "Tilstand (KLConditionCodesFFB); funktionsevneniveau kun for Aktivitet og "
                    "deltagelse.",
                    {
                        "id": ID,
                        "code": Field(CODING, "Tilstandens FFB-kode.", True),
                        "severity": Field(CODING, "Funktionsevneniveau (KLSeveritiesFFB)."),
                        "note": Field(Str(), "Kort vurdering. Short assessment."),
                    },
                )
            ),
            "Tilstande. Conditions.",
        ),
        "supportNeed": Field(
            Obj(
                "SupportNeed",
                "FFB støttebehovsvurdering. Assessed need of support.",
                {
                    "level": Field(CODING, "Støttebehovsniveau (KLNeedsAssessmentCodesFFB).", True),
                    "date": Field(Date(), "Vurderingsdato. Date of the assessment."),
                },
            ),
            "Støttebehov. Need of support.",
        ),
        "goals": Field(
            List(
                Obj(
                    "Goal",
                    "Mål: indsatsformål (purpose), FFB indsatsmål (ffb-goal), delmål (subgoal) "
                    "eller borgers mål og ønsker (citizen-wish).",
                    {
                        "id": ID,
                        "kind": Field(Enum(GOAL_KINDS), "Målets niveau. Goal level.", True),
                        "text": Field(Str(), "Målet i ord. The goal in words."),
                        "goalType": Field(CODING, "Måltype (KLChangeValueCodesFFB)."),
                        "expectedLevel": Field(
                            CODING, "Forventet funktionsevneniveau (KLSeveritiesFFB)."
                        ),
                        "addresses": Field(
                            List(
                                Obj(
                                    "Address",
                                    "En tilstand, målet handler om; rang 1 = måltilstand.",
                                    {
                                        "condition": Field(Str(), "Tilstandens id.", True),
                                        "rank": Field(Int(), "1 = måltilstand, 2 = sekundær."),
                                    },
                                )
                            ),
                            "Tilstande, målet handler om. Conditions addressed.",
                        ),
                        "basedOn": Field(Str(), "Delmål: id på det indsatsmål, det bygger på."),
                        "successCriterion": Field(
                            Str(), "Hvornår er målet nået (anbefaling 4-5). Success criterion."
                        ),
                        "dueDate": Field(Date(), "Forventet opfyldt (anbefaling 8). Due date."),
                        "citizenAgreement": Field(
                            Enum(("agree", "disagree", "pending")),
                            "Er borgeren enig i målet? Does the citizen agree?",
                        ),
                        "justification": Field(
                            Str(), "Faglig begrundelse, hvis borgeren er uenig (anbefaling 14)."
                        ),
                    },
                )
            ),
            "Mål. Goals.",
        ),
        "interventions": Field(
            List(
                Obj(
                    "Intervention",
                    "Planlagt ydelse (KLInterventionsFFB).",
                    {
                        "id": ID,
                        "code": Field(CODING, "Ydelsens FFB-kode.", True),
                        "conditions": Field(
                            List(Str()), "Id'er på tilstande, ydelsen retter sig mod."
                        ),
                        "goals": Field(List(Str()), "Id'er på mål, ydelsen skal hjælpe til."),
                        "start": Field(Date(), "Start."),
                    },
                )
            ),
            "Ydelser. Planned interventions.",
        ),
        "offers": Field(
            List(
                Obj(
                    "Offer",
                    "Tilbud, der leverer indsatsen (KLServiceCodesFFB).",
                    {
                        "id": ID,
                        "code": Field(CODING, "Tilbudstypens FFB-kode.", True),
                        "provider": Field(Str(), "Leverandørens navn. Provider."),
                    },
                )
            ),
            "Tilbud. Offers (care teams).",
        ),
    },
)


def check(doc: Any, problems: list[Problem]) -> dict[str, Any] | None:
    """Check ``doc`` in place against :data:`PLAN`; invalid values are dropped (lists keep a
    None in their place) and each problem is appended. None when ``doc`` is not an object."""
    if PLAN.valid(doc):
        return doc
    out = PLAN.check(doc, "$", problems)
    return None if out is INVALID else out


def json_schema() -> dict[str, Any]:
    """The JSON Schema (2020-12) of the native document, generated from :data:`PLAN`."""
    defs: dict[str, Any] = {}
    _collect(PLAN, defs)
    root = PLAN.definition()
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "Borgerens Plan",
        **root,
        "$defs": {k: defs[k] for k in sorted(defs) if k != PLAN.name},
    }


def _collect(t: Type, defs: dict[str, Any]) -> None:
    if isinstance(t, List):
        _collect(t.item, defs)
    elif isinstance(t, Obj) and t.name not in defs:
        defs[t.name] = t.definition()
        for f in t.fields.values():
            _collect(f.type, defs)
