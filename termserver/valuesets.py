"""Value sets over the snapshot: FHIR ValueSet definitions, expansion, membership and validation.

Definitions are FHIR R4 ValueSet resources (``ontology/valuesets/*.json``) whose ``compose``
states the rule; :func:`expand` evaluates a rule against one :class:`Vocabulary`. Because a
snapshot never changes, :class:`ValueSetIndex` expands each definition once and then answers
``contains`` with a set lookup.

Supported ``compose`` features: ``include``/``exclude`` with ``system`` (+ ``version``), explicit
``concept`` lists, ``filter`` (ops ``=``, ``is-a``, ``descendent-of``, ``is-not-a``, ``regex``,
``in``, ``not-in``, ``generalizes``, ``child-of``, ``descendent-leaf``, ``exists``), ``valueSet``
imports through a resolver, and ``compose.inactive = false``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, NamedTuple

import pyoxigraph as ox

from termserver.errors import SourceError, TermserverError, UnknownConceptError
from termserver.loading.json_file import read_json_file
from termserver.model import Concept
from termserver.vocabulary import Vocabulary

__all__ = [
    "FILTER_OPS",
    "Expansion",
    "ValidationResult",
    "ValueSetDef",
    "ValueSetError",
    "ValueSetIndex",
    "expand",
    "load_valuesets",
    "read_valueset",
    "same_label",
    "validate_code",
]

FILTER_OPS = frozenset(
    {
        "=",
        "is-a",
        "descendent-of",
        "is-not-a",
        "regex",
        "in",
        "not-in",
        "generalizes",
        "child-of",
        "descendent-leaf",
        "exists",
    }
)
_HIERARCHY_OPS = frozenset(
    {"is-a", "descendent-of", "is-not-a", "generalizes", "child-of", "descendent-leaf"}
)
_CODE_PROPERTIES = frozenset({"concept", "code"})
_STATUSES = frozenset({"draft", "active", "retired", "unknown"})
MAX_IMPORT_DEPTH = 32  # deeper valueSet import chains than any real definition; stops runaway input
MAX_REGEX_CHARS = 256
MAX_IN_CODES = 1000

Resolver = Callable[[str], "ValueSetDef | None"]
Key = tuple[str, str]  # (system, code): the identity of a value set member


class ValueSetError(TermserverError):
    """A value set that cannot be expanded or checked, and where in its definition.

    ``location`` is a FHIRPath-like element path (``ValueSet.compose.include[0].filter[1]``) or a
    request parameter; ``value_set`` is the canonical of the definition it points into (an
    imported one, possibly); ``issue_type`` is the FHIR issue type for an OperationOutcome
    (``not-found``, ``not-supported``, ``invalid``, ``too-costly``).
    """

    def __init__(
        self,
        message: str,
        location: str | None = None,
        issue_type: str = "invalid",
        value_set: str | None = None,
        missing: str | None = None,
        message_id: str | None = None,
    ) -> None:
        self.message = message
        self.message_id = message_id  # HL7's message key for this kind of problem, if any
        self.missing = missing  # the canonical of an imported value set that is not known
        self.location = location
        self.issue_type = issue_type
        self.value_set = value_set
        where = " ".join(filter(None, (value_set, location)))
        super().__init__(f"{where}: {message}" if where else message)


@dataclass(frozen=True)
class ValueSetDef:
    """One value set definition: its metadata and its raw ``compose`` (treat as read-only)."""

    url: str
    version: str | None
    name: str
    title: str | None
    status: str
    description: str | None
    compose: dict[str, Any] = field(hash=False, compare=False, repr=False)
    source: str = "<input>"
    resource: dict[str, Any] = field(default_factory=dict, hash=False, compare=False, repr=False)
    # Value sets in the resource's ``contained``, by id: what ``#id`` imports refer to. Shared
    # by the container and its contained value sets (FHIR references resolve in the container).
    contained: Mapping[str, ValueSetDef] = field(
        default_factory=dict, hash=False, compare=False, repr=False
    )
    #: Ours (curated, from ``load_valuesets``): a listed code the code system lacks is an error.
    #: A client's (tx-resource, inline, --fhir-dir) leaves such a code out, as FHIR servers do.
    strict: bool = field(default=False, compare=False)

    @property
    def canonical(self) -> str:
        """``url|version``, or the url alone when the definition has no version."""
        return f"{self.url}|{self.version}" if self.version else self.url


@dataclass(frozen=True)
class Expansion:
    """An expansion: the members in result order, the total before paging, and what was used."""

    url: str
    version: str | None
    concepts: tuple[Concept, ...]
    total: int
    offset: int = 0
    used_codesystems: tuple[str, ...] = ()  # "system|version" actually read
    used_valuesets: tuple[str, ...] = ()  # canonicals of imported value sets
    #: Hierarchical expansions: member key -> the key of the member it nests under. Empty for
    #: a flat expansion; a member without an entry is at the top level.
    parents: Mapping[Key, Key] = field(default_factory=dict, compare=False)

    def codes(self) -> list[str]:
        """The member codes, in result order (convenience for tests and logs)."""
        return [c.code for c in self.concepts]


@dataclass(frozen=True)
class ValidationResult:
    """The answer to $validate-code: verdict, messages in English and Danish, and the concept."""

    result: bool
    message: str
    message_da: str
    concept: Concept | None = None
    display_matched: bool | None = None  # None when no display was given or there is no concept
    issue_type: str | None = None  # FHIR issue type when result is False (not-found, invalid, ...)


# --- loading ---------------------------------------------------------------------------------


def load_valuesets(directory: Path) -> dict[str, ValueSetDef]:
    """Read every ``*.json`` ValueSet in ``directory``, keyed by canonical url.

    Raises :class:`SourceError` naming the file and JSON path on the first unusable file, and on a
    url defined twice.
    """
    defs: dict[str, ValueSetDef] = {}
    for path in sorted(Path(directory).glob("*.json")):
        vs = replace(read_valueset_file(path), strict=True)
        other = defs.get(vs.url)
        if other is not None:
            raise SourceError(vs.source, "$.url", f"{vs.url} is already defined in {other.source}")
        defs[vs.url] = vs
    return defs


def read_valueset_file(path: Path) -> ValueSetDef:
    """Parse and check one ValueSet JSON file."""
    name = path.name
    doc, _ = read_json_file(path, name)
    return read_valueset(doc, source=name)


def read_valueset(doc: Any, *, source: str = "<input>", url_required: bool = True) -> ValueSetDef:
    """Check a parsed ValueSet resource and return its definition; errors name the JSON path.

    ``url_required=False`` accepts a value set without ``url`` (one given inline in a request);
    its ``url`` is then empty. Contained ValueSets are read too (they need no ``url``).
    """
    c = _Checker(source)
    contained: dict[str, ValueSetDef] = {}
    vs = _read_valueset(c, doc, "$", url_required, contained)
    for i, inner in enumerate(c.array(doc, "contained", "$")):
        if not isinstance(inner, dict) or inner.get("resourceType") != "ValueSet":
            continue  # other contained resources are not ours to read
        where = f"$.contained[{i}]"
        ident = c.string(inner, "id", where, required=True)
        if ident in contained:
            raise c.fail(f"{where}.id", f"contained id {ident!r} is used twice")
        # A contained value set without url is known by its local reference.
        url = None if inner.get("url") is not None else f"#{ident}"
        contained[ident] = _read_valueset(c, inner, where, False, contained, url)
    return vs


def _read_valueset(
    c: _Checker,
    doc: Any,
    root: str,
    url_required: bool,
    contained: Mapping[str, ValueSetDef],
    default_url: str | None = None,
) -> ValueSetDef:
    c.obj(doc, root)
    if doc.get("resourceType") != "ValueSet":
        got = doc.get("resourceType")
        raise c.fail(f"{root}.resourceType", f"expected 'ValueSet', got {got!r}")
    url = c.string(doc, "url", root, required=url_required) or default_url or ""
    status = c.string(doc, "status", root, required=True)
    if status not in _STATUSES:
        raise c.fail(f"{root}.status", f"must be one of {sorted(_STATUSES)}, got {status!r}")
    compose = doc.get("compose")
    if compose is None:
        raise c.fail(
            f"{root}.compose", "required element is missing (only composed value sets are used)"
        )
    c.compose(compose, f"{root}.compose")
    name = (
        c.string(doc, "name", root) or c.string(doc, "id", root) or url.rstrip("/").rsplit("/")[-1]
    )
    return ValueSetDef(
        url=url,
        version=c.string(doc, "version", root),
        name=name,
        title=c.string(doc, "title", root),
        status=status,
        description=c.string(doc, "description", root),
        compose=compose,
        source=c.source,
        resource=doc,
        contained=contained,
    )


class _Checker:
    """Structural checks of a ValueSet, so expansion only ever meets semantic problems."""

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, path: str, message: str) -> SourceError:
        return SourceError(self.source, path, message)

    def obj(self, value: Any, path: str) -> None:
        if not isinstance(value, dict):
            raise self.fail(path, f"must be a JSON object, got {_kind(value)}")

    def string(self, obj: dict, key: str, path: str, *, required: bool = False) -> str | None:
        value = obj.get(key)
        if value is None:
            if required:
                raise self.fail(f"{path}.{key}", "required element is missing")
            return None
        if not isinstance(value, str):
            raise self.fail(f"{path}.{key}", f"must be a string, got {_kind(value)}")
        if not value.strip():
            raise self.fail(f"{path}.{key}", "must not be empty")
        return value

    def array(self, obj: dict, key: str, path: str, *, required: bool = False) -> list:
        value = obj.get(key)
        if value is None:
            if required:
                raise self.fail(f"{path}.{key}", "required element is missing")
            return []
        if not isinstance(value, list):
            raise self.fail(f"{path}.{key}", f"must be an array, got {_kind(value)}")
        if required and not value:
            raise self.fail(f"{path}.{key}", "must not be empty")
        return value

    def compose(self, compose: Any, path: str) -> None:
        self.obj(compose, path)
        if "inactive" in compose and not isinstance(compose["inactive"], bool):
            raise self.fail(f"{path}.inactive", "must be true or false")
        for key in ("include", "exclude"):
            for i, part in enumerate(self.array(compose, key, path, required=key == "include")):
                self.part(part, f"{path}.{key}[{i}]")

    def part(self, part: Any, path: str) -> None:
        self.obj(part, path)
        system = self.string(part, "system", path)
        self.string(part, "version", path)
        if "version" in part and system is None:
            raise self.fail(f"{path}.version", "a version needs a system")
        concepts = self.array(part, "concept", path)
        filters = self.array(part, "filter", path)
        imports = self.array(part, "valueSet", path)
        if system is None and not imports:
            raise self.fail(path, "needs a system or a valueSet (FHIR vsd-1)")
        if (concepts or filters) and system is None:
            raise self.fail(path, "concept and filter need a system (FHIR vsd-2)")
        if concepts and filters:
            raise self.fail(path, "cannot have both concept and filter (FHIR vsd-3)")
        for j, cref in enumerate(concepts):
            self.obj(cref, f"{path}.concept[{j}]")
            self.string(cref, "code", f"{path}.concept[{j}]", required=True)
            self.string(cref, "display", f"{path}.concept[{j}]")
        for j, flt in enumerate(filters):
            fpath = f"{path}.filter[{j}]"
            self.obj(flt, fpath)
            self.string(flt, "property", fpath, required=True)
            op = self.string(flt, "op", fpath, required=True)
            if op not in FILTER_OPS:
                raise self.fail(f"{fpath}.op", f"unknown filter op {op!r}; use one of {_ops()}")
            # A filter without a value is reported when it is evaluated (with the value set
            # in hand), so a broken definition given beside others does not sink the request.
            self.string(flt, "value", fpath)
        for j, url in enumerate(imports):
            if not isinstance(url, str) or not url.strip():
                raise self.fail(f"{path}.valueSet[{j}]", "must be a canonical URL string")


# --- expansion -------------------------------------------------------------------------------


def expand(
    vocab: Vocabulary,
    vs: ValueSetDef,
    *,
    filter: str | None = None,
    active_only: bool = False,
    system_versions: Mapping[str, str] | None = None,
    resolve: Resolver | None = None,
    offset: int = 0,
    count: int | None = None,
    strict: bool = False,
    nested: bool = False,
) -> Expansion:
    """Expand ``vs`` against the snapshot.

    ``system_versions`` gives the code system version to use where the definition pins none
    (default: the newest release). ``filter`` keeps members whose label matches the Danish-aware
    search and orders them by relevance; without it members are ordered by display. ``resolve``
    turns an imported value set URL into its definition. ``offset``/``count`` page the result;
    ``total`` counts all matches. A listed code the code system does not hold is left out,
    as FHIR servers do, unless ``strict`` (QA) or the definition's own ``strict`` (ours, from
    :func:`load_valuesets`) makes it an error. ``nested`` asks for a hierarchical expansion
    where HL7 servers give one (see :func:`_nesting`).
    """
    evaluator = _Evaluator(vocab, resolve, system_versions, strict=strict)
    return _present(
        vocab, vs, evaluator.members(vs), filter, active_only, offset, count, nested=nested
    )


def validate_code(
    vocab: Vocabulary,
    vs: ValueSetDef,
    system: str,
    code: str,
    display: str | None = None,
    version: str | None = None,
    *,
    resolve: Resolver | None = None,
) -> ValidationResult:
    """Is ``system``/``code`` (in ``version``, if given) in ``vs``, and is ``display`` right?"""
    problem = _version_problem(vocab, vs, system, version)
    if problem is not None:
        return problem
    versions = {system: version} if version else None
    members = _Evaluator(vocab, resolve, versions).members(vs).members
    return _validate(vocab, vs, members, system, code, display, version)


class ValueSetIndex:
    """Value set definitions over one snapshot, with every expansion computed once and cached.

    Safe to share between threads: the cache only grows, and a lock stops two threads from
    expanding the same definition at once.
    """

    def __init__(self, vocab: Vocabulary, defs: Mapping[str, ValueSetDef]) -> None:
        self.vocab = vocab
        self._defs = dict(defs)
        self._cache: dict[tuple, _Evaluated] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._defs)

    def __contains__(self, url: object) -> bool:
        return url in self._defs

    def definitions(self) -> list[ValueSetDef]:
        """All definitions, by url."""
        return [self._defs[u] for u in sorted(self._defs)]

    def get(self, url: str, version: str | None = None) -> ValueSetDef | None:
        """The definition at ``url`` (``url|version`` accepted), or None; also the resolver."""
        if version is None and "|" in url:
            url, _, version = url.partition("|")
        vs = self._defs.get(url)
        if vs is None or (version is not None and vs.version != version):
            return None
        return vs

    def expand(
        self,
        vs: str | ValueSetDef,
        *,
        filter: str | None = None,
        active_only: bool = False,
        system_versions: Mapping[str, str] | None = None,
        offset: int = 0,
        count: int | None = None,
        nested: bool = False,
    ) -> Expansion:
        """Like :func:`expand`; ``vs`` is a known url or a definition (inline: not cached)."""
        definition = self._definition(vs)
        evaluated = self._members(definition, system_versions)
        return _present(
            self.vocab, definition, evaluated, filter, active_only, offset, count, nested=nested
        )

    def contains(self, url: str, system: str, code: str) -> bool:
        """O(1) membership of ``system``/``code`` in the value set at ``url`` (default versions)."""
        return (system, code) in self._members(self._definition(url), None).members

    def member(
        self, vs: str | ValueSetDef, system: str, code: str, version: str | None = None
    ) -> Concept | None:
        """The member ``system``/``code`` of ``vs`` (from ``version`` if given), or None."""
        definition = self._definition(vs)
        members = self._members(definition, {system: version} if version else None).members
        found = members.get((system, code))
        return found if found is not None and version in (None, found.version) else None

    def validate_code(
        self,
        vs: str | ValueSetDef,
        system: str,
        code: str,
        display: str | None = None,
        version: str | None = None,
    ) -> ValidationResult:
        """Like :func:`validate_code`, from the cached expansion."""
        definition = self._definition(vs)
        problem = _version_problem(self.vocab, definition, system, version)
        if problem is not None:
            return problem
        members = self._members(definition, {system: version} if version else None).members
        return _validate(self.vocab, definition, members, system, code, display, version)

    def check(self) -> dict[str, ValueSetError]:
        """Expand every definition now; the ones that fail, by url (for QA and start-up logs)."""
        errors = {}
        for url in sorted(self._defs):
            try:
                # Strict: a code listed by mistake must fail QA, not silently drop out.
                _Evaluator(self.vocab, self.get, None, strict=True).members(self._defs[url])
            except ValueSetError as exc:
                errors[url] = exc
        return errors

    def _definition(self, vs: str | ValueSetDef) -> ValueSetDef:
        if isinstance(vs, ValueSetDef):
            return vs
        found = self.get(vs)
        if found is None:
            raise ValueSetError(
                f"unknown value set {vs}",
                "url",
                "not-found",
                message_id="Unable_to_resolve_value_Set_",
            )
        return found

    def _members(self, vs: ValueSetDef, system_versions: Mapping[str, str] | None) -> _Evaluated:
        if self._defs.get(vs.url) is not vs:  # an inline or foreign definition: never cached
            return _Evaluator(self.vocab, self.get, system_versions).members(vs)
        # The common case (default versions) must not pay for building an evaluator.
        evaluator = _Evaluator(self.vocab, self.get, system_versions) if system_versions else None
        key = (vs.url, vs.version, evaluator.versions_key if evaluator else ())
        hit = self._cache.get(key)
        if hit is None:
            with self._lock:
                hit = self._cache.get(key)
                if hit is None:
                    evaluator = evaluator or _Evaluator(self.vocab, self.get, None)
                    hit = self._cache[key] = evaluator.members(vs)
        return hit


# Members in display order, keyed by (system, code).
_Members = dict[Key, Concept]


class _Evaluated(NamedTuple):
    """An evaluated definition: its members, the code systems and value sets read."""

    members: _Members
    used_cs: tuple[str, ...]
    used_vs: tuple[str, ...]
    #: Two of the definition's own includes gave the same code: HL7 servers then answer flat
    #: (the code could sit under either include's tree).
    overlapping: bool = False


class _Evaluator:
    """Evaluates compose rules for one request (one set of system versions)."""

    def __init__(
        self,
        vocab: Vocabulary,
        resolve: Resolver | None,
        system_versions: Mapping[str, str] | None,
        *,
        strict: bool = False,
    ) -> None:
        self.vocab = vocab
        self.resolve = resolve
        self.strict = strict  # a listed code the code system lacks is an error, not skipped
        self.system_versions: dict[str, str] = {}
        for system, version in (system_versions or {}).items():
            if system not in vocab.systems():
                continue  # a version for a system no definition here uses changes nothing
            if not _has_version(vocab, system, version):
                raise ValueSetError(
                    f"code system {system} has no version {version!r}",
                    "system-version",
                    "not-found",
                )
            self.system_versions[system] = version
        self.versions_key = tuple(sorted(self.system_versions.items()))
        self.used_cs: dict[str, None] = {}
        self.used_vs: dict[str, None] = {}
        self._memo: dict[str, _Members] = {}
        self._releases: dict[str, dict[str, Concept]] = {}
        self.overlapping = False  # see _Evaluated.overlapping

    def members(self, vs: ValueSetDef) -> _Evaluated:
        found = self._expand(vs, ())
        if not vs.strict:
            # A client's value set keeps its compose order (includes in turn, each code system in
            # definition order), as HL7 servers expand it: paging with count/offset relies on it.
            return _Evaluated(found, tuple(self.used_cs), tuple(self.used_vs), self.overlapping)
        # Ours read in Danish alphabetical order, as KL's method staff list them. Sorted once
        # here, so cached expansions never sort again.
        ordered = dict(sorted(found.items(), key=lambda kv: _display_key(kv[1])))
        return _Evaluated(ordered, tuple(self.used_cs), tuple(self.used_vs), self.overlapping)

    def _expand(self, vs: ValueSetDef, stack: tuple[str, ...]) -> _Members:
        if vs.canonical in stack:
            chain = " -> ".join((*stack, vs.canonical))
            raise ValueSetError(
                f"value set imports itself: {chain}",
                "ValueSet.compose",
                "invalid",
                message_id="VALUESET_CIRCULAR_REFERENCE",
            )
        if len(stack) >= MAX_IMPORT_DEPTH:
            raise ValueSetError(
                f"valueSet imports nested more than {MAX_IMPORT_DEPTH} deep", "ValueSet.compose"
            )
        memo = self._memo.get(vs.canonical)
        if memo is not None:
            return memo
        root = not stack
        stack = (*stack, vs.canonical)
        compose = vs.compose
        members: _Members = {}
        try:
            for i, part in enumerate(compose.get("include", ())):
                found = self._part(part, f"ValueSet.compose.include[{i}]", stack, vs)
                if root and members and not self.overlapping:
                    self.overlapping = not members.keys().isdisjoint(found)
                members.update(found)
            for i, part in enumerate(compose.get("exclude", ())):
                for key in self._part(part, f"ValueSet.compose.exclude[{i}]", stack, vs):
                    members.pop(key, None)
        except ValueSetError as exc:
            if exc.value_set is not None:  # already placed, inside an imported value set
                raise
            raise ValueSetError(
                exc.message,
                exc.location,
                exc.issue_type,
                vs.canonical,
                exc.missing,
                message_id=exc.message_id,
            ) from None
        if compose.get("inactive") is False:
            members = {k: c for k, c in members.items() if c.active}
        self._memo[vs.canonical] = members
        return members

    def _part(self, part: dict, where: str, stack: tuple[str, ...], vs: ValueSetDef) -> _Members:
        """One include/exclude: the system part intersected with every imported value set."""
        sets: list[_Members] = []
        if "system" in part:
            sets.append(self._system_part(part, where, vs))
        for j, canonical in enumerate(part.get("valueSet", ())):
            sets.append(self._import(canonical, f"{where}.valueSet[{j}]", stack, vs))
        first, *rest = sets
        if not rest:
            return first
        return {k: c for k, c in first.items() if all(k in other for other in rest)}

    def _import(
        self, canonical: str, where: str, stack: tuple[str, ...], vs: ValueSetDef
    ) -> _Members:
        if canonical.startswith("#"):
            # A local reference to a contained value set: part of this definition, so it is
            # not reported as a value set used.
            local = vs.contained.get(canonical[1:])
            if local is None:
                raise ValueSetError(
                    f"no contained value set has id {canonical[1:]!r}",
                    where,
                    "not-found",
                    missing=canonical,
                )
            return self._expand(local, stack)
        url, _, version = canonical.partition("|")
        found = self.resolve(url) if self.resolve is not None else None
        if found is None:
            raise ValueSetError(
                f"imported value set {canonical} is not known",
                where,
                "not-found",
                missing=canonical,
            )
        if version and found.version != version:
            raise ValueSetError(
                f"imported value set {url} is held in version {found.version!r}, not {version!r}",
                where,
                "not-found",
            )
        self.used_vs[found.canonical] = None
        return self._expand(found, stack)

    def _system_part(self, part: dict, where: str, vs: ValueSetDef) -> _Members:
        system = part["system"]
        version = part.get("version") or self.system_versions.get(system)
        try:
            version = version or self.vocab.default_version(system)
            release = self._release(system, version)
        except UnknownConceptError as exc:
            raise ValueSetError(str(exc), f"{where}.system", "not-found") from None
        self.used_cs[f"{system}|{version}" if version else system] = None
        if "concept" in part:
            out: _Members = {}
            for j, cref in enumerate(part["concept"]):
                concept = release.get(cref["code"])
                if concept is None and not (self.strict or vs.strict):
                    # As FHIR terminology servers do: a listed code the code system does not
                    # hold is not a member. Ours (vs.strict) and QA (check()) stay strict.
                    continue
                if concept is None:
                    raise ValueSetError(
                        f"{vs.url} lists code {cref['code']!r}, which {system} "
                        f"version {version} does not hold",
                        f"{where}.concept[{j}].code",
                        "not-found",
                    )
                out[(system, concept.code)] = concept
            return out
        chosen: set[str] | None = None
        for j, flt in enumerate(part.get("filter", ())):
            selected = _Filter(self.vocab, release, system, version, flt, f"{where}.filter[{j}]")
            chosen = selected.codes() if chosen is None else chosen & selected.codes()
        # Release order (by code) keeps the result independent of set iteration order.
        return {
            (system, code): c for code, c in release.items() if chosen is None or code in chosen
        }

    def _release(self, system: str, version: str) -> dict[str, Concept]:
        """Code -> concept for one release, built once per evaluation."""
        key = f"{system}|{version}"
        release = self._releases.get(key)
        if release is None:
            release = self._releases[key] = {
                c.code: c for c in self.vocab.concepts(system, version)
            }
        return release


def _has_version(vocab: Vocabulary, system: str, version: str) -> bool:
    return any(v.version == version for v in vocab.versions(system))


class _Filter:
    """One compose filter over one release: the set of codes it selects."""

    def __init__(
        self,
        vocab: Vocabulary,
        release: Mapping[str, Concept],
        system: str,
        version: str,
        flt: dict,
        where: str,
    ) -> None:
        self.vocab = vocab
        self.release = release
        self.system = system
        self.version = version
        self.prop = flt["property"]
        self.op = flt["op"]
        self.value: str | None = flt.get("value")
        self.where = where

    def fail(
        self, message: str, issue_type: str = "invalid", message_id: str | None = None
    ) -> ValueSetError:
        return ValueSetError(message, self.where, issue_type, message_id=message_id)

    def codes(self) -> set[str]:
        op = self.op
        if self.value is None:
            raise self.fail(
                f"The system {self.system} filter with property = {self.prop}, op = {op} has no "
                "value",
                message_id="UNABLE_TO_HANDLE_SYSTEM_FILTER_WITH_NO_VALUE",
            )
        if op in _HIERARCHY_OPS:
            return self._hierarchy()
        if op == "exists":
            if self.value not in ("true", "false"):
                raise self.fail(f"'exists' needs the value true or false, not {self.value!r}")
            want = self.value == "true"
            return {code for code, c in self.release.items() if bool(self._values(c)) is want}
        if op == "regex":
            matcher = _SafeRegex(self.value, self.where)
            pairs = [(code, v) for code, c in self.release.items() for v in self._values(c)]
            hits = matcher.matching([v for _, v in pairs])
            return {pairs[i][0] for i in hits}
        if op in ("in", "not-in"):
            wanted = {v.strip() for v in self.value.split(",") if v.strip()}
            if len(wanted) > MAX_IN_CODES:
                raise self.fail(f"'{op}' accepts at most {MAX_IN_CODES} values")
            inside = {c for c, con in self.release.items() if self._matches_any(con, wanted)}
            return inside if op == "in" else set(self.release) - inside
        if op == "=":
            return {c for c, con in self.release.items() if self._matches_any(con, {self.value})}
        raise self.fail(f"filter op {op!r} is not supported; use one of {_ops()}", "not-supported")

    def _hierarchy(self) -> set[str]:
        if self.prop not in _CODE_PROPERTIES:
            raise self.fail(
                f"filter op {self.op!r} needs property 'concept', not {self.prop!r}",
                "not-supported",
            )
        root = self.release.get(self.value)
        if root is None:
            raise self.fail(
                f"filter value {self.value!r} is not a code in {self.system} "
                f"version {self.version}",
                "not-found",
            )
        below = {c.code for c in self.vocab.descendants(root)}
        if self.op == "is-a":
            return below | {root.code}
        if self.op == "descendent-of":
            return below
        if self.op == "is-not-a":
            return set(self.release) - below - {root.code}
        if self.op == "child-of":
            return {c.code for c in self.vocab.children(root)}
        if self.op == "descendent-leaf":
            return {code for code in below if not self.vocab.children(self.release[code])}
        # generalizes: the code and everything above it
        return {root.code} | {c.code for c in self.vocab.ancestors(root)}

    def _values(self, c: Concept) -> list[str]:
        """The filter property's values on one concept, as strings."""
        prop = self.prop
        if prop in _CODE_PROPERTIES:
            return [c.code]
        if prop == "display":
            return [c.display]
        if prop == "definition":
            return [c.definition] if c.definition is not None else []
        if prop == "parent":
            return list(c.parents)
        if prop == "child":
            return [k.code for k in self.vocab.children(c)]
        if prop == "status":
            return [c.status]
        if prop == "inactive":
            return ["false" if c.active else "true"]
        if prop == "notSelectable":
            return ["true" if c.not_selectable else "false"]
        out = []
        for pv in c.properties:
            if pv.code == prop:
                v = pv.value
                out.append(("true" if v else "false") if isinstance(v, bool) else str(v))
        return out

    def _matches_any(self, c: Concept, wanted: set[str]) -> bool:
        # A Coding value is kept as "system|code"; a filter may give the whole or just the code.
        return any(v in wanted or v.rpartition("|")[2] in wanted for v in self._values(c))


