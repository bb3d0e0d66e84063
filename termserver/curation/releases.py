"""Releases: immutable, numbered directories of content, and the crash-safe way to make one.

Layout of the data directory::

    <data>/releases/content-20240530/     release 0, seeded from the repository's files
    <data>/releases/r1-20260101/          one directory per published release:
        ontology/schemes/*.ttl            every scheme release (unchanged files are hard links)
        ontology/valuesets/*.json, ffb-core.ttl
        mappings/*.yaml                   the mapping sets
        fhir/*.json                       CodeSystems, ConceptMaps and ValueSets new in it
        changelog.md                      what changed, who proposed and approved it
        release.json                      the manifest: number, parent, changes, file hashes
    <data>/current -> releases/r1-...     the release the server answers from

A release is built in a temporary directory, every file fsynced, renamed into place, and only
then does ``current`` flip (a symlink replaced with ``rename``, which is atomic). A crash at any
moment leaves ``current`` on a complete release; :meth:`DataDir.recover` removes leftovers.

An edited scheme gets a new version ``<official version>-curated.<release number>`` beside the
old one, so the official release keeps answering by its version and the curated one is newest.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
import secrets
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from termserver.curation.changes import Change, ChangeError, Problem
from termserver.curation.workspace import Workspace
from termserver.errors import TermserverError
from termserver.iris import scheme_version_iri
from termserver.model import SchemeRelease
from termserver.vocabulary import version_key

CURRENT = "current"
RELEASES = "releases"
MANIFEST = "release.json"
CHANGELOG = "changelog.md"
_TMP = ".tmp-"
_CURATED = re.compile(r"-curated\.\d+$")

Stage = Callable[[str], None]


class ReleaseError(TermserverError):
    """A release that cannot be built or found."""


@dataclass(frozen=True)
class ReleaseInfo:
    """A release's manifest."""

    number: int
    name: str
    parent: str | None
    created_at: str
    created_by: str
    path: Path
    changes: tuple[dict[str, Any], ...] = ()
    scheme_versions: dict[str, str] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)

    def manifest(self) -> dict[str, Any]:
        """The JSON form written to ``release.json``."""
        return {
            "number": self.number,
            "name": self.name,
            "parent": self.parent,
            "created_at": self.created_at,
            "created_by": self.created_by,
            "changes": list(self.changes),
            "scheme_versions": self.scheme_versions,
            "files": self.files,
        }


def _read_manifest(path: Path) -> ReleaseInfo:
    doc = json.loads((path / MANIFEST).read_text("utf-8"))
    return ReleaseInfo(
        number=int(doc["number"]),
        name=doc["name"],
        parent=doc.get("parent"),
        created_at=doc["created_at"],
        created_by=doc["created_by"],
        path=path,
        changes=tuple(doc.get("changes", ())),
        scheme_versions=dict(doc.get("scheme_versions", {})),
        files=dict(doc.get("files", {})),
    )


def curated_version(version: str, number: int) -> str:
    """The version an edited scheme gets in release ``number``: ``20240530-curated.3``."""
    return f"{_CURATED.sub('', version)}-curated.{number}"


# --- durable file writing -----------------------------------------------------------------------


def _write(path: Path, data: bytes) -> None:
    """Write a new file and fsync it. Never writes through an existing name: the directory may
    hold hard links shared with older releases, which must not change."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists():
        path.unlink()
    with open(path, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _link_tree(src: Path, dst: Path) -> None:
    """Copy a release's files by hard link (they are immutable), falling back to a real copy."""
    for path in sorted(src.rglob("*")):
        rel = path.relative_to(src)
        target = dst / rel
        if path.is_dir():
            target.mkdir(parents=True, exist_ok=True)
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(path, target)
        except OSError:
            shutil.copy2(path, target)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _content_files(root: Path) -> dict[str, str]:
    out = {}
    for path in sorted(root.rglob("*")):
        if path.is_file() and path.name != MANIFEST:
            out[path.relative_to(root).as_posix()] = _sha256(path)
    return out


