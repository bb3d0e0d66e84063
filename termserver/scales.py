"""Instrument scales and what each measures, so that a score is never translated into another
construct.

A scale is a concept whose children are its steps (FFB *Funktionsevneniveau*, the compass's
*Skala 1-10*). Dimensions map to dimensions; scores stay on their own instrument. Two scales
may be crosswalked step by step only when they measure the same construct, and the crosswalk
counts as *offered* only when a published source states it; until then it is a proposal and
QA says so. What each scale measures comes from the research notes (DOMAIN.md §§2, 3, 6, 7):

- FFB funktionsevneniveau: severity of reduced functioning (with aids, without support).
- FFB støttebehovsniveau: how much support the citizen needs, a different question.
- FSIII funktionsevne skalering: severity too, but KL warns the levels "do not have the same
  meaning" as FFB's, so no exact crosswalk without a source that says otherwise.
- VUM 1.0 samlet vurdering (A-E, 0-4): problem level per theme, a severity rating; only the end
  labels are sourced, and no source equates it with FFB's levels (uncertainty register item 1).
- Forandringskompasset 1-10: progression on the citizen's journey, not severity.
"""

from __future__ import annotations

from dataclasses import dataclass

from termserver.errors import UnknownConceptError

SEVERITY = "severity"
SUPPORT_NEED = "support need"
PROGRESSION = "progression"

#: Danish names of the constructs, for curators.
CONSTRUCT_DA = {
    SEVERITY: "sværhedsgrad (funktionsevne)",
    SUPPORT_NEED: "støttebehov",
    PROGRESSION: "progression",
}


@dataclass(frozen=True, slots=True)
class Scale:
    """One rating scale of an instrument: the concept whose children are its steps."""

    scheme: str
    root: str
    label: str
    construct: str
    source: str
    #: The steps, lowest first; other children ("Ikke vurderet", FSIII "9" = ikke relevant) are
    #: not steps, and a crosswalk must keep this order.
    steps: tuple[str, ...] = ()

    def rank(self, code: str) -> int | None:
        """Position of a step (0 = lowest), None for a child that is not a step."""
        try:
            return self.steps.index(code)
        except ValueError:
            return None


SCALES: tuple[Scale, ...] = (
    Scale(
        "ffb",
        "e89d317c-4657-4970-b614-ada2ed220595",
        "FFB funktionsevneniveau",
        SEVERITY,
        "CodeSystem-FFB 20240530; sbst.dk VUM 2.0 FAQ (med hjælpemidler, uden støtte)",
        (
            "b508ff66-6326-4862-a6d7-7bbf184c9823",  # Ingen nedsat funktionsevne
            "8328ce4a-6238-4f73-bf1a-74aadb68eff8",  # Let
            "5bdde847-2837-416b-ab63-bbff8b7aa531",  # Moderat
            "cae545f5-2813-4d79-98fc-0a7d770af3cd",  # Svært
            "832ae90b-23b5-4063-80aa-0b81bdce680e",  # Fuldstændig
        ),
    ),
    Scale(
        "ffb",
        "7ac451dc-773b-4877-baaf-1e6b1d5c8e28",
        "FFB støttebehovsniveau",
        SUPPORT_NEED,
        "CodeSystem-FFB 20240530",
        (
            "ae9f388a-91c3-46cf-af55-f81952f2977c",  # Intet støttebehov
            "dd628e73-d6c9-4837-a2b8-aa62d73bd6ae",  # Let
            "401a397b-b3aa-4ca3-8b23-bd8f99dd3f76",  # Moderat
            "b99a0790-4d70-4152-b149-3fe58b745583",  # Højt
            "e99763d6-6c43-4969-ad52-2b1a7055f9dc",  # Fuldstændigt
        ),
    ),
    Scale(
        "fsiii",
        "2c02a704-deee-4878-9378-1167613b3da6",
        "FSIII funktionsevne skalering",
        SEVERITY,
        "CodeSystem-FSIII 20240530; KL-dk Condition guidance: same wording, not the same meaning",
        (
            "9c5cfb57-a498-40e5-98a7-792bf5fb205b",  # 0
            "fcc16cb1-41f0-4832-b834-110fba0aaabe",  # 1
            "d984ad21-48fe-4619-845e-2aa0303048e7",  # 2
            "1ceef776-0cfa-4acd-b222-c5bb2424e0c1",  # 3
            "f4c9f159-5806-4c06-95e9-e69b83bab1a1",  # 4
        ),
    ),
    Scale(
        "vum-1",
        "samlet-vurdering",
        "VUM 1.0 samlet vurdering (A-E)",
        SEVERITY,
        "LEV 2020 (A intet problem - E fuldstændigt problem); akucenter.frederikssund.dk (0-4)",
        tuple(f"samlet-vurdering-{x}" for x in "abcde"),
    ),
    Scale(
        "forandringskompas-misbrug",
        "skala-1-10",
        "Forandringskompas (misbrug) 1-10",
        PROGRESSION,
        "kk.dk/artikel/forandringskompasserne",
        tuple(f"skala-1-10-{n}" for n in range(1, 11)),
    ),
    Scale(
        "forandringskompas-plejetilbud",
        "skala-1-10",
        "Forandringskompas (plejetilbud) 1-10",
        PROGRESSION,
        "kk.dk/artikel/forandringskompasserne",
        tuple(f"skala-1-10-{n}" for n in range(1, 11)),
    ),
)