class _SafeRegex:
    """A regex filter run on a linear-time engine, so no pattern can take exponential time.

    Python's ``re`` backtracks and cannot be interrupted, so ``(a+)+$`` could hang a worker.
    The pattern runs instead on the Rust ``regex`` crate inside pyoxigraph (SPARQL ``REGEX``),
    which matches in time linear in the input and caps compiled program size. Dialect: Rust /
    XPath-like; backreferences and look-around are refused. The whole value must match.
    """

    def __init__(self, pattern: str, where: str) -> None:
        if len(pattern) > MAX_REGEX_CHARS:
            raise ValueSetError(
                f"regex is longer than {MAX_REGEX_CHARS} characters", where, "too-costly"
            )
        self.where = where
        self.pattern = pattern
        self.store = ox.Store()
        if not self._compiles(pattern):
            raise ValueSetError(
                f"invalid or unsupported regex {pattern!r} (backreferences and look-around "
                "are not supported; the pattern must compile within the size limit)",
                where,
            )
        # Anchoring wraps the pattern; a trailing x-mode comment ("(?x)a#") would swallow the
        # closing ")$", so then a newline ends the comment first (in x-mode it is only space).
        wrapped = (f"^(?:{pattern})$", f"^(?:{pattern}\n)$")
        self.anchored = next((a for a in wrapped if self._compiles(a)), wrapped[0])

    def _compiles(self, pattern: str) -> bool:
        probe = f"SELECT ?ok WHERE {{ BIND(REGEX('', {_sparql_string(pattern)}) AS ?ok) }}"
        try:
            rows = list(self.store.query(probe))
        except (SyntaxError, ValueError, OSError) as exc:
            raise ValueSetError(f"invalid regex {pattern!r}: {exc}", self.where) from None
        return bool(rows) and rows[0]["ok"] is not None

    def matching(self, values: list[str]) -> set[int]:
        """Indexes of the values the pattern matches in full."""
        if not values:
            return set()
        pred = ox.NamedNode("urn:x-termserver:value")
        self.store.extend(
            ox.Quad(ox.NamedNode(f"urn:x-termserver:{i}"), pred, ox.Literal(v))
            for i, v in enumerate(values)
        )
        anchored = _sparql_string(self.anchored)
        query = f"SELECT ?i WHERE {{ ?i <{pred.value}> ?v FILTER(REGEX(?v, {anchored})) }}"
        prefix = len("urn:x-termserver:")
        return {int(row["i"].value[prefix:]) for row in self.store.query(query)}


