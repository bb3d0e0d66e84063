"""The editable copy of a release that changes are applied to, with the content checks.

A :class:`Workspace` starts from a snapshot (the newest release of every scheme, its mapping sets
and value sets) and copies a scheme only when a change touches it. Applying a change checks it
against the content as it stands at that moment: the concept exists, its new parents exist and do
not make a cycle, a new label is not already used in the scheme, a replacement exists and is in
use, a mapping's codes exist. The same checks run when a change is proposed (against the current
release) and again when a release is built (against the release with every earlier change
applied), so a release can never contain a change that no longer fits.
"""

from __future__ import annotations

import dataclasses
from datetime import date
from typing import Any

from termserver.curation.changes import Change, ChangeError, Problem
from termserver.errors import SourceError
from termserver.iris import concept_iri
from termserver.mappings import MANUAL_CURATION, PROPOSED, Mapping, MappingSet
from termserver.model import ACTIVE, DEPRECATED, Concept, SchemeVersion
from termserver.valuesets import ValueSetDef, ValueSetIndex, read_valueset

_MAX_DEPTH = 10_000  # no real hierarchy is this deep; a walk that gets here has met a cycle


def _norm(label: str) -> str:
    return " ".join(label.casefold().split())


class Workspace:
    """A copy-on-write view of the newest release of every scheme, mapping set and value set."""

    def __init__(self, snapshot: Any) -> None:
        self._vocab = snapshot.vocab
        self.schemes: dict[str, SchemeVersion] = {s.scheme: s for s in self._vocab.schemes()}
        self._concepts: dict[str, dict[str, Concept]] = {}
        self.mapping_sets: dict[str, MappingSet] = {
            ms.id: ms for ms in snapshot.translator.mapping_sets
        }
        self.valuesets: dict[str, ValueSetDef] = {
            vs.url: vs for vs in snapshot.valuesets.definitions()
        }
        self.valueset_docs: dict[str, dict[str, Any]] = {}
        self.touched_schemes: set[str] = set()
        self.touched_sets: set[str] = set()
        self.touched_valuesets: set[str] = set()

    # --- reading --------------------------------------------------------------------------------

    def concepts(self, scheme: str) -> dict[str, Concept]:
        """The concepts of a scheme's newest release, by code (read-only unless touched)."""
        held = self._concepts.get(scheme)
        if held is None:
            meta = self.schemes[scheme]
            held = {c.code: c for c in self._vocab.concepts(meta.system, meta.version)}
            self._concepts[scheme] = held
        return held

    def concept(self, scheme: str, code: str) -> Concept | None:
        """One concept of a scheme's newest release, or None."""
        if scheme not in self.schemes:
            return None
        return self.concepts(scheme).get(code)

    def _ancestors(self, scheme: str, code: str) -> set[str]:
        concepts = self.concepts(scheme)
        seen: set[str] = set()
        stack = list(concepts[code].parents) if code in concepts else []
        while stack and len(seen) < _MAX_DEPTH:
            p = stack.pop()
            if p in seen or p not in concepts:
                continue
            seen.add(p)
            stack.extend(concepts[p].parents)
        return seen

    # --- applying -------------------------------------------------------------------------------

    def apply(self, change: Change, on: date) -> None:
        """Apply one change, or raise :class:`ChangeError` naming why it does not fit."""
        p = change.payload
        if change.kind.startswith("concept."):
            self._apply_concept(change, p)
        elif change.kind.startswith("mapping."):
            self._apply_mapping(change, p, on)
        else:
            self._apply_valueset(p)

    def _put(self, scheme: str, concept: Concept) -> None:
        if scheme not in self.touched_schemes:
            self._concepts[scheme] = dict(self.concepts(scheme))
            self.touched_schemes.add(scheme)
        self._concepts[scheme][concept.code] = concept

    def _apply_concept(self, change: Change, p: dict[str, Any]) -> None:
        scheme, code = p["scheme"], p["code"]
        if scheme not in self.schemes:
            known = ", ".join(sorted(self.schemes))
            raise ChangeError([Problem("payload.scheme", f"ukendt skema {scheme!r} ({known})")])
        meta = self.schemes[scheme]
        current = self.concept(scheme, code)
        if change.kind == "concept.add":
            if current is not None:
                msg = f"{scheme}/{code} findes allerede ({current.display})"
                raise ChangeError([Problem("payload.code", msg)])
            parents = tuple(p.get("parents") or ())
            problems = self._check_parents(scheme, code, parents)
            problems += self._check_label(scheme, code, p["label"])
            if problems:
                raise ChangeError(problems)
            note = p.get("note")
            provenance = f"Foreslået af {change.author} (ændring #{change.id}): {change.reason}"
            self._put(
                scheme,
                Concept(
                    scheme=scheme,
                    system=meta.system,
                    version=meta.version,
                    code=code,
                    iri=concept_iri(scheme, code),
                    display=p["label"],
                    language=meta.language,
                    definition=p.get("definition"),
                    parents=parents,
                    note=f"{note}\n{provenance}" if note else provenance,
                    code_assigned=True,
                ),
            )
            return
        if current is None:
            raise ChangeError([Problem("payload.code", f"ukendt begreb {scheme}/{code}")])
        if change.kind == "concept.label":
            if p["label"] == current.display:
                raise ChangeError([Problem("payload.label", "betegnelsen er uændret")])
            problems = self._check_label(scheme, code, p["label"])
            if problems:
                raise ChangeError(problems)
            self._put(scheme, dataclasses.replace(current, display=p["label"]))
        elif change.kind == "concept.definition":
            self._put(scheme, dataclasses.replace(current, definition=p["definition"]))
        elif change.kind == "concept.note":
            self._put(scheme, dataclasses.replace(current, note=p["note"]))
        elif change.kind == "concept.move":
            parents = tuple(p["parents"])
            problems = self._check_parents(scheme, code, parents)
            if problems:
                raise ChangeError(problems)
            self._put(scheme, dataclasses.replace(current, parents=parents))
        elif change.kind == "concept.deprecate":
            if current.status != ACTIVE:
                raise ChangeError(
                    [Problem("payload.code", f"{scheme}/{code} er allerede {current.status}")]
                )
            replaced = tuple(p.get("replaced_by") or ())
            problems = self._check_replacements(scheme, code, replaced)
            if problems:
                raise ChangeError(problems)
            self._put(scheme, dataclasses.replace(current, status=DEPRECATED, replaced_by=replaced))
        elif change.kind == "concept.undeprecate":
            if current.status == ACTIVE:
                raise ChangeError([Problem("payload.code", f"{scheme}/{code} er ikke udfaset")])
            self._put(scheme, dataclasses.replace(current, status=ACTIVE, replaced_by=()))
        else:  # pragma: no cover - KINDS and this switch are kept together
            raise AssertionError(change.kind)

    def _check_label(self, scheme: str, code: str, label: str) -> list[Problem]:
        wanted = _norm(label)
        for other in self.concepts(scheme).values():
            if other.code != code and other.status == ACTIVE and _norm(other.display) == wanted:
                return [
                    Problem(
                        "payload.label",
                        f"betegnelsen {label!r} bruges allerede i {scheme} af {other.code}",
                    )
                ]
        return []

    def _check_parents(self, scheme: str, code: str, parents: tuple[str, ...]) -> list[Problem]:
        problems = []
        concepts = self.concepts(scheme)
        for i, parent in enumerate(parents):
            where = f"payload.parents[{i}]"
            if parent == code:
                problems.append(Problem(where, "et begreb kan ikke være sit eget overbegreb"))
            elif parent not in concepts:
                problems.append(Problem(where, f"ukendt begreb {scheme}/{parent}"))
            elif code in self._ancestors(scheme, parent) | {parent} and code in concepts:
                problems.append(
                    Problem(where, f"{parent} ligger under {code}: flytningen giver en cyklus")
                )
        return problems

    def _check_replacements(
        self, scheme: str, code: str, replaced: tuple[str, ...]
    ) -> list[Problem]:
        problems = []
        for i, r in enumerate(replaced):
            where = f"payload.replaced_by[{i}]"
            target = self.concept(scheme, r)
            if r == code:
                problems.append(Problem(where, "et begreb kan ikke erstatte sig selv"))
            elif target is None:
                problems.append(Problem(where, f"erstatningen {scheme}/{r} findes ikke"))
            elif target.status != ACTIVE:
                problems.append(Problem(where, f"erstatningen {scheme}/{r} er selv udfaset"))
        return problems

    def _apply_mapping(self, change: Change, p: dict[str, Any], on: date) -> None:
        ms = self.mapping_sets.get(p["set"])
        if ms is None:
            known = ", ".join(sorted(self.mapping_sets))
            msg = f"ukendt mapningssæt {p['set']!r} ({known})"
            raise ChangeError([Problem("payload.set", msg)])
        index = next(
            (
                i
                for i, m in enumerate(ms.mappings)
                if m.subject_code == p["subject"] and m.object_code == p["object"]
            ),
            None,
        )
        rows = list(ms.mappings)
        if change.kind == "mapping.add":
            if index is not None:
                raise ChangeError(
                    [Problem("payload.object", "mapningen findes allerede; brug mapping.change")]
                )
            subject, obj = self._mapping_ends(ms, p)
            rows.append(
                Mapping(
                    subject_system=ms.subject_system,
                    subject_code=p["subject"],
                    predicate="skos:" + _predicate(p["predicate"]),
                    object_system=ms.object_system,
                    object_code=p["object"],
                    status=PROPOSED,
                    author=change.author,
                    date=on,
                    justification=MANUAL_CURATION,
                    confidence=p.get("confidence"),
                    reason=change.reason,
                    comment=p.get("comment"),
                    subject_label=subject.display,
                    object_label=obj.display,
                )
            )
        else:
            if index is None:
                raise ChangeError(
                    [Problem("payload.object", f"{p['subject']} → {p['object']} er ikke mapnet")]
                )
            if change.kind == "mapping.remove":
                del rows[index]
            else:
                old = rows[index]
                values: dict[str, Any] = {
                    "author": change.author,
                    "date": on,
                    "status": PROPOSED,
                    "reason": change.reason,
                    "source": None,
                    "confidence_word": None,
                }
                if "predicate" in p:
                    values["predicate"] = "skos:" + _predicate(p["predicate"])
                if "confidence" in p:
                    values["confidence"] = p["confidence"]
                if "comment" in p:
                    values["comment"] = p["comment"]
                rows[index] = dataclasses.replace(old, **values)
        self.mapping_sets[ms.id] = dataclasses.replace(ms, mappings=tuple(rows))
        self.touched_sets.add(ms.id)

    def _mapping_ends(self, ms: MappingSet, p: dict[str, Any]) -> tuple[Concept, Concept]:
        problems, ends = [], []
        for role, system in (("subject", ms.subject_system), ("object", ms.object_system)):
            scheme = next((s for s, m in self.schemes.items() if m.system == system), None)
            concept = self.concept(scheme, p[role]) if scheme else None
            if concept is None:
                problems.append(Problem(f"payload.{role}", f"ukendt kode {p[role]!r} i {system}"))
            elif concept.status != ACTIVE:
                problems.append(Problem(f"payload.{role}", f"{p[role]!r} er {concept.status}"))
            ends.append(concept)
        if problems:
            raise ChangeError(problems)
        return ends[0], ends[1]

    def _apply_valueset(self, p: dict[str, Any]) -> None:
        url, doc = p["url"], p["definition"]
        old = self.valuesets.get(url)
        if old is None:
            raise ChangeError([Problem("payload.url", f"ukendt værdisæt {url}")])
        try:
            vs = read_valueset(doc, source=old.source)
        except SourceError as exc:
            where = f"payload.definition{_json_path(exc)}"
            raise ChangeError([Problem(where, exc.message)]) from None
        if vs.url != url:
            raise ChangeError([Problem("payload.definition.url", f"skal være {url}")])
        errors = ValueSetIndex(self._vocab, {url: vs}).check()
        if url in errors:
            msg = str(errors[url])
            raise ChangeError([Problem("payload.definition.compose", msg)])
        self.valuesets[url] = vs
        self.valueset_docs[url] = doc
        self.touched_valuesets.add(url)


def _predicate(value: str) -> str:
    return value.partition(":")[2] if ":" in value else value


def _json_path(exc: SourceError) -> str:
    loc = exc.location or ""
    return loc[1:] if loc.startswith("$") else ""
