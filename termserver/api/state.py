"""The current snapshot handle: the one piece of shared state, swapped atomically."""

from __future__ import annotations

import os
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path

from termserver.errors import SourceError
from termserver.kinds import KindIndex
from termserver.translate import Translator
from termserver.valuesets import ValueSetIndex
from termserver.vocabulary import Vocabulary


@dataclass(frozen=True)
class Snapshot:
    """Everything a request reads, built together so it is always consistent."""

    vocab: Vocabulary
    release: str
    valuesets: ValueSetIndex = field(default=None)  # type: ignore[assignment]
    kinds: KindIndex | None = None
    translator: Translator = field(default=None)  # type: ignore[assignment]

    def __post_init__(self) -> None:
        if self.valuesets is None:
            object.__setattr__(self, "valuesets", ValueSetIndex(self.vocab, {}))
        if self.translator is None:
            object.__setattr__(self, "translator", Translator((), self.vocab))


class SnapshotHolder:
    """Holds the current :class:`Snapshot`.

    Readers take ``holder.current`` once per request and use that object throughout, so a swap in
    the middle of a request never mixes two releases. Assigning one attribute is atomic in
    CPython; the lock only serialises writers.
    """

    def __init__(self, snapshot: Snapshot) -> None:
        self._current = snapshot
        self._lock = threading.Lock()

    @property
    def current(self) -> Snapshot:
        return self._current

    def swap(self, snapshot: Snapshot) -> Snapshot:
        """Install a new snapshot; returns the previous one."""
        with self._lock:
            old, self._current = self._current, snapshot
        return old


def build_snapshot(ontology: Path | None = None, mappings: Path | None = None) -> Snapshot:
    """Load the content under ``ontology`` and ``mappings`` (default: the project's) into a
    snapshot.

    Mapping sets are read from ``mappings``, else $TERMSERVER_MAPPINGS, else the ``mappings``
    folder beside the ontology folder (none there: no mappings). A file that does not parse
    raises :class:`~termserver.mappings.MappingFileError`; sets naming codes the vocabulary does
    not hold raise :class:`MappingCheckError`; either way every problem is listed and a bad edit
    never reaches a server.
    """
    from termserver.content import load_vocabulary, ontology_dir
    from termserver.core_model import load_core_model
    from termserver.mappings import (
        MAPPINGS_ENV_VAR,
        check_mapping_sets,
        load_mapping_sets,
        mappings_dir,
    )
    from termserver.valuesets import load_valuesets

    base = ontology or ontology_dir()
    vocab = load_vocabulary(base).warm()  # the search index, ready for the first search
    vs_dir = base / "valuesets"
    defs = load_valuesets(vs_dir) if vs_dir.is_dir() else {}
    core_path = base / "ffb-core.ttl"
    kinds = KindIndex(vocab, load_core_model(core_path)) if core_path.exists() else None
    if mappings is None:
        beside = base.parent / "mappings"
        mappings = mappings_dir() if os.environ.get(MAPPINGS_ENV_VAR) else beside
    sets = load_mapping_sets(mappings) if mappings.is_dir() else []
    errors = [p for p in check_mapping_sets(sets, vocab) if p.severity == "error"]
    if errors:
        raise MappingCheckError(errors)
    latest = release_name(vocab)
    return Snapshot(
        vocab=vocab,
        release=f"content-{latest}",
        valuesets=ValueSetIndex(vocab, defs),
        kinds=kinds,
        translator=Translator(sets, vocab),
    )


def release_name(vocab: Vocabulary) -> str:
    """The newest dated release in the content (``20240530``), ignoring undated local tools."""
    dated = [
        v.replace("-", "")
        for v in (s.version for s in vocab.schemes())
        if re.fullmatch(r"\d{4}(-?\d{2}){0,2}", v)
    ]
    return max(dated, key=lambda v: v.ljust(8, "0"), default="empty")


class MappingCheckError(SourceError):
    """Mapping sets that read fine but name codes or systems the vocabulary does not have."""

    def __init__(self, problems: list) -> None:
        self.problems = problems
        lines = "\n".join(f"  {p}" for p in problems)
        super().__init__("mappings", None, f"{len(problems)} problem(s) in mapping sets:\n{lines}")


def reload_snapshot(
    holder: SnapshotHolder, ontology: Path | None = None, mappings: Path | None = None
) -> Snapshot:
    """Build a fresh snapshot from the files and install it; on any error keep serving the
    current one and raise (the caller reports every problem)."""
    fresh = build_snapshot(ontology, mappings)
    holder.swap(fresh)
    return fresh