def _sparql_string(text: str) -> str:
    """A SPARQL string literal holding ``text`` exactly."""
    escaped = (
        text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\r", "\\r")
    )
    return f'"{escaped}"'


# --- presenting and validating ---------------------------------------------------------------


def _present(
    vocab: Vocabulary,
    vs: ValueSetDef,
    evaluated: _Evaluated,
    text: str | None,
    active_only: bool,
    offset: int,
    count: int | None,
    *,
    nested: bool = False,
) -> Expansion:
    """Apply activeOnly, the text filter, ordering, paging and nesting to an evaluated set."""
    if offset < 0 or (count is not None and count < 0):
        raise ValueSetError("offset and count must not be negative", "offset")
    # Members arrive in display order (see _Evaluator.members).
    ordered = [c for c in evaluated.members.values() if c.active or not active_only]
    searched = text is not None and bool(text.strip())
    if searched:
        ordered = _search(vocab, ordered, text or "")
    end = None if count is None else offset + count
    # As HL7 servers: a page (an offset, or a count that cuts the list) is always flat.
    whole = offset == 0 and (count is None or count > len(ordered))
    parents: dict[Key, Key] = {}
    if nested and whole and not evaluated.overlapping and _nestable(vs):
        hidden = evaluated.members if active_only else {}
        parents = _nesting(ordered, hidden, _searched_whole_systems(vs) if searched else set())
    return Expansion(
        url=vs.url,
        version=vs.version,
        concepts=tuple(ordered[offset:end]),
        total=len(ordered),
        offset=offset,
        used_codesystems=evaluated.used_cs,
        used_valuesets=evaluated.used_vs,
        parents=parents,
    )


