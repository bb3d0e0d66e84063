"""A concept across the releases of its scheme: which hold it and what changed between them.

The changes come from :mod:`termserver.diff` (the same classification the changelog and the
curation pages use); this module only picks out one concept and words each change in Danish.
"""

from __future__ import annotations

import threading
import weakref
from dataclasses import dataclass
from typing import TYPE_CHECKING

from termserver.model import Concept
from termserver.vocabulary import Vocabulary

# termserver.diff is imported by the functions, at the first history shown: deferred for
# start-up time.
if TYPE_CHECKING:
    from termserver.diff import ConceptChange, SchemeDiff

# A release pair is diffed once per snapshot, not once per page view: the whole scheme is
# compared, which for a large scheme costs far more than rendering a page.
_DIFFS: weakref.WeakKeyDictionary[Vocabulary, dict[tuple[str, str, str], SchemeDiff]] = (
    weakref.WeakKeyDictionary()
)
_LOCK = threading.Lock()


@dataclass(frozen=True, slots=True)
class Change:
    """One change from the previous release; ``before`` is the old text where it helps."""

    text: str
    before: str | None = None


@dataclass(frozen=True, slots=True)
class ReleaseEntry:
    """One release of the scheme and the concept as it stands there (None: not in it)."""

    version: str
    concept: Concept | None
    changes: tuple[Change, ...]


def _diff(vocab: Vocabulary, system: str, older: str, newer: str) -> SchemeDiff:
    key = (system, older, newer)
    with _LOCK:
        cached = _DIFFS.setdefault(vocab, {}).get(key)
    if cached is None:
        from termserver.diff import diff_versions

        cached = diff_versions(vocab, system, older, None, newer)
        with _LOCK:
            _DIFFS[vocab][key] = cached
    return cached


def _words(text: str | None) -> str:
    return " ".join((text or "").split())


def _status_da(status: object) -> str:
    from termserver.web.render import STATUS_DA

    return STATUS_DA.get(str(status), str(status))


def describe(change: ConceptChange) -> Change:
    """One classified change as a Danish sentence (and the old text, for definitions)."""
    from termserver.diff import (
        ADDED,
        MOVED,
        PROPERTY,
        REACTIVATED,
        REDEFINED,
        RELABELLED,
        REMOVED,
        RETIRED,
    )

    kind = change.kind
    if kind == ADDED:
        return Change("Ny i denne udgave")
    if kind == REMOVED:
        return Change("Ikke med i denne udgave")
    if kind in (RETIRED, REACTIVATED):
        return Change(
            f"Status ændret fra {_status_da(change.before)} til {_status_da(change.after)}"
        )
    if kind == RELABELLED:
        what = "Betegnelse" if change.label_type == "preferred" else "Alternative betegnelser"
        if change.language and change.language != "da":
            what += f" ({change.language})"
        if change.whitespace_only:
            return Change(f"{what}: kun mellemrum ændret")
        if isinstance(change.before, str) or isinstance(change.after, str):
            return Change(
                f"{what} ændret fra »{_words(change.before)}« til »{_words(change.after)}«"
            )
        return Change(f"{what} ændret")
    if kind == REDEFINED:
        if change.whitespace_only:
            return Change("Definition: kun mellemrum ændret")
        if not change.before:
            return Change("Definition tilføjet")
        return Change("Definition ændret", str(change.before).strip())
    if kind == MOVED:
        names = ", ".join(r.display for r in change.after) or "ingen"
        return Change(f"Flyttet i hierarkiet (overbegreb nu: {names})")
    if kind == PROPERTY:
        return Change(f"Egenskaben »{change.property}« ændret")
    return Change(kind)


def concept_history(vocab: Vocabulary, system: str, code: str) -> list[ReleaseEntry]:
    """Every release of ``system``, newest first, with ``code`` in it (or None) and what changed
    for it since the next older release."""
    versions = [m.version for m in vocab.versions(system)]
    entries = []
    for i, version in enumerate(versions):
        concept = vocab.get(system, code, version)
        if i + 1 < len(versions):
            diff = _diff(vocab, system, versions[i + 1], version)
            changes = tuple(describe(ch) for ch in diff.changes if ch.code == code)
        else:
            changes = (Change("Første udgave med begrebet"),) if concept is not None else ()
        entries.append(ReleaseEntry(version, concept, changes))
    return entries