# --- the data directory -------------------------------------------------------------------------


class DataDir:
    """The releases under one data directory and the ``current`` pointer."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.releases_dir = self.root / RELEASES
        self.pointer = self.root / CURRENT

    def exists(self) -> bool:
        """True once a first release has been seeded."""
        return self.pointer.is_symlink()

    def current_name(self) -> str:
        """The name of the current release (a cheap readlink, for replicas that poll)."""
        return Path(os.readlink(self.pointer)).name

    def current(self) -> ReleaseInfo:
        """The manifest of the current release."""
        if not self.exists():
            raise ReleaseError(f"{self.root} har ingen udgivelse endnu")
        return _read_manifest(self.releases_dir / self.current_name())

    def releases(self) -> list[ReleaseInfo]:
        """Every complete release, oldest first."""
        if not self.releases_dir.is_dir():
            return []
        found = [
            _read_manifest(p)
            for p in self.releases_dir.iterdir()
            if not p.name.startswith(".") and (p / MANIFEST).is_file()
        ]
        return sorted(found, key=lambda r: r.number)

    def release(self, name: str) -> ReleaseInfo:
        """One release by name or number."""
        for r in self.releases():
            if r.name == name or str(r.number) == name:
                return r
        raise ReleaseError(f"ukendt udgivelse {name!r}")

    def verify(self, info: ReleaseInfo) -> list[str]:
        """Files of a release whose content differs from its manifest (empty when intact)."""
        have = _content_files(info.path)
        bad = [name for name, digest in info.files.items() if have.get(name) != digest]
        bad += [name for name in have if name not in info.files]
        return sorted(bad)

    def recover(self) -> list[str]:
        """Remove what an interrupted publish left behind; returns what was removed.

        Temporary directories never became releases. A complete release directory newer than
        ``current`` was renamed into place but never made current: its changes are still
        "approved" in the database, so it is removed and the next publish makes it again.
        """
        removed = []
        self.releases_dir.mkdir(parents=True, exist_ok=True)
        for p in self.root.glob(f"{CURRENT}{_TMP}*"):
            p.unlink(missing_ok=True)
            removed.append(p.name)
        current = self.current().number if self.exists() else -1
        for p in list(self.releases_dir.iterdir()):
            orphan = p.name.startswith(_TMP)
            if not orphan and (p / MANIFEST).is_file():
                orphan = _read_manifest(p).number > current
            elif not orphan:
                orphan = True  # a directory without a manifest is not a release
            if orphan:
                shutil.rmtree(p) if p.is_dir() else p.unlink()
                removed.append(p.name)
        return removed

    def _stage_dir(self, name: str) -> Path:
        tmp = self.releases_dir / f"{_TMP}{name}-{secrets.token_hex(4)}"
        tmp.mkdir(parents=True)
        return tmp

    def _commit(self, tmp: Path, info: ReleaseInfo, on_stage: Stage | None) -> ReleaseInfo:
        """Manifest, fsync, rename into place, flip ``current``."""
        final = self.releases_dir / info.name
        if final.exists():
            raise ReleaseError(f"udgivelsen {info.name} findes allerede")
        info = dataclasses.replace(info, files=_content_files(tmp), path=final)
        _write(tmp / MANIFEST, json.dumps(info.manifest(), indent=2, ensure_ascii=False).encode())
        for d in sorted({p.parent for p in tmp.rglob("*")} | {tmp}):
            _fsync_dir(d)
        _stage(on_stage, "written")
        os.rename(tmp, final)
        _fsync_dir(self.releases_dir)
        _stage(on_stage, "renamed")
        link = self.root / f"{CURRENT}{_TMP}{secrets.token_hex(4)}"
        os.symlink(Path(RELEASES) / info.name, link)
        os.replace(link, self.pointer)
        _fsync_dir(self.root)
        _stage(on_stage, "current")
        return info

    def seed(self, ontology: Path, mappings: Path, actor: str = "system") -> ReleaseInfo:
        """Make release 0 from the repository's files (once, on first start)."""
        from termserver.api.state import build_snapshot

        self.root.mkdir(parents=True, exist_ok=True)
        self.recover()
        tmp = self._stage_dir("seed")
        try:
            shutil.copytree(ontology, tmp / "ontology", ignore=shutil.ignore_patterns(".*"))
            (tmp / "mappings").mkdir()
            for p in sorted(mappings.iterdir()):
                if p.is_file() and not p.name.startswith("."):
                    shutil.copy2(p, tmp / "mappings" / p.name)
            snap = build_snapshot(tmp / "ontology", tmp / "mappings")
            name = f"content-{content_version(snap.vocab)}"
            _write(
                tmp / CHANGELOG,
                f"# {name}\n\nUdgangspunkt: projektets filer (ontology/, mappings/).\n".encode(),
            )
            info = ReleaseInfo(0, name, None, _now(), actor, tmp)
            return self._commit(tmp, info, None)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp)

    def load(self, info: ReleaseInfo) -> Any:
        """The snapshot of a release, named after it."""
        from termserver.api.state import build_snapshot

        snap = build_snapshot(info.path / "ontology", info.path / "mappings")
        return dataclasses.replace(snap, release=info.name)

    def build(
        self,
        parent: ReleaseInfo,
        parent_snapshot: Any,
        changes: list[Change],
        actor: str,
        *,
        on: date | None = None,
        on_stage: Stage | None = None,
    ) -> tuple[ReleaseInfo, Any]:
        """Apply ``changes`` (in order) to ``parent`` and publish the result as the next release.

        Returns the new manifest and snapshot. Raises :class:`ChangeError` (naming the change) if
        a change no longer fits; nothing is written then.
        """
        day = on or datetime.now(UTC).date()
        ws = Workspace(parent_snapshot)
        for c in changes:
            try:
                ws.apply(c, day)
            except ChangeError as exc:
                raise ChangeError(
                    [Problem(f"ændring #{c.id}.{p.where}", p.message) for p in exc.problems]
                ) from None
        number = parent.number + 1
        name = f"r{number}-{day:%Y%m%d}"
        tmp = self._stage_dir(name)
        try:
            _link_tree(parent.path / "ontology", tmp / "ontology")
            _link_tree(parent.path / "mappings", tmp / "mappings")
            versions = _write_schemes(ws, tmp, number, name)
            _write_mapping_sets(ws, tmp, name, day)
            _write_valuesets(ws, tmp)
            snap = self.load(ReleaseInfo(number, name, parent.name, "", actor, tmp))
            _write_fhir(ws, snap, versions, tmp)
            entries = tuple(_entry(c) for c in changes)
            _write(
                tmp / CHANGELOG,
                changelog(name, parent.name, entries, parent_snapshot, snap).encode("utf-8"),
            )
            info = ReleaseInfo(number, name, parent.name, _now(), actor, tmp, entries, versions)
            info = self._commit(tmp, info, on_stage)
            return info, snap
        finally:
            if tmp.exists():
                shutil.rmtree(tmp)