def _nestable(vs: ValueSetDef) -> bool:
    """Can an expansion of ``vs`` follow its code systems' hierarchy, as HL7 servers decide?

    Not when a part lists codes (an enumeration is the author's own list), imports a value set
    (its members come as that expansion gives them) or combines filters (tx.fhir.org's
    expander answers such definitions flat, and the ecosystem tests expect it).
    """
    for key in ("include", "exclude"):
        for part in vs.compose.get(key, ()):
            if "concept" in part or part.get("valueSet") or len(part.get("filter", ())) > 1:
                return False
    return True


def _searched_whole_systems(vs: ValueSetDef) -> set[str]:
    """Systems included whole: a text filter over them is a search, answered as a flat list."""
    return {
        part["system"]
        for part in vs.compose.get("include", ())
        if "system" in part and not part.get("filter") and not part.get("concept")
    }


def _nesting(shown: list[Concept], hidden: _Members, flat: set[str]) -> dict[Key, Key]:
    """Member -> the member it nests under, by the code system's hierarchy; {} for flat.

    A member nests under its parent when the parent is in the expansion. When activeOnly hid
    the parent (``hidden``: every member, shown or not), it nests under the nearest shown
    ancestor, as HL7 servers walk a code system's tree; otherwise it is at the top level. A
    member that would sit under two parents makes the whole expansion flat (HL7 servers then
    meet the code twice). Members of the systems in ``flat`` stay at the top level.
    """
    keys = {(c.system, c.code) for c in shown}
    out: dict[Key, Key] = {}
    for c in shown:
        parents = c.parents
        if not parents or c.system in flat:
            continue
        if len(parents) == 1:  # the common case, kept cheap: one dict lookup
            key: Key | None = (c.system, parents[0])
            if key not in keys:
                key = _shown_ancestor(c.system, parents[0], keys, hidden) if hidden else None
            if key is not None:
                out[(c.system, c.code)] = key
            continue
        found = {k for p in parents if (k := _shown_ancestor(c.system, p, keys, hidden))}
        if len(found) > 1:
            return {}
        if found:
            out[(c.system, c.code)] = found.pop()
    return out


