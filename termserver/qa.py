"""The QA report behind ``termserver check``: content problems, each with a rule id and severity.

Errors make ``check`` fail (cycles, dangling references, unreadable files, missing labels, codes
that vanish between releases, an inconsistent OWL model). Warnings describe the real data as it is
(KL's own duplicate labels, concepts the source gives no definition, labels that changed between
releases) and never fail the run.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

from termserver.errors import SourceError
from termserver.model import SchemeRelease
from termserver.rdf_scheme import read_turtle
from termserver.search import normalize
from termserver.vocabulary import version_key

ERROR = "error"
WARNING = "warning"
INFO = "information"


@dataclass(frozen=True, slots=True)
class Finding:
    """One QA finding: which rule, how bad, where, and what."""

    rule: str
    severity: str
    where: str
    message: str


@dataclass(frozen=True)
class QaReport:
    """All findings of one run, with counts per severity."""

    findings: tuple[Finding, ...]

    @property
    def errors(self) -> int:
        return sum(1 for f in self.findings if f.severity == ERROR)

    @property
    def warnings(self) -> int:
        return sum(1 for f in self.findings if f.severity == WARNING)

    @property
    def ok(self) -> bool:
        return self.errors == 0


def read_for_check(files: Iterable[Path]) -> tuple[list[SchemeRelease], list[Finding]]:
    """Read scheme files, turning unreadable ones into error findings instead of stopping."""
    releases, findings = [], []
    for path in files:
        try:
            releases.append(read_turtle(path))
        except SourceError as exc:
            findings.append(Finding("unreadable-file", ERROR, str(path), exc.message))
    return releases, findings


def check_releases(releases: list[SchemeRelease]) -> list[Finding]:
    """Run every content rule over the given releases."""
    findings: list[Finding] = []
    for rel in releases:
        findings.extend(_check_release(rel))
    findings.extend(_check_across_releases(releases))
    return findings


def _where(rel: SchemeRelease, code: str | None = None) -> str:
    s = rel.scheme
    base = f"{s.scheme} {s.version}"
    return f"{base} {code}" if code else base


def _check_release(rel: SchemeRelease) -> Iterator[Finding]:
    concepts = {c.code: c for c in rel.concepts}
    for c in rel.concepts:
        if not c.display.strip():
            yield Finding("missing-label", ERROR, _where(rel, c.code), "no preferred label")
        elif c.display == c.code:
            yield Finding("label-is-code", WARNING, _where(rel, c.code), "label is just the code")
        if c.definition is None or not c.definition.strip():
            yield Finding(
                "no-definition",
                WARNING,
                _where(rel, c.code),
                f"'{c.display.strip()}' has no definition in the source",
            )
        for p in c.parents:
            if p not in concepts:
                yield Finding(
                    "dangling-reference",
                    ERROR,
                    _where(rel, c.code),
                    f"broader {p!r} does not exist",
                )
        for r in c.replaced_by:
            if r not in concepts:
                yield Finding(
                    "dangling-reference",
                    ERROR,
                    _where(rel, c.code),
                    f"replacement {r!r} does not exist",
                )
            elif concepts[r].status == "retired":
                yield Finding(
                    "replaced-by-retired",
                    ERROR,
                    _where(rel, c.code),
                    f"replacement {r!r} is itself retired",
                )
        if c.status != "active" and not c.replaced_by:
            yield Finding(
                "retired-without-replacement",
                INFO,
                _where(rel, c.code),
                f"'{c.display.strip()}' is {c.status} with no replacement",
            )
    yield from _duplicate_labels(rel)
    yield from _cycles(rel, concepts)
    yield from _orphans(rel, concepts)


def _duplicate_labels(rel: SchemeRelease) -> Iterator[Finding]:
    by_label: dict[str, list] = defaultdict(list)
    for c in rel.concepts:
        if c.display.strip():
            by_label[normalize(c.display)].append(c)
    for same in by_label.values():
        if len(same) < 2:
            continue
        codes = ", ".join(c.code for c in same)
        label = same[0].display.strip()
        parents = {c.parents for c in same}
        if len(parents) < len(same):
            # Siblings with one label cannot be told apart in a picker. KL's FSIII does this on
            # purpose (a concept under its UUID and its legacy code): reported, not fatal.
            yield Finding(
                "duplicate-label-siblings",
                WARNING,
                _where(rel),
                f"'{label}' is used by siblings {codes}",
            )
        else:
            yield Finding(
                "duplicate-label",
                WARNING,
                _where(rel),
                f"'{label}' is used by {len(same)} concepts: {codes}",
            )


def _cycles(rel: SchemeRelease, concepts: dict) -> Iterator[Finding]:
    white, grey, black = 0, 1, 2
    colour = dict.fromkeys(concepts, white)
    reported: set[frozenset] = set()
    for start in concepts:
        if colour[start] != white:
            continue
        stack = [(start, iter(concepts[start].parents))]
        path = [start]
        colour[start] = grey
        while stack:
            code, it = stack[-1]
            nxt = next((p for p in it if p in concepts), None)
            if nxt is None:
                colour[code] = black
                stack.pop()
                path.pop()
                continue
            if colour[nxt] == grey:
                cycle = path[path.index(nxt) :]
                key = frozenset(cycle)
                if key not in reported:
                    reported.add(key)
                    chain = " → ".join([*cycle, nxt])
                    yield Finding(
                        "broader-cycle", ERROR, _where(rel, nxt), f"broader cycle: {chain}"
                    )
            elif colour[nxt] == white:
                colour[nxt] = grey
                path.append(nxt)
                stack.append((nxt, iter(concepts[nxt].parents)))


def _orphans(rel: SchemeRelease, concepts: dict) -> Iterator[Finding]:
    has_child = {p for c in concepts.values() for p in c.parents}
    roots = [c for c in concepts.values() if not c.parents]
    if len(roots) == len(concepts):
        return  # a flat list: no concept is an orphan
    for c in roots:
        if c.code not in has_child:
            yield Finding(
                "orphan",
                WARNING,
                _where(rel, c.code),
                f"'{c.display.strip()}' has neither broader nor narrower concepts",
            )


def _check_across_releases(releases: list[SchemeRelease]) -> Iterator[Finding]:
    by_system: dict[str, list[SchemeRelease]] = defaultdict(list)
    for rel in releases:
        by_system[rel.scheme.system].append(rel)
    for rels in by_system.values():
        rels.sort(key=lambda r: version_key(r.scheme.version))
        for older, newer in pairwise(rels):
            old = {c.code: c for c in older.concepts}
            for c in newer.concepts:
                before = old.get(c.code)
                if before is None or before.display == c.display:
                    continue
                kind = (
                    "whitespace only"
                    if before.display.strip() == c.display.strip()
                    else "relabelled"
                )
                yield Finding(
                    "display-changed",
                    WARNING,
                    f"{c.scheme} {older.scheme.version}→{newer.scheme.version} {c.code}",
                    f"{before.display!r} → {c.display!r} ({kind})",
                )
            for code in old.keys() - {c.code for c in newer.concepts}:
                yield Finding(
                    "code-removed",
                    ERROR,
                    f"{older.scheme.scheme} {older.scheme.version}→{newer.scheme.version} {code}",
                    "code disappeared instead of being retired",
                )


def check_core_references(
    core_targets: Iterable[tuple[str, str]], known_iris: set[str]
) -> list[Finding]:
    """Every concept the OWL model points at (kind roots, goal categories) must exist."""
    return [
        Finding(
            "dangling-reference",
            ERROR,
            f"ffb-core {subject}",
            f"points at unknown concept {target}",
        )
        for subject, target in core_targets
        if target not in known_iris
    ]


def run_check(directory: Path | None = None, *, owl: bool = True) -> QaReport:
    """Check all content under the ontology directory; ``owl`` also runs the reasoner."""
    from termserver.content import ontology_dir, scheme_files
    from termserver.core_model import load_core_model

    base = directory or ontology_dir()
    releases, findings = read_for_check(scheme_files(base))
    if not releases and not findings:
        findings.append(Finding("no-content", ERROR, str(base), "no scheme files under schemes/"))
    findings.extend(check_releases(releases))
    core_path = base / "ffb-core.ttl"
    known = {c.iri for rel in releases for c in rel.concepts}
    try:
        core = load_core_model(core_path)
    except (SourceError, OSError) as exc:
        findings.append(Finding("unreadable-file", ERROR, str(core_path), str(exc)))
    else:
        targets = [(k.iri, k.root_concept) for k in core.kinds if k.root_concept]
        targets += list(core.goal_categories.items())
        findings.extend(check_core_references(targets, known))
        if owl:
            findings.extend(_owl_findings(core_path))
    findings.extend(_valueset_findings(base, releases))
    findings.extend(_mapping_findings(base, releases))
    return QaReport(tuple(findings))


def _mapping_findings(base: Path, releases: list[SchemeRelease]) -> list[Finding]:
    """Mapping QA and coverage (termserver.mapping_qa) over the mapping sets beside the
    ontology directory, or under $TERMSERVER_MAPPINGS."""
    import os

    from termserver.mapping_qa import mapping_findings
    from termserver.mappings import MAPPINGS_ENV_VAR
    from termserver.vocabulary import Vocabulary

    directory = None if os.environ.get(MAPPINGS_ENV_VAR) else base.parent / "mappings"
    if directory is not None and not directory.is_dir():
        return []
    try:
        vocab = Vocabulary(releases)
    except ValueError as exc:
        return [Finding("unusable-content", ERROR, str(base), str(exc))]
    return mapping_findings(vocab, directory)


def _valueset_findings(base: Path, releases: list[SchemeRelease]) -> list[Finding]:
    """Every value set definition must read and expand against the content."""
    from termserver.valuesets import ValueSetIndex, load_valuesets
    from termserver.vocabulary import Vocabulary

    directory = base / "valuesets"
    if not directory.is_dir():
        return []
    try:
        defs = load_valuesets(directory)
    except SourceError as exc:
        return [Finding("unreadable-file", ERROR, exc.source, str(exc))]
    try:
        vocab = Vocabulary(releases)
    except ValueError as exc:
        return [Finding("unusable-content", ERROR, str(base), str(exc))]
    index = ValueSetIndex(vocab, defs)
    broken = index.check()
    found = [Finding("valueset-broken", ERROR, url, exc.message) for url, exc in broken.items()]
    for vs in index.definitions():
        if vs.url not in broken and index.expand(vs.url, count=0).total == 0:
            found.append(Finding("valueset-empty", WARNING, vs.url, "expands to no codes"))
    return found


def _owl_findings(core_path: Path) -> list[Finding]:
    from termserver.errors import TermserverError
    from termserver.owl_check import check_owl_consistency

    try:
        report = check_owl_consistency(core_path)
    except TermserverError as exc:
        return [Finding("owl-reasoner-failed", ERROR, str(core_path), str(exc))]
    found = []
    if not report.consistent:
        found.append(Finding("owl-inconsistent", ERROR, str(core_path), report.message))
    for cls in report.unsatisfiable:
        found.append(
            Finding("owl-unsatisfiable-class", ERROR, str(core_path), f"{cls} can have no members")
        )
    if not found:
        found.append(
            Finding(
                "owl-consistent",
                INFO,
                str(core_path),
                f"HermiT: consistent ({report.classes} classes, {report.properties} properties)",
            )
        )
    return found
