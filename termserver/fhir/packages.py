"""FHIR npm packages and the FHIR core terminology the server ships.

``termserver serve --fhir-package PATH`` (repeatable; an npm package ``.tgz`` or an unpacked
package folder) lays a package's CodeSystems, ValueSets and ConceptMaps under the FHIR API the
way ``--fhir-dir`` does, except that a package is other people's content: a resource our loader
cannot use is skipped and counted in the log, never a reason not to start. The FHIR core code
systems and value sets (``hl7.fhir.r5.core``, CC0; ``data/fhir-core/``, see its SOURCES.md) are
loaded the same way with ``--fhir-core`` (opt-in: measured in CONFORMANCE.md, they make every
request-scoped ``tx-resource`` overlay ~6x dearer to build). Both lie *beneath* the
snapshot: KL's own content wins any conflict, and only ``/fhir`` sees them (the web pages and
``/api`` stay FFB-only).
"""

from __future__ import annotations

import gzip
import logging
import os
import tarfile
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import orjson

from termserver.errors import SourceError
from termserver.fhir.outcome import FhirError
from termserver.fhir.overlay import (
    OVERLAY_TYPES,
    StartupView,
    fhir_dirs_from_env,
    load_fhir_dirs,
    parse_resources,
)

log = logging.getLogger(__name__)

#: Where ``termserver serve --fhir-package`` hands its packages to the app (os.pathsep-separated).
FHIR_PACKAGES_ENV = "TERMSERVER_FHIR_PACKAGES"
#: Set to ``1`` by ``termserver serve --fhir-core``: the shipped FHIR core content is loaded.
FHIR_CORE_ENV = "TERMSERVER_FHIR_CORE"
CORE_FILE = "fhir-core-terminology.json.gz"
MAX_MEMBER_BYTES = 50_000_000  # one resource file; FHIR core's largest is under 3 MB
MAX_PACKAGE_FILES = 50_000


def core_path() -> Path:
    """The shipped FHIR core bundle (the repository's copy, or the installed one)."""
    here = Path(__file__).resolve().parent.parent
    for candidate in (here.parent / "data" / "fhir-core", here / "_content" / "fhir-core"):
        if (candidate / CORE_FILE).is_file():
            return candidate / CORE_FILE
    raise FileNotFoundError(f"no {CORE_FILE} next to {here}")


def read_package(path: Path) -> list[dict[str, Any]]:
    """The CodeSystems, ValueSets and ConceptMaps of one npm package (``.tgz``, or a folder
    holding ``package/`` or the package's files), in file-name order. Raises
    :class:`SourceError` naming the package (and file) when it cannot be read at all."""
    found: list[tuple[str, dict[str, Any]]] = []
    for name, data in _members(path):
        try:
            doc = orjson.loads(data.removeprefix(b"\xef\xbb\xbf"))
        except orjson.JSONDecodeError as exc:
            raise SourceError(f"{path}:{name}", None, f"not valid JSON: {exc}") from None
        if isinstance(doc, dict) and doc.get("resourceType") in OVERLAY_TYPES:
            found.append((name, doc))
    return [doc for _, doc in sorted(found, key=lambda item: item[0])]


def _members(path: Path) -> Iterator[tuple[str, bytes]]:
    """``(name, bytes)`` of the package's resource files (``package/*.json``, not its
    ``package.json``, index or examples folder)."""
    if path.is_dir():
        root = path / "package" if (path / "package").is_dir() else path
        files = sorted(p for p in root.glob("*.json") if not _is_metadata(p.name))
        if len(files) > MAX_PACKAGE_FILES:
            raise SourceError(str(path), None, f"more than {MAX_PACKAGE_FILES} files")
        for p in files:
            if p.stat().st_size > MAX_MEMBER_BYTES:
                raise SourceError(str(p), None, f"larger than {MAX_MEMBER_BYTES} bytes")
            yield p.name, p.read_bytes()
        return
    if not path.is_file():
        raise SourceError(str(path), None, "no such package file or folder")
    try:
        with tarfile.open(path, "r:*") as tar:
            count = 0
            for member in tar:
                folder, _, name = member.name.removeprefix("./").rpartition("/")
                if folder != "package" or not name.endswith(".json") or _is_metadata(name):
                    continue
                count += 1
                if count > MAX_PACKAGE_FILES or member.size > MAX_MEMBER_BYTES:
                    raise SourceError(f"{path}:{member.name}", None, "too large a package")
                handle = tar.extractfile(member) if member.isfile() else None
                if handle is not None:  # links and folders hold no resource
                    yield name, handle.read()
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise SourceError(str(path), None, f"not a readable npm package: {exc}") from None


def _is_metadata(name: str) -> bool:
    return name in ("package.json", ".index.json", ".index.db") or name.startswith(".")


def usable(resources: Sequence[dict[str, Any]], where: str) -> list[dict[str, Any]]:
    """The resources our loader can use; the others are skipped, counted per reason in the log
    (a package is others' content: one odd resource must not stop the server)."""
    try:
        parse_resources(resources, where=where, limit=None)
        return list(resources)  # the usual case: one pass
    except FhirError:
        pass
    kept, skipped = [], Counter[str]()
    for doc in resources:
        try:
            parse_resources([doc], where=where, single=True)
            kept.append(doc)
        except FhirError as exc:
            skipped[f"{doc.get('resourceType')}: {exc.diagnostics.rpartition(': ')[2]}"] += 1
    for reason, n in sorted(skipped.items()):
        log.warning("%s: %d resource(s) skipped (%s)", where, n, reason)
    return kept


def load_fhir_packages(paths: Sequence[Path]) -> list[dict[str, Any]]:
    """The usable resources of every package in ``paths`` (later packages win a conflict)."""
    out: list[dict[str, Any]] = []
    for path in paths:
        out += usable(read_package(path), where=str(path))
    return out


def load_fhir_core() -> list[dict[str, Any]]:
    """The shipped FHIR core CodeSystems and ValueSets (a gzipped collection Bundle)."""
    path = core_path()
    try:
        bundle = orjson.loads(gzip.decompress(path.read_bytes()))
    except (OSError, EOFError, orjson.JSONDecodeError) as exc:
        raise SourceError(str(path), None, f"not a gzipped FHIR Bundle: {exc}") from None
    entries = bundle.get("entry") if isinstance(bundle, dict) else None
    if not isinstance(entries, list):
        raise SourceError(str(path), "$.entry", "required element is missing")
    docs = [e.get("resource") for e in entries if isinstance(e, dict)]
    return usable([d for d in docs if isinstance(d, dict)], where=str(path))


def fhir_packages_from_env() -> list[Path]:
    """The packages ``termserver serve --fhir-package`` named, if any."""
    value = os.environ.get(FHIR_PACKAGES_ENV, "")
    return [Path(p) for p in value.split(os.pathsep) if p]


def core_enabled() -> bool:
    """FHIR core content is on with ``--fhir-core`` (``TERMSERVER_FHIR_CORE=1``)."""
    return os.environ.get(FHIR_CORE_ENV, "") in ("1", "true", "yes")


def startup_view() -> StartupView:
    """What the FHIR API lays over every snapshot, from the ``serve`` options: FHIR core and
    packages beneath it, ``--fhir-dir`` folders over it."""
    beneath = load_fhir_core() if core_enabled() else []
    beneath += load_fhir_packages(fhir_packages_from_env())
    return StartupView(load_fhir_dirs(fhir_dirs_from_env()), beneath=beneath)