def _shown_ancestor(system: str, code: str, keys: set[Key], hidden: _Members) -> Key | None:
    """``code`` if it is shown, else the nearest shown ancestor through members hidden by
    activeOnly (a single line of parents; a hidden code with several is not climbed)."""
    seen: set[str] = set()
    while (system, code) not in keys:
        member = hidden.get((system, code))
        if member is None or member.active or len(member.parents) != 1 or code in seen:
            return None
        seen.add(code)
        code = member.parents[0]
    return (system, code)


def _search(vocab: Vocabulary, pool: list[Concept], text: str) -> list[Concept]:
    """Members whose labels match ``text`` by the snapshot's Danish-aware search, best first."""
    if not pool:
        return []
    wanted = {(c.system, c.version, c.code): c for c in pool}
    systems = {c.system for c in pool}
    # The search ranks across whole releases, so ask for as many rows as those releases hold:
    # then no member can be crowded out by non-members before the membership check below.
    limit = sum(1 for s in systems for v in vocab.versions(s) for _ in vocab.concepts(s, v.version))
    out: list[Concept] = []
    for hit in vocab.search(text, systems=systems, all_versions=True, limit=limit):
        c = hit.concept
        member = wanted.pop((c.system, c.version, c.code), None)
        if member is not None:
            out.append(member)
    return out


