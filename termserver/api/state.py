"""The current snapshot handle: the one piece of shared state, swapped atomically."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path

from termserver.kinds import KindIndex
from termserver.valuesets import ValueSetIndex
from termserver.vocabulary import Vocabulary


@dataclass(frozen=True)
class Snapshot:
    """Everything a request reads, built together so it is always consistent."""

    vocab: Vocabulary
    release: str
    valuesets: ValueSetIndex = field(default=None)  # type: ignore[assignment]
    kinds: KindIndex | None = None

    def __post_init__(self) -> None:
        if self.valuesets is None:
            object.__setattr__(self, "valuesets", ValueSetIndex(self.vocab, {}))


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


def build_snapshot(ontology: Path | None = None) -> Snapshot:
    """Load the content under ``ontology`` (default: the project's) into a snapshot."""
    from termserver.content import load_vocabulary, ontology_dir
    from termserver.core_model import load_core_model
    from termserver.valuesets import load_valuesets

    base = ontology or ontology_dir()
    vocab = load_vocabulary(base)
    vs_dir = base / "valuesets"
    defs = load_valuesets(vs_dir) if vs_dir.is_dir() else {}
    core_path = base / "ffb-core.ttl"
    kinds = KindIndex(vocab, load_core_model(core_path)) if core_path.exists() else None
    latest = max((s.version for s in vocab.schemes()), default="empty")
    return Snapshot(
        vocab=vocab,
        release=f"content-{latest}",
        valuesets=ValueSetIndex(vocab, defs),
        kinds=kinds,
    )