@dataclass(frozen=True, slots=True)
class ScalePoint:
    """Where a concept sits on a scale: the scale concept itself, or one of its children."""

    scale: Scale
    is_root: bool
    is_step: bool
    code: str = ""


class ScaleIndex:
    """Which concepts of a vocabulary are scales or scale values."""

    def __init__(self, vocab, scales: tuple[Scale, ...] = SCALES) -> None:
        self._points: dict[tuple[str, str], ScalePoint] = {}
        self.scales: list[tuple[Scale, str]] = []
        for scale in scales:
            try:
                system = vocab.system_of(scale.scheme)
            except UnknownConceptError:
                continue
            root = vocab.get(system, scale.root)
            if root is None:
                continue
            self.scales.append((scale, system))
            self._points[(system, scale.root)] = ScalePoint(scale, True, False, scale.root)
            for c in vocab.descendants(root):
                step = scale.rank(c.code) is not None
                self._points[(system, c.code)] = ScalePoint(scale, False, step, c.code)

    def point(self, system: str, code: str) -> ScalePoint | None:
        """The scale ``(system, code)`` is (a value of), or None for a dimension or item."""
        return self._points.get((system, code))

    def scales_of(self, system: str) -> list[Scale]:
        """The scales of one code system."""
        return [s for s, sys in self.scales if sys == system]


def crosswalk_problem(subject: ScalePoint | None, obj: ScalePoint | None) -> str | None:
    """Why a mapping between these two concepts must not exist, or None.

    A score never maps to a dimension (or the reverse), and two scales that measure different
    constructs are never crosswalked: map the dimension, keep the score.
    """
    if subject is None and obj is None:
        return None
    if subject is None or obj is None:
        on = subject or obj
        assert on is not None
        what = "scale" if on.is_root else "score"
        return (
            f"a dimension must not map to a {what} of {on.scale.label} ({on.scale.construct}): "
            "map the dimension, keep the score"
        )
    s, o = subject.scale, obj.scale
    if s.construct != o.construct:
        return (
            f"a {s.label} score must not map to {o.label}: it measures {s.construct}, "
            f"not {o.construct} (map the dimension, keep the score)"
        )
    if subject.is_step != obj.is_step and not (subject.is_root or obj.is_root):
        return "a step of a scale must map to a step ('Ikke vurderet'/'Ikke relevant' is none)"
    return None