# Danish alphabetical order puts æ, ø, å after z (Unicode would put å before æ).
_DANISH_ORDER = str.maketrans({"æ": "z\uffff1", "ø": "z\uffff2", "å": "z\uffff3"})


def _display_key(c: Concept) -> tuple[str, str, str]:
    return (c.display.strip().casefold().translate(_DANISH_ORDER), c.system, c.code)


def _validate(
    vocab: Vocabulary,
    vs: ValueSetDef,
    members: _Members,
    system: str,
    code: str,
    display: str | None,
    version: str | None,
) -> ValidationResult:
    ref = f"{system}#{code}" + (f" (version {version})" if version else "")
    member = members.get((system, code))
    if member is None or (version is not None and member.version != version):
        return _not_member(vocab, vs, system, code, version, ref)
    if display is None:
        return ValidationResult(
            True,
            f"{ref} ({member.display!r}) is in value set {vs.url}",
            f"{ref} ({member.display!r}) er med i værdisættet {vs.url}",
            member,
        )
    if same_label(display, member):
        return ValidationResult(
            True,
            f"{ref} is in value set {vs.url} and {display!r} is a valid display",
            f"{ref} er med i værdisættet {vs.url}, og {display!r} er en gyldig betegnelse",
            member,
            display_matched=True,
        )
    others = [d.value for d in member.designations if d.value.strip() != member.display.strip()]
    also = f"; other valid labels: {', '.join(repr(o) for o in others)}" if others else ""
    also_da = f"; andre gyldige betegnelser: {', '.join(repr(o) for o in others)}" if others else ""
    return ValidationResult(
        False,
        f"wrong display {display!r} for {ref}: the code is in value set {vs.url}, but its "
        f"display is {member.display.strip()!r}{also}",
        f"forkert betegnelse {display!r} for {ref}: koden er med i værdisættet {vs.url}, men "
        f"dens betegnelse er {member.display.strip()!r}{also_da}",
        member,
        display_matched=False,
        issue_type="invalid",
    )


