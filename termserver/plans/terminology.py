"""Terminology rules (TERM-…): each code exists in its system and version, is active, has the
right display, and lies in the value set its element is bound to.

A coded element passes its binding when any of its codings is in the value set, so a plan may
carry extra codings from systems the server does not hold (SNOMED CT beside FFB, say).
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass

from termserver.model import DEPRECATED, RETIRED
from termserver.plans import codes
from termserver.plans.model import Coded, Plan
from termserver.plans.rules import Finding, finding

REQUIRED = "required"
MAX_CACHED_VERDICTS = 50_000
_KNOWN, _UNKNOWN_SYSTEM, _BROKEN = 0, 1, 2
EXTENSIBLE = "extensible"


@dataclass(frozen=True, slots=True)
class Binding:
    """A value set an element is bound to, and how strongly."""

    url: str
    strength: str = REQUIRED
    element: str = ""  # Danish name of the element, for messages


# Element → value set, as KL's profiles bind them.
_CATEGORY = Binding(codes.VS_CAREPLAN_CATEGORY, EXTENSIBLE, "planens kategori")
_GOAL_TYPE = Binding(codes.VS_GOAL_TYPES, element="målkategori")
_CHANGE = Binding(codes.VS_CHANGE_VALUES, element="måltype")
_EXPECTED = Binding(codes.VS_SEVERITIES, element="forventet funktionsevneniveau")
_CONDITION = Binding(codes.VS_CONDITIONS, element="tilstand")
_SEVERITY = Binding(codes.VS_SEVERITIES, element="funktionsevneniveau")
_TARGET_GROUP = Binding(codes.VS_TARGET_GROUPS, element="målgruppe")
_EVALUATION = Binding(codes.VS_EVALUATION_TYPES, element="vurderingstype")
_NEED = Binding(codes.VS_NEEDS, element="støttebehov")
_INTERVENTION = Binding(codes.VS_INTERVENTIONS, element="ydelse")
_SERVICE = Binding(codes.VS_SERVICES, element="tilbud")
_INFORMER = Binding(codes.VS_INFORMERS, element="kilde")

_CACHE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def for_snapshot(snapshot) -> Terminology:
    """The (cached) terminology checker over one snapshot's vocabulary and value sets."""
    term = _CACHE.get(snapshot.vocab)
    if term is None or term.valuesets is not snapshot.valuesets:
        term = Terminology(snapshot.vocab, snapshot.valuesets)
        _CACHE[snapshot.vocab] = term
    return term


