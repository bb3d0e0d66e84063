"""The vocabulary snapshot: every release of every scheme, immutable and fully indexed.

Everything that answers a term question (CLI, JSON API, FHIR operations, web pages, validation)
reads one of these. Reads are plain dictionary and set lookups, so they need no locks and cost
well under a microsecond; building one is the only expensive step.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from termserver.errors import UnknownConceptError
from termserver.iris import split_concept_iri
from termserver.model import RETIRED, Concept, SchemeRelease, SchemeVersion
from termserver.search import LabelIndex

EQUIVALENT = "equivalent"
SUBSUMES = "subsumes"
SUBSUMED_BY = "subsumed-by"
NOT_SUBSUMED = "not-subsumed"


@dataclass(frozen=True, slots=True)
class SearchHit:
    """One search result: the concept, its score (higher is better) and the label that matched."""

    concept: Concept
    score: float
    matched: str


class _Release:
    """Indexes of one release; internal to the snapshot."""

    __slots__ = ("ancestors", "children", "concepts", "meta")

    def __init__(self, release: SchemeRelease) -> None:
        self.meta = release.scheme
        self.concepts: dict[str, Concept] = {c.code: c for c in release.concepts}
        children: dict[str, list[str]] = {code: [] for code in self.concepts}
        for c in release.concepts:
            for p in c.parents:
                if p in children:
                    children[p].append(c.code)
        self.children: dict[str, tuple[str, ...]] = {
            k: tuple(sorted(v, key=lambda code: self.concepts[code].display))
            for k, v in children.items()
        }
        self.ancestors: dict[str, frozenset[str]] = _transitive_parents(self.concepts)


def _transitive_parents(concepts: dict[str, Concept]) -> dict[str, frozenset[str]]:
    """Ancestor sets for all codes; cycles are tolerated (``termserver check`` reports them).

    A topological pass (Kahn) settles every concept not on or below a cycle in one visit each;
    whatever is left goes through a cycle-safe walk.
    """
    empty: frozenset[str] = frozenset()
    pending: dict[str, int] = {}
    kids: dict[str, list[str]] = {}
    for code, c in concepts.items():
        ps = [p for p in c.parents if p in concepts]
        pending[code] = len(ps)
        for p in ps:
            kids.setdefault(p, []).append(code)
    done: dict[str, frozenset[str]] = {}
    queue = [code for code, n in pending.items() if n == 0]
    while queue:
        code = queue.pop()
        ps = [p for p in concepts[code].parents if p in concepts]
        if not ps:
            done[code] = empty
        elif len(ps) == 1:
            done[code] = done[ps[0]] | {ps[0]}
        else:
            acc: set[str] = set(ps)
            for p in ps:
                acc |= done[p]
            done[code] = frozenset(acc)
        for k in kids.get(code, ()):
            pending[k] -= 1
            if pending[k] == 0:
                queue.append(k)
    if len(done) == len(concepts):
        return done
    for start in concepts:
        if start in done:
            continue
        # Iterative post-order walk: deep hierarchies must not hit Python's recursion limit.
        stack: list[tuple[str, int]] = [(start, 0)]
        on_path: set[str] = {start}
        while stack:
            code, i = stack[-1]
            parents = [p for p in concepts[code].parents if p in concepts]
            if i < len(parents):
                stack[-1] = (code, i + 1)
                p = parents[i]
                if p not in done and p not in on_path:
                    on_path.add(p)
                    stack.append((p, 0))
                continue
            stack.pop()
            on_path.discard(code)
            acc: set[str] = set()
            for p in parents:
                acc.add(p)
                acc |= done.get(p, frozenset())
            acc.discard(code)
            done[code] = frozenset(acc)
    return done


def version_key(version: str) -> tuple:
    """Sort key that orders ``20240530`` after ``20230517`` and ``1.10`` after ``1.9``."""
    return tuple(
        (0, int(p), "") if p.isdigit() else (1, 0, p) for p in re.split(r"[.\-+]", version)
    )


class Vocabulary:
    """An immutable snapshot of all schemes and releases, with lookup, hierarchy and search."""

    def __init__(self, releases: Iterable[SchemeRelease], *, label: str = "") -> None:
        self._assemble([_Release(r) for r in releases], label)

    def _assemble(self, releases: list[_Release], label: str) -> None:
        self.label = label
        by_system: dict[str, dict[str, _Release]] = {}
        scheme_system: dict[str, str] = {}
        for rel in releases:
            meta = rel.meta
            known = scheme_system.setdefault(meta.scheme, meta.system)
            if known != meta.system:
                raise ValueError(
                    f"scheme {meta.scheme!r} has two system URLs: {known} and {meta.system}"
                )
            versions = by_system.setdefault(meta.system, {})
            if meta.version in versions:
                raise ValueError(f"{meta.system} version {meta.version} is loaded twice")
            versions[meta.version] = rel
        self._releases = {
            system: dict(sorted(v.items(), key=lambda kv: version_key(kv[0]), reverse=True))
            for system, v in sorted(by_system.items())
        }
        self._default = {system: next(iter(v)) for system, v in self._releases.items()}
        self._scheme_system = scheme_system
        self._system_scheme = {v: k for k, v in scheme_system.items()}
        current: dict[str, Concept] = {}
        for system, version in self._default.items():
            for c in self._releases[system][version].concepts.values():
                current[c.iri] = c
        self._by_iri = current
        # The label index is most of a snapshot's build time (0.13 s of 0.14 s with FHIR core,
        # bench/RESULTS.md), and a request-scoped overlay rarely searches: built on first use.
        self._search: tuple[list[Concept], LabelIndex] | None = None
        self._search_lock = threading.Lock()

    def _label_index(self) -> tuple[list[Concept], LabelIndex]:
        """Every concept of every release, and one label index over them all."""
        built = self._search
        if built is not None:
            return built
        with self._search_lock:
            if self._search is None:
                concepts: list[Concept] = []
                entries: list[tuple[int, str, bool]] = []
                for versions in self._releases.values():
                    for rel in versions.values():
                        for c in rel.concepts.values():
                            i = len(concepts)
                            concepts.append(c)
                            entries.append((i, c.display, True))
                            entries.extend((i, d.value, False) for d in c.designations)
                self._search = (concepts, LabelIndex(entries))
            return self._search

    def warm(self) -> Vocabulary:
        """Build the search index now rather than on the first search (for a served snapshot,
        so no user waits for it); returns ``self``."""
        self._label_index()
        return self

    def with_releases(self, extra: Iterable[SchemeRelease], *, label: str = "") -> Vocabulary:
        """A new snapshot: this one's releases plus ``extra``, which replace any release of the
        same system and version (a request-scoped overlay; this snapshot is not changed).

        The releases kept are shared, not re-indexed, so the cost is that of ``extra``."""
        added = [_Release(r) for r in extra]
        replaced = {(r.meta.system, r.meta.version) for r in added}
        own = [
            rel
            for system, versions in self._releases.items()
            for version, rel in versions.items()
            if (system, version) not in replaced
        ]
        merged = Vocabulary.__new__(Vocabulary)
        merged._assemble([*own, *added], label or self.label)
        return merged

    # --- schemes and releases ---------------------------------------------------------------

    def systems(self) -> list[str]:
        """All code system URLs held, sorted."""
        return list(self._releases)

    def schemes(self) -> list[SchemeVersion]:
        """The default (newest) release of every scheme."""
        return [self._releases[s][v].meta for s, v in self._default.items()]

    def versions(self, system: str) -> list[SchemeVersion]:
        """All releases of one code system, newest first."""
        return [r.meta for r in self._system(system).values()]

    def default_version(self, system: str) -> str:
        """The version used when a request names none: the newest release."""
        self._system(system)
        return self._default[system]

    def system_of(self, scheme_id: str) -> str:
        """The FHIR system URL of a scheme id such as ``ffb``."""
        try:
            return self._scheme_system[scheme_id]
        except KeyError:
            raise UnknownConceptError(f"unknown scheme {scheme_id!r}") from None

    def scheme_of(self, system: str) -> str:
        """The scheme id of a FHIR system URL."""
        self._system(system)
        return self._system_scheme[system]

    def release(self, system: str, version: str | None = None) -> SchemeVersion:
        """The metadata of one release (default: newest)."""
        return self._release(system, version).meta

    def concepts(self, system: str, version: str | None = None) -> Iterator[Concept]:
        """Every concept of one release, in its order: by code for releases our loaders read,
        definition order for CodeSystems a client gives (:mod:`termserver.fhir.overlay`)."""
        return iter(self._release(system, version).concepts.values())

    # --- lookup ----------------------------------------------------------------------------

    def lookup(self, system: str, code: str, version: str | None = None) -> Concept:
        """The concept with this code in the given release (default: newest)."""
        concept = self._release(system, version).concepts.get(code)
        if concept is None:
            raise UnknownConceptError(self._unknown_code_message(system, code, version))
        return concept

    def get(self, system: str, code: str, version: str | None = None) -> Concept | None:
        """Like :meth:`lookup` but None for an unknown code (unknown system/version still raise)."""
        return self._release(system, version).concepts.get(code)

    def by_iri(self, iri: str, version: str | None = None) -> Concept:
        """The concept behind a concept IRI, newest release unless ``version`` is given."""
        if version is None:
            concept = self._by_iri.get(iri)
            if concept is not None:
                return concept
        for versions in self._releases.values():
            for v, rel in versions.items():
                if version is not None and v != version:
                    continue
                for c in _match_iri(rel, iri):
                    return c
        raise UnknownConceptError(
            f"no concept with IRI {iri}" + (f" in version {version}" if version else "")
        )

    def versions_of(self, system: str, code: str) -> list[str]:
        """The releases (newest first) that contain ``code``."""
        return [v for v, rel in self._system(system).items() if code in rel.concepts]

    def replacement(self, concept: Concept) -> list[Concept]:
        """The concepts that replace a retired or deprecated one, in the same release."""
        rel = self._releases[concept.system][concept.version]
        return [rel.concepts[c] for c in concept.replaced_by if c in rel.concepts]

    # --- hierarchy -------------------------------------------------------------------------

    def parents(self, concept: Concept) -> list[Concept]:
        """Direct broader concepts."""
        rel = self._releases[concept.system][concept.version]
        return [rel.concepts[p] for p in concept.parents if p in rel.concepts]

    def children(self, concept: Concept) -> list[Concept]:
        """Direct narrower concepts, ordered by label."""
        rel = self._releases[concept.system][concept.version]
        return [rel.concepts[c] for c in rel.children.get(concept.code, ())]

    def ancestors(self, concept: Concept) -> list[Concept]:
        """All broader concepts, nearest first (by depth), then by label."""
        rel = self._releases[concept.system][concept.version]
        anc = rel.ancestors.get(concept.code, frozenset())
        return sorted(
            (rel.concepts[a] for a in anc),
            key=lambda c: (-len(rel.ancestors.get(c.code, ())), c.display),
        )

    def descendants(self, concept: Concept) -> list[Concept]:
        """All narrower concepts, in code order."""
        rel = self._releases[concept.system][concept.version]
        code = concept.code
        return [c for k, c in rel.concepts.items() if code in rel.ancestors[k]]

    def path_to_top(self, concept: Concept) -> list[Concept]:
        """One breadcrumb from a top concept down to ``concept`` (first parent at each step)."""
        rel = self._releases[concept.system][concept.version]
        path = [concept]
        seen = {concept.code}
        while path[0].parents:
            p = next((p for p in path[0].parents if p in rel.concepts and p not in seen), None)
            if p is None:
                break
            seen.add(p)
            path.insert(0, rel.concepts[p])
        return path

    def nearest(self, concept: Concept, codes: set[str] | frozenset[str]) -> Concept | None:
        """The concept itself or its nearest ancestor whose code is in ``codes``."""
        if concept.code in codes:
            return concept
        rel = self._releases[concept.system][concept.version]
        hits = [a for a in rel.ancestors.get(concept.code, ()) if a in codes]
        if not hits:
            return None
        # The nearest is the deepest: the one with the most ancestors of its own.
        best = max(hits, key=lambda a: (len(rel.ancestors.get(a, ())), a))
        return rel.concepts[best]

    def is_a(self, system: str, code: str, ancestor: str, version: str | None = None) -> bool:
        """True when ``code`` equals ``ancestor`` or lies below it (O(1))."""
        rel = self._release(system, version)
        if code not in rel.concepts:
            raise UnknownConceptError(self._unknown_code_message(system, code, version))
        if ancestor not in rel.concepts:
            raise UnknownConceptError(self._unknown_code_message(system, ancestor, version))
        return code == ancestor or ancestor in rel.ancestors[code]

    def subsumes(self, system: str, code_a: str, code_b: str, version: str | None = None) -> str:
        """FHIR $subsumes outcome of A against B (equivalent, subsumes, subsumed-by, ...)."""
        rel = self._release(system, version)
        for code in (code_a, code_b):
            if code not in rel.concepts:
                raise UnknownConceptError(self._unknown_code_message(system, code, version))
        if code_a == code_b:
            return EQUIVALENT
        if code_a in rel.ancestors[code_b]:
            return SUBSUMES
        if code_b in rel.ancestors[code_a]:
            return SUBSUMED_BY
        return NOT_SUBSUMED

    # --- search ----------------------------------------------------------------------------

    def search(
        self,
        query: str,
        *,
        systems: Iterable[str] | None = None,
        status: Iterable[str] | None = None,
        all_versions: bool = False,
        limit: int = 20,
    ) -> list[SearchHit]:
        """Danish-aware, typo-tolerant label search over the newest releases (or all).

        ``systems`` limits the code systems, ``status`` the concept statuses (active,
        deprecated, retired). Results are ranked best first.
        """
        wanted = None
        if systems is not None:
            wanted = set(systems)
            for s in wanted:
                self._system(s)
        statuses = set(status) if status is not None else None
        concepts, labels = self._label_index()
        default = self._default

        def accept(i: int) -> bool:
            c = concepts[i]
            if wanted is not None and c.system not in wanted:
                return False
            if statuses is not None and c.status not in statuses:
                return False
            return all_versions or default[c.system] == c.version

        return [
            SearchHit(concepts[i], score, matched)
            for i, score, matched in labels.search(query, limit=limit, accept=accept)
        ]

    # --- internals -------------------------------------------------------------------------

    def _system(self, system: str) -> dict[str, _Release]:
        try:
            return self._releases[system]
        except KeyError:
            raise UnknownConceptError(f"unknown code system {system!r}") from None

    def _release(self, system: str, version: str | None) -> _Release:
        versions = self._system(system)
        if version is None:
            return versions[self._default[system]]
        try:
            return versions[version]
        except KeyError:
            held = ", ".join(versions)
            raise UnknownConceptError(
                f"code system {system} has no version {version!r} (held: {held})"
            ) from None

    def _unknown_code_message(self, system: str, code: str, version: str | None) -> str:
        v = version or self._default[system]
        elsewhere = self.versions_of(system, code)
        msg = f"unknown code {code!r} in {system} version {v}"
        if elsewhere:
            msg += f" (it exists in version {', '.join(elsewhere)})"
        return msg

    def stats(self) -> dict[str, int]:
        """Counts for logs and health checks."""
        return {
            "systems": len(self._releases),
            "releases": sum(len(v) for v in self._releases.values()),
            "concepts": sum(len(r.concepts) for v in self._releases.values() for r in v.values()),
            "retired": sum(
                1
                for v in self._releases.values()
                for r in v.values()
                for c in r.concepts.values()
                if c.status == RETIRED
            ),
        }


def _match_iri(rel: _Release, iri: str) -> Iterator[Concept]:
    prefix = rel.meta.scheme_iri + "/"
    if iri.startswith(prefix):
        split = split_concept_iri(iri)
        if split and split[1] in rel.concepts:
            yield rel.concepts[split[1]]