def _stage(on_stage: Stage | None, name: str) -> None:
    if on_stage is not None:
        on_stage(name)


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def content_version(vocab: Any) -> str:
    """What release 0 is named after: FFB's newest version, else the newest of any scheme."""
    versions = [s.version for s in vocab.schemes() if s.scheme == "ffb"] or [
        s.version for s in vocab.schemes() if s.version[:1].isdigit()
    ]
    return max(versions, key=version_key) if versions else "empty"


def _entry(c: Change) -> dict[str, Any]:
    return {
        "id": c.id,
        "kind": c.kind,
        "target": c.target,
        "payload": c.payload,
        "reason": c.reason,
        "author": c.author,
        "approved_by": c.decided_by,
        "description": c.describe(),
    }


def _write_schemes(ws: Workspace, tmp: Path, number: int, name: str) -> dict[str, str]:
    from termserver.importer import scheme_file_name
    from termserver.rdf_scheme import write_turtle

    versions = {}
    for scheme in sorted(ws.touched_schemes):
        old = ws.schemes[scheme]
        version = curated_version(old.version, number)
        meta = dataclasses.replace(
            old,
            version=version,
            iri=scheme_version_iri(scheme, version),
            fhir_id=None,
            source=f"termserver-kuratering, udgivelse {name} (bygger på {old.version})",
            source_sha256=None,
        )
        concepts = tuple(
            dataclasses.replace(c, version=version) for _, c in sorted(ws.concepts(scheme).items())
        )
        target = tmp / "ontology" / "schemes" / scheme_file_name(scheme, version)
        _write(target, write_turtle(SchemeRelease(meta, concepts)))
        versions[scheme] = version
    return versions