class Terminology:
    """Code checks over one vocabulary snapshot; reads only, so it is safe to share."""

    def __init__(self, vocab, valuesets) -> None:
        self.vocab = vocab
        self.valuesets = valuesets
        self.systems = frozenset(vocab.systems())
        self.versions = {s: frozenset(v.version for v in vocab.versions(s)) for s in self.systems}
        self.default = {s: vocab.default_version(s) for s in self.systems}
        # (system, code, version, display, value set) -> verdict; codings repeat across plans.
        self._verdicts: dict[tuple, tuple[int, bool, tuple]] = {}
        self._membership: dict[tuple, tuple[bool, bool]] = {}

    # --- membership used by the structure rules --------------------------------------------

    def member(self, url: str, system: str, code: str, version: str | None) -> bool:
        """Is ``system``/``code`` (in ``version``) in the value set at ``url``?"""
        if url not in self.valuesets:
            return False
        if version is None or version == self.default.get(system):
            return self.valuesets.contains(url, system, code)
        return self.valuesets.validate_code(url, system, code, version=version).result

    def is_member(self, coded: Coded | None, url: str) -> bool | None:
        """True when a usable coding of ``coded`` is in the value set, False when the codes are
        usable but outside it, None when no coding can be judged (already a TERM finding)."""
        if coded is None or url not in self.valuesets:
            return None
        judged = False
        cache = self._membership
        for c in coded.codings:
            key = (url, c.system, c.code, c.version)
            hit = cache.get(key)
            if hit is None:
                usable = self._usable(c.system, c.code, c.version)
                hit = (usable, usable and self.member(url, c.system, c.code, c.version))
                if len(cache) >= MAX_CACHED_VERDICTS:
                    cache.clear()
                cache[key] = hit
            if hit[0]:
                judged = True
                if hit[1]:
                    return True
        return False if judged else None

    def has_code(self, coded: Coded | None, system: str, wanted: frozenset[str] | set[str]) -> bool:
        """True when ``coded`` has a coding of ``system`` whose code is in ``wanted``."""
        return coded is not None and any(
            c.system == system and c.code in wanted for c in coded.codings
        )

    def _usable(self, system: str | None, code: str | None, version: str | None) -> bool:
        if not system or not code or system not in self.systems:
            return False
        if version is not None and version not in self.versions[system]:
            return False
        return self.vocab.get(system, code, version) is not None

    # --- the TERM rules --------------------------------------------------------------------

    def check_plan(self, plan: Plan, out: list[Finding]) -> None:
        """Check every coded element of the plan against its binding."""
        check = self.check
        check(plan.category, _CATEGORY, out)
        for g in plan.goals:
            check(g.category, _GOAL_TYPE, out)
            check(g.goal_type, _CHANGE, out)
            check(
                g.expected_level,
                _EXPECTED,
                out,
            )
        for c in plan.conditions:
            check(c.code, _CONDITION, out)
            check(c.severity, _SEVERITY, out)
        for tg in plan.target_groups:
            check(tg.code, _TARGET_GROUP, out)
        for ev in plan.evaluations:
            check(ev.code, _EVALUATION, out)
            support = self.has_code(
                ev.code, codes.CARE_SOCIAL, frozenset({codes.SUPPORT_NEED_EVALUATION})
            )
            binding = _NEED if support else None
            check(ev.value, binding, out)
        for iv in plan.interventions:
            check(iv.code, _INTERVENTION, out)
        for o in plan.offers:
            check(o.category, _SERVICE, out)
        for informer in plan.informers:
            check(informer, _INFORMER, out)

    def check(self, coded: Coded | None, binding: Binding | None, out: list[Finding]) -> None:
        """All TERM findings for one coded element."""
        if coded is None:
            return
        if binding is not None and binding.url not in self.valuesets:
            binding = None  # a snapshot without KL's value sets can still check the codes
        if not coded.codings:
            out.append(
                finding(
                    "TERM-009",
                    coded.location,
                    "elementet har ingen kode (kun tekst)",
                    "the element has no coding (text only)",
                )
            )
            return
        known = False
        in_vs = False
        unknown = []
        url = binding.url if binding is not None else None
        cache = self._verdicts
        for c in coded.codings:
            key = (c.system, c.code, c.version, c.display, url)
            verdict = cache.get(key)
            if verdict is None:
                verdict = self._verdict(c, url)
                if len(cache) >= MAX_CACHED_VERDICTS:
                    cache.clear()  # plans repeat a few hundred codes; a full cache is rare
                cache[key] = verdict
            status, member, templates = verdict
            for rule, suffix, da, en in templates:
                out.append(finding(rule, c.location + suffix, da, en))
            if status == _UNKNOWN_SYSTEM:
                unknown.append(c)
            elif status == _KNOWN:
                known = True
                in_vs = in_vs or member
        if binding is not None and known and not in_vs:
            first = next(c for c in coded.codings if self._usable(c.system, c.code, c.version))
            concept = self.vocab.get(first.system, first.code, first.version)
            name = binding.url.rsplit("/", 1)[-1]
            required = binding.strength == REQUIRED
            out.append(
                finding(
                    "TERM-007" if required else "TERM-008",
                    coded.location,
                    f"{first.code} {concept.display!r} hører ikke til værdisættet {name}, "
                    f"som {binding.element or 'elementet'} "
                    + ("skal" if required else "bør")
                    + " tage sin kode fra",
                    f"{first.code} {concept.display!r} is not in value set {binding.url}, "
                    + ("required" if required else "extensible")
                    + " for this element",
                )
            )
        if unknown and not known:
            for c in unknown:
                alias = codes.SYSTEM_ALIASES.get(c.system)
                hint = f"; mente du {alias}?" if alias else ""
                hint_en = f"; did you mean {alias}?" if alias else ""
                out.append(
                    finding(
                        "TERM-001",
                        f"{c.location}.system",
                        f"kodesystemet {c.system} kendes ikke, så koden {c.code} kan ikke "
                        f"kontrolleres{hint}",
                        f"code system {c.system} is not known; code {c.code} cannot be "
                        f"checked{hint_en}",
                    )
                )

    def _verdict(self, c, url: str | None) -> tuple[int, bool, tuple]:
        """What one coding earns, independent of where it stands: (status, in value set,
        finding templates as (rule, location suffix, Danish, English))."""
        out: list[tuple[str, str, str, str]] = []
        if not c.system or not c.code:
            missing = "system" if not c.system else "code"
            out.append(
                ("TERM-009", "", f"kodningen mangler {missing}", f"the coding has no {missing}")
            )
            return _BROKEN, False, tuple(out)
        if c.system not in self.systems:
            return _UNKNOWN_SYSTEM, False, ()
        if c.version is not None and c.version not in self.versions[c.system]:
            held = ", ".join(sorted(self.versions[c.system], reverse=True))
            out.append(
                (
                    "TERM-003",
                    "",
                    f"{c.system} findes ikke i version {c.version!r} (findes i: {held})",
                    f"{c.system} has no version {c.version!r} (held: {held})",
                )
            )
            return _BROKEN, False, tuple(out)
        concept = self.vocab.get(c.system, c.code, c.version)
        if concept is None:
            v = c.version or self.default[c.system]
            elsewhere = self.vocab.versions_of(c.system, c.code)
            also = f" (findes i version {', '.join(elsewhere)})" if elsewhere else ""
            also_en = f" (it exists in version {', '.join(elsewhere)})" if elsewhere else ""
            out.append(
                (
                    "TERM-002",
                    ".code",
                    f"koden {c.code!r} findes ikke i {c.system} version {v}{also}",
                    f"code {c.code!r} does not exist in {c.system} version {v}{also_en}",
                )
            )
            return _BROKEN, False, tuple(out)
        if concept.status == RETIRED:
            repl = self.vocab.replacement(concept)
            names = ", ".join(f"{r.code} {r.display!r}" for r in repl)
            out.append(
                (
                    "TERM-004",
                    ".code",
                    f"koden {c.code} {concept.display!r} er udgået"
                    + (f"; brug i stedet {names}" if names else "; ingen afløser er angivet"),
                    f"code {c.code} {concept.display!r} is retired"
                    + (f"; use {names} instead" if names else "; no replacement is given"),
                )
            )
        elif concept.status == DEPRECATED:
            repl = self.vocab.replacement(concept)
            names = ", ".join(f"{r.code} {r.display!r}" for r in repl)
            out.append(
                (
                    "TERM-005",
                    ".code",
                    f"koden {c.code} {concept.display!r} frarådes"
                    + (f"; brug hellere {names}" if names else ""),
                    f"code {c.code} {concept.display!r} is deprecated"
                    + (f"; prefer {names}" if names else ""),
                )
            )
        if c.display is not None and not _same_label(c.display, concept):
            out.append(
                (
                    "TERM-006",
                    ".display",
                    f"betegnelsen {c.display!r} passer ikke til koden {c.code}; "
                    f"den hedder {concept.display!r}",
                    f"display {c.display!r} does not match code {c.code}; "
                    f"it is {concept.display!r}",
                )
            )
        member = url is not None and self.member(url, c.system, c.code, c.version)
        return _KNOWN, member, tuple(out)


def _same_label(given: str, concept) -> bool:
    """Display check that ignores case and repeated or surrounding whitespace (NBSP too)."""
    want = " ".join(given.split()).casefold()
    if " ".join(concept.display.split()).casefold() == want:
        return True
    return any(" ".join(d.value.split()).casefold() == want for d in concept.designations)
