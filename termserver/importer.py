"""`termserver import`: FHIR CodeSystem JSON in, a SKOS Turtle file per release out.

Output is written to a temporary file in the target directory and renamed into place, so a
failed or interrupted import never leaves half a file behind.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from termserver.loading.fhir_codesystem import read_codesystem_file
from termserver.rdf_scheme import write_turtle


@dataclass(frozen=True)
class ImportResult:
    """What one import wrote."""

    source: str
    target: Path
    scheme: str
    version: str
    concepts: int
    changed: bool


def scheme_file_name(scheme: str, version: str) -> str:
    """The file a release is written to under ``ontology/schemes``."""
    return f"{scheme}-{version}.ttl"


def import_codesystem(
    path: str | Path,
    out_dir: str | Path,
    *,
    scheme_id: str | None = None,
    default_language: str = "da",
) -> ImportResult:
    """Import one CodeSystem file into ``out_dir``; a no-op when the output would not change."""
    path = Path(path)
    release = read_codesystem_file(
        path, scheme_id=scheme_id, default_language=default_language, source_name=path.name
    )
    data = write_turtle(release)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / scheme_file_name(release.scheme.scheme, release.scheme.version)
    changed = not target.exists() or target.read_bytes() != data
    if changed:
        atomic_write(target, data)
    return ImportResult(
        source=str(path),
        target=target,
        scheme=release.scheme.scheme,
        version=release.scheme.version,
        concepts=len(release.concepts),
        changed=changed,
    )


def atomic_write(target: Path, data: bytes) -> None:
    """Write ``data`` to ``target`` so readers see either the old or the new file, never half."""
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; the file is part of the repository
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
