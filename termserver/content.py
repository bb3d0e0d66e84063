"""Where the content lives and how it becomes a snapshot: ontology files → :class:`Vocabulary`."""

from __future__ import annotations

import os
from pathlib import Path

from termserver.model import SchemeRelease
from termserver.rdf_scheme import read_turtle
from termserver.vocabulary import Vocabulary

ENV_VAR = "TERMSERVER_ONTOLOGY"


def ontology_dir() -> Path:
    """The ontology directory: $TERMSERVER_ONTOLOGY, the repository's, or the installed copy."""
    override = os.environ.get(ENV_VAR)
    if override:
        return Path(override)
    here = Path(__file__).resolve().parent
    for candidate in (here.parent / "ontology", here / "_content" / "ontology"):
        if (candidate / "schemes").is_dir():
            return candidate
    raise FileNotFoundError(
        f"no ontology directory found next to {here}; set {ENV_VAR} to the folder holding schemes/"
    )


def scheme_files(directory: Path | None = None) -> list[Path]:
    """The generated scheme files, in a stable order."""
    base = directory or ontology_dir()
    return sorted((base / "schemes").glob("*.ttl"))


def read_releases(directory: Path | None = None) -> list[SchemeRelease]:
    """Read every scheme release under ``directory``/schemes."""
    return [read_turtle(p) for p in scheme_files(directory)]


def load_vocabulary(directory: Path | None = None) -> Vocabulary:
    """Build the snapshot of all content under the ontology directory."""
    base = directory or ontology_dir()
    return Vocabulary(read_releases(base), label=str(base))