def _write_mapping_sets(ws: Workspace, tmp: Path, name: str, day: date) -> None:
    from termserver.mappings import mapping_set_yaml

    for set_id in sorted(ws.touched_sets):
        ms = dataclasses.replace(ws.mapping_sets[set_id], version=day.isoformat())
        header = f"Skrevet af termserver ved udgivelse {name}; rediger via kurateringen."
        _write(tmp / "mappings" / f"{set_id}.yaml", mapping_set_yaml(ms, header).encode("utf-8"))


def _write_valuesets(ws: Workspace, tmp: Path) -> None:
    for url in sorted(ws.touched_valuesets):
        vs = ws.valuesets[url]
        doc = ws.valueset_docs[url]
        _write(
            tmp / "ontology" / "valuesets" / vs.source,
            (json.dumps(doc, indent=2, ensure_ascii=False) + "\n").encode("utf-8"),
        )


def _write_fhir(ws: Workspace, snap: Any, versions: dict[str, str], tmp: Path) -> None:
    from termserver.fhir.conceptmap_ops import conceptmap_resource
    from termserver.fhir.resources import codesystem_resource
    from termserver.fhir.valueset_ops import valueset_resource

    out: dict[str, dict[str, Any]] = {}
    for scheme, version in versions.items():
        meta = snap.vocab.release(snap.vocab.system_of(scheme), version)
        res = codesystem_resource(snap.vocab, meta)
        out[f"CodeSystem-{res['id']}.json"] = res
    for set_id in ws.touched_sets:
        ms = snap.translator.mapping_set(set_id)
        out[f"ConceptMap-{set_id}.json"] = conceptmap_resource(ms, snap.vocab)
    for url in ws.touched_valuesets:
        vs = snap.valuesets.get(url)
        res = valueset_resource(vs)
        out[f"ValueSet-{res['id']}.json"] = res
    for file_name, res in sorted(out.items()):
        text = json.dumps(res, indent=2, ensure_ascii=False) + "\n"
        _write(tmp / "fhir" / file_name, text.encode("utf-8"))


def changelog(
    name: str, parent: str, entries: tuple[dict[str, Any], ...], before: Any, after: Any
) -> str:
    """The release notes: the approved changes with who proposed and approved them, then the
    classified diff against the parent release (:mod:`termserver.diff`)."""
    lines = [f"# {name}", "", f"Bygger på {parent}. {len(entries)} godkendte ændringer:", ""]
    for e in entries:
        lines.append(f"- {e['description']}; godkendt af {e['approved_by']}")
    lines += ["", release_diff_markdown(before, after, parent, name).strip()]
    return "\n".join(lines) + "\n"


def release_diff(before: Any, after: Any, label_a: str, label_b: str) -> Any:
    """The classified diff between two release snapshots (concepts and mappings)."""
    from termserver.diff import diff_releases

    return diff_releases(
        before.vocab,
        after.vocab,
        mapping_sets_a=before.translator.mapping_sets,
        mapping_sets_b=after.translator.mapping_sets,
        label_a=label_a,
        label_b=label_b,
    )


def release_diff_markdown(before: Any, after: Any, label_a: str, label_b: str) -> str:
    """:func:`release_diff` as the Danish Markdown changelog."""
    from termserver.diff import changelog_markdown

    return changelog_markdown(release_diff(before, after, label_a, label_b))