def _version_problem(
    vocab: Vocabulary, vs: ValueSetDef, system: str, version: str | None
) -> ValidationResult | None:
    """A failed result when ``version`` names a release of a known system that is not held."""
    if version is None or system not in vocab.systems() or _has_version(vocab, system, version):
        return None
    held = ", ".join(v.version for v in vocab.versions(system))
    return ValidationResult(
        False,
        f"code system {system} has no version {version!r} (held: {held}); "
        f"cannot check membership of value set {vs.url}",
        f"kodesystemet {system} findes ikke i version {version!r} (findes i: {held}); "
        f"medlemskab af værdisættet {vs.url} kan ikke afgøres",
        issue_type="not-found",
    )


def _not_member(
    vocab: Vocabulary, vs: ValueSetDef, system: str, code: str, version: str | None, ref: str
) -> ValidationResult:
    if system not in vocab.systems():
        return ValidationResult(
            False,
            f"unknown code system {system}; value set {vs.url} cannot contain {ref}",
            f"ukendt kodesystem {system}; værdisættet {vs.url} kan ikke indeholde {ref}",
            issue_type="not-found",
        )
    concept = vocab.get(system, code, version)
    if concept is None:
        v = version or vocab.default_version(system)
        return ValidationResult(
            False,
            f"unknown code {code!r} in {system} version {v}",
            f"ukendt kode {code!r} i {system} version {v}",
            issue_type="not-found",
        )
    return ValidationResult(
        False,
        f"{ref} ({concept.display.strip()!r}) exists but is not in value set {vs.url}",
        f"{ref} ({concept.display.strip()!r}) findes, men er ikke med i værdisættet {vs.url}",
        concept,
        issue_type="code-invalid",
    )


def same_label(given: str, concept: Concept) -> bool:
    """Display check that ignores case and surrounding or repeated whitespace (NBSP included)."""
    want = _label_form(given)
    labels = [concept.display, *(d.value for d in concept.designations)]
    return any(_label_form(label) == want for label in labels)


def _label_form(text: str) -> str:
    # str.split() with no argument splits on every Unicode space, NBSP included.
    return " ".join(text.split()).casefold()


def _ops() -> str:
    return ", ".join(sorted(FILTER_OPS))


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if value is None:
        return "null"
    return "a number"
