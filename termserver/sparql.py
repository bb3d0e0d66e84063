"""A read-only SPARQL 1.1 query engine over the ontology files, with per-query time and size limits.

Dataset layout
    Each scheme release (one Turtle file under ``schemes/``) is its own named graph, named by the
    release's ``ts:CodeSystemVersion`` IRI, e.g. ``<https://w3id.org/ffb-termserver/ffb/version/
    20240530>``. ``ffb-core.ttl``, when present, is the named graph :data:`CORE_GRAPH`. The
    *default* graph of a query is the union of the newest release of each scheme plus the core
    model, so a query without ``GRAPH`` sees one current view in which every concept IRI (those
    are version-independent) appears once. ``GRAPH ?g { ... }``, ``FROM`` and ``FROM NAMED`` reach
    every release. The protocol's ``default-graph-uri`` / ``named-graph-uri`` replace the dataset
    entirely (SPARQL 1.1 Protocol §2.1.4): the default graph is then the merge of the given graphs
    and only the given named graphs are visible.

Isolation and timeout
    pyoxigraph cannot cancel a query and its Rust evaluation holds the thread until it ends, so
    queries run in a small pool of worker processes, each a fresh interpreter (like
    multiprocessing's "spawn", see :class:`_Worker`). The parent builds the dataset once as an
    on-disk store in a temporary directory; each worker opens it with ``Store.read_only``, copies
    it into an in-memory store (queries there are 1.5-4x faster, see bench/bench_sparql.py) and
    answers requests over a socket. The parent waits at most ``timeout`` seconds for an answer;
    on timeout it kills that worker, starts a fresh one in its place and raises
    :class:`QueryTimeout` at once. The other workers keep serving meanwhile. Each worker also
    caps its address space (``memory_limit_mb`` above what it uses once loaded), so a query that
    would exhaust memory dies alone and is reported as :class:`QueryAborted`.

Read-only
    Nothing in a worker writes: queries go through ``Store.query`` only. Updates are told apart
    from bad queries by parsing: text that does not parse as a query is handed to pyoxigraph's
    update parser on the *read-only* on-disk store; if it parses, that store refuses to open a
    write transaction before any operation runs (so ``LOAD`` never fetches), and the caller gets
    :class:`UpdateRefused` instead of a syntax error. ``SERVICE`` is refused before a query
    reaches a worker, because pyoxigraph would fetch any URL it names.

Result-size limit
    A SELECT with more than ``max_results`` rows, or a CONSTRUCT/DESCRIBE with more than
    ``max_results`` triples, is an error (:class:`TooManyResults`), never a silently truncated
    answer: a client that reads a partial result as complete draws wrong conclusions, and CSV and
    TSV cannot carry a "truncated" flag. The message tells the user to add ``LIMIT``.
"""

from __future__ import annotations

import contextlib
import math
import os
import queue
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import weakref
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import orjson
import pyoxigraph as ox

from termserver import iris

CORE_GRAPH = iris.BASE + "core"
CORE_FILE = "ffb-core.ttl"
# Where ``termserver`` is importable from, for the worker interpreters.
_PACKAGE_ROOT = str(Path(__file__).resolve().parent.parent)

TIMEOUT_ENV = "TERMSERVER_SPARQL_TIMEOUT"
MAX_RESULTS_ENV = "TERMSERVER_SPARQL_MAX_RESULTS"
WORKERS_ENV = "TERMSERVER_SPARQL_WORKERS"
MEMORY_ENV = "TERMSERVER_SPARQL_MEMORY_MB"

DEFAULT_TIMEOUT = 10.0
DEFAULT_MAX_RESULTS = 10_000
DEFAULT_WORKERS = 2
DEFAULT_MAX_QUERY_BYTES = 100_000
DEFAULT_MEMORY_LIMIT_MB = 1024
#: Queries that may wait for a busy worker; more than that are refused at once (EngineBusy), so
#: a burst never ties up the server's threads for the whole timeout.
DEFAULT_MAX_QUEUED = 4
#: How long a freshly spawned worker may take to open the store before it counts as broken.
STARTUP_TIMEOUT = 60.0
#: How long a query waits for a worker that is still starting (about a second when the machine
#: is quiet) before it gets EngineBusy; the worker keeps starting for the next query.
QUERY_STARTUP_WAIT = 15.0

READ_ONLY_MESSAGE = (
    "this endpoint is read-only: SPARQL Update (INSERT, DELETE, LOAD, CLEAR, DROP, CREATE, ...) "
    "is not accepted; send a SELECT, ASK, CONSTRUCT or DESCRIBE query"
)

# Query forms as reported in SparqlResult.form.
SELECT, ASK, GRAPH = "select", "ask", "graph"


# --- errors ---------------------------------------------------------------------------------------


class SparqlError(Exception):
    """A query the engine will not or cannot answer; ``str(exc)`` is meant for the user."""

    code = "sparql-error"


class InvalidRequest(SparqlError):
    """The request itself is wrong: no query, a bad graph IRI, an unknown format name."""

    code = "invalid"


class QuerySyntaxError(SparqlError):
    """The text is neither a SPARQL query nor an update; the message is the parser's."""

    code = "syntax"


class UpdateRefused(SparqlError):
    """The text is a SPARQL Update; the endpoint is read-only."""

    code = "read-only"


class ForbiddenFeature(SparqlError):
    """The query uses a feature this endpoint does not offer (``SERVICE``)."""

    code = "forbidden"


class QueryTooLarge(SparqlError):
    """The query text is longer than ``max_query_bytes``."""

    code = "too-large"


class NotAcceptable(SparqlError):
    """None of the requested media types can carry this kind of result."""

    code = "not-acceptable"


class TooManyResults(SparqlError):
    """The result has more rows or triples than ``max_results``."""

    code = "too-many-results"


class QueryEvaluationError(SparqlError):
    """The query parsed but failed while running."""

    code = "evaluation"


class QueryTimeout(SparqlError):
    """The query ran longer than the time limit and was stopped."""

    code = "timeout"


class QueryAborted(SparqlError):
    """The worker died while answering, most likely because the query hit the memory limit."""

    code = "aborted"


class EngineBusy(SparqlError):
    """Every worker stayed busy for the whole time limit."""

    code = "busy"


class EngineFailure(SparqlError):
    """The engine could not start or was closed."""

    code = "engine-failure"


_ERRORS: dict[str, type[SparqlError]] = {
    cls.code: cls
    for cls in (
        InvalidRequest,
        QuerySyntaxError,
        UpdateRefused,
        ForbiddenFeature,
        QueryTooLarge,
        NotAcceptable,
        TooManyResults,
        QueryEvaluationError,
        QueryTimeout,
        QueryAborted,
        EngineBusy,
        EngineFailure,
    )
}


# --- formats and content negotiation --------------------------------------------------------------


@dataclass(frozen=True)
class _Format:
    media_type: str
    aliases: tuple[str, ...]
    native: Any  # ox.QueryResultsFormat or ox.RdfFormat


_RESULT_FORMATS = (
    _Format("application/sparql-results+json", ("application/json",), ox.QueryResultsFormat.JSON),
    _Format(
        "application/sparql-results+xml",
        ("application/xml", "text/xml"),
        ox.QueryResultsFormat.XML,
    ),
    _Format("text/csv", (), ox.QueryResultsFormat.CSV),
    _Format("text/tab-separated-values", (), ox.QueryResultsFormat.TSV),
)
_GRAPH_FORMATS = (
    _Format("text/turtle", ("application/x-turtle",), ox.RdfFormat.TURTLE),
    _Format("application/n-triples", ("text/plain",), ox.RdfFormat.N_TRIPLES),
    _Format("application/rdf+xml", ("application/xml", "text/xml"), ox.RdfFormat.RDF_XML),
    _Format("application/ld+json", ("application/json",), ox.RdfFormat.JSON_LD),
)

#: Short names accepted instead of an Accept header (the ``format`` parameter many SPARQL
#: clients send). One name may stand for a results format and a graph format at once, so
#: ``json`` gives SPARQL JSON for SELECT and JSON-LD for CONSTRUCT, as SPARQLWrapper expects.
FORMAT_NAMES: dict[str, str] = {
    "json": "application/sparql-results+json, application/ld+json",
    "xml": "application/sparql-results+xml, application/rdf+xml",
    "csv": "text/csv",
    "tsv": "text/tab-separated-values",
    "turtle": "text/turtle",
    "ttl": "text/turtle",
    "n3": "text/turtle",
    "ntriples": "application/n-triples",
    "nt": "application/n-triples",
    "rdfxml": "application/rdf+xml",
    "rdf+xml": "application/rdf+xml",
    "rdf": "application/rdf+xml",
    "jsonld": "application/ld+json",
    "json-ld": "application/ld+json",
}


def accept_for_format(name: str) -> str:
    """The Accept value a ``format`` parameter stands for: a short name or a media type."""
    if "/" in name:
        return name
    try:
        return FORMAT_NAMES[name.strip().lower()]
    except KeyError:
        known = ", ".join(sorted(FORMAT_NAMES))
        raise InvalidRequest(
            f"unknown format {name!r}; use one of {known} or a media type"
        ) from None


def _parse_accept(accept: str | None) -> list[tuple[str, float]]:
    """Media ranges with their q-values, in the client's order; malformed entries are skipped."""
    if not accept or not accept.strip():
        return [("*/*", 1.0)]
    ranges = []
    for part in accept.split(","):
        media, *params = (p.strip() for p in part.split(";"))
        if "/" not in media:
            continue
        q = 1.0
        for param in params:
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        ranges.append((media.lower(), q))
    return ranges


def _acceptable(formats: Sequence[_Format], accept: str | None) -> bool:
    try:
        _negotiate(formats, accept)
    except NotAcceptable:
        return False
    return True


def _negotiate(formats: Sequence[_Format], accept: str | None) -> _Format:
    """Pick the format the client ranks highest; ties go to the client's order, then ours."""
    ranges = _parse_accept(accept)
    best: tuple[float, int, int] | None = None
    chosen = None
    for rank, fmt in enumerate(formats):
        # The most specific range that matches decides this format's q (RFC 9110 §12.5.1).
        match = None
        for pos, (media, q) in enumerate(ranges):
            if media in (fmt.media_type, *fmt.aliases):
                specificity = 3
            elif media.endswith("/*") and fmt.media_type.startswith(media[:-1]):
                specificity = 2
            elif media == "*/*":
                specificity = 1
            else:
                continue
            if match is None or specificity > match[0]:
                match = (specificity, q, pos)
        if match is None or match[1] <= 0:
            continue
        key = (-match[1], match[2], rank)
        if best is None or key < best:
            best, chosen = key, fmt
    if chosen is None:
        offered = ", ".join(f.media_type for f in formats)
        raise NotAcceptable(f"cannot answer this query as {accept!r}; available: {offered}")
    return chosen


# --- SERVICE guard --------------------------------------------------------------------------------

_CODEPOINT = re.compile(r"\\u([0-9A-Fa-f]{4})|\\U([0-9A-Fa-f]{8})")
# Everything in which the word SERVICE is data, not a keyword. Leftmost match wins, so an IRI
# containing '#' is not mistaken for a comment and a quote inside an IRI starts no string.
_NOT_CODE = re.compile(
    r'"""(?:[^"\\]|\\.|"(?!""))*"""'
    r"|'''(?:[^'\\]|\\.|'(?!''))*'''"
    r'|"(?:[^"\\\n\r]|\\.)*"'
    r"|'(?:[^'\\\n\r]|\\.)*'"
    r"|<[^<>\"{}|^`\\\x00-\x20]*>"
    r"|#[^\n\r]*",
    re.DOTALL,
)
# Not preceded by a name character (?service, ex:service, _:service) nor followed by one.
_SERVICE = re.compile(r"(?<![\w:?$\-])service(?![\w:\-])", re.IGNORECASE)


def _unescape_codepoints(text: str) -> str:
    # SPARQL 1.1 Query §19.2 expands \u escapes before parsing, making S\u0045RVICE a keyword;
    # pyoxigraph 0.5 does not, but checking both readings stays safe whichever a version does.
    def char(m: re.Match[str]) -> str:
        try:
            return chr(int(m.group(1) or m.group(2), 16))
        except (ValueError, OverflowError):
            return m.group(0)

    return _CODEPOINT.sub(char, text)


def uses_service(query: str) -> bool:
    """Whether ``query`` contains the ``SERVICE`` keyword outside strings, IRIs and comments.

    Errs on the side of refusing: the text is checked both as written and with ``\\u`` escapes
    expanded, and a local name such as ``ex:a.service`` counts too. A rare false refusal is
    cheap next to letting the engine fetch an arbitrary URL.
    """
    return any(
        _SERVICE.search(_NOT_CODE.sub(" ", text)) for text in {query, _unescape_codepoints(query)}
    )


# --- dataset --------------------------------------------------------------------------------------

_RDF_TYPE = ox.NamedNode(iris.RDF + "type")
_VERSION_CLASS = ox.NamedNode(iris.TS + "CodeSystemVersion")
_IS_VERSION_OF = ox.NamedNode(iris.DCT + "isVersionOf")
_VERSION_INFO = ox.NamedNode(iris.OWL + "versionInfo")

_STANDARD_PREFIXES = {
    "rdf": iris.RDF,
    "rdfs": iris.RDFS,
    "owl": iris.OWL,
    "xsd": iris.XSD,
    "skos": iris.SKOS,
    "dct": iris.DCT,
    "ts": iris.TS,
    "core": iris.CORE,
}


@dataclass(frozen=True)
class Release:
    """One scheme release as it sits in the dataset."""

    graph: str
    scheme: str
    version: str
    path: Path


@dataclass(frozen=True)
class DatasetLayout:
    """Which graphs the store holds and which of them make up the default graph."""

    releases: tuple[Release, ...]
    core: Path | None
    default_graphs: tuple[str, ...]
    prefixes: dict[str, str] = field(default_factory=dict)

    @property
    def named_graphs(self) -> tuple[str, ...]:
        return tuple(r.graph for r in self.releases) + ((CORE_GRAPH,) if self.core else ())


def _read_triples(path: Path) -> list[ox.Triple]:
    return [q.triple for q in ox.parse(path=path, format=ox.RdfFormat.TURTLE)]


def _read_release(path: Path) -> tuple[Release, list[ox.Triple]]:
    triples = _read_triples(path)
    nodes = {t.subject for t in triples if t.predicate == _RDF_TYPE and t.object == _VERSION_CLASS}
    if len(nodes) != 1:
        raise ValueError(f"{path}: expected one ts:CodeSystemVersion node, found {len(nodes)}")
    node = nodes.pop()
    about = {t.predicate: t.object.value for t in triples if t.subject == node}
    if _IS_VERSION_OF not in about or _VERSION_INFO not in about:
        raise ValueError(f"{path}: {node} lacks dct:isVersionOf or owl:versionInfo")
    release = Release(node.value, about[_IS_VERSION_OF], about[_VERSION_INFO], path)
    return release, triples


def _prefix_for(scheme_iri: str) -> str | None:
    name = scheme_iri.rstrip("/").rsplit("/", 1)[-1]
    return name if re.fullmatch(r"[A-Za-z][A-Za-z0-9_-]*", name) else None


def build_store(ontology: Path, directory: Path) -> DatasetLayout:
    """Write the dataset (see the module docstring) as a pyoxigraph store in ``directory``."""
    # Imported here so worker processes, which never build, do not load the whole vocabulary.
    from termserver.content import scheme_files
    from termserver.vocabulary import version_key

    loaded = [_read_release(p) for p in scheme_files(ontology)]
    newest: dict[str, Release] = {}
    for release, _ in loaded:
        current = newest.get(release.scheme)
        if current is None or version_key(release.version) > version_key(current.version):
            newest[release.scheme] = release
    core = ontology / CORE_FILE
    core_path = core if core.is_file() else None
    in_default = {r.graph for r in newest.values()}
    graphs = [(r.graph, triples, r.graph in in_default) for r, triples in loaded]
    if core_path is not None:
        graphs.append((CORE_GRAPH, _read_triples(core_path), True))

    def quads() -> Iterable[ox.Quad]:
        for name, triples, default in graphs:
            graph = ox.NamedNode(name)
            for t in triples:
                yield ox.Quad(t.subject, t.predicate, t.object, graph)
                # The default graph is a real copy rather than a per-query dataset, so FROM and
                # FROM NAMED in a query keep their standard meaning. Copying parsed triples
                # (rather than parsing twice) keeps blank nodes identical in both places.
                if default:
                    yield ox.Quad(t.subject, t.predicate, t.object)

    store = ox.Store(str(directory))
    store.bulk_extend(quads())  # one call: 2-3x faster than extend() (one big transaction)
    store.flush()
    # Dropping the only handle closes the database before the read-only workers open it.
    del store

    prefixes = dict(_STANDARD_PREFIXES)
    for scheme in sorted(newest):
        name = _prefix_for(scheme)
        if name and name not in prefixes:
            prefixes[name] = scheme + "/"
    default = tuple(sorted(in_default)) + ((CORE_GRAPH,) if core_path else ())
    releases = tuple(sorted((r for r, _ in loaded), key=lambda r: r.graph))
    return DatasetLayout(releases, core_path, default, prefixes)


# --- the worker process ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _Request:
    query: str
    accept: str | None
    default_graphs: tuple[str, ...] | None
    named_graphs: tuple[str, ...] | None


def _term_json(term: Any) -> dict[str, Any]:
    if isinstance(term, ox.NamedNode):
        return {"type": "uri", "value": term.value}
    if isinstance(term, ox.BlankNode):
        return {"type": "bnode", "value": term.value}
    if isinstance(term, ox.Literal):
        out: dict[str, Any] = {"type": "literal", "value": term.value}
        if term.language:
            out["xml:lang"] = term.language
            if term.direction is not None:
                out["its:dir"] = str(term.direction)
        elif term.datatype.value != iris.XSD + "string":
            out["datatype"] = term.datatype.value
        return out
    if isinstance(term, ox.Triple):
        return {
            "type": "triple",
            "value": {
                "subject": _term_json(term.subject),
                "predicate": _term_json(term.predicate),
                "object": _term_json(term.object),
            },
        }
    raise TypeError(f"unexpected term {term!r}")


def _select(solutions: ox.QuerySolutions, fmt: _Format, max_results: int) -> bytes:
    names = [v.value for v in solutions.variables]
    rows = []
    for solution in solutions:
        if len(rows) == max_results:
            raise TooManyResults(
                f"the query returned more than {max_results} rows; add LIMIT (and OFFSET to page)"
            )
        row = {}
        for i, name in enumerate(names):
            term = solution[i]
            if term is not None:
                row[name] = _term_json(term)
        rows.append(row)
    # Rows are collected by hand to stop at the limit; pyoxigraph's own serialisers then write
    # every format from the JSON, so XML, CSV and TSV follow the W3C specs exactly.
    body = orjson.dumps({"head": {"vars": names}, "results": {"bindings": rows}})
    if fmt.native == ox.QueryResultsFormat.JSON:
        return body
    parsed = ox.parse_query_results(body, format=ox.QueryResultsFormat.JSON)
    return parsed.serialize(format=fmt.native)


def _graph(triples: Iterable[ox.Triple], fmt: _Format, max_results: int, prefixes: dict) -> bytes:
    kept = []
    for triple in triples:
        if len(kept) == max_results:
            raise TooManyResults(
                f"the query returned more than {max_results} triples; add LIMIT or narrow it"
            )
        kept.append(triple)
    return ox.serialize(kept, format=fmt.native, prefixes=prefixes)


def _classify_unparsable(read_only: ox.Store, text: str, error: SyntaxError) -> SparqlError:
    """Tell an update from a malformed query, using the update parser on the read-only store."""
    try:
        read_only.update(text)
    except SyntaxError:
        return QuerySyntaxError(f"SPARQL syntax error: {error}")
    except Exception:
        # Parsed as an update; the read-only store refused to open a write transaction.
        return UpdateRefused(READ_ONLY_MESSAGE)
    # An update with no operations (only a prologue) wrote nothing; report the query error.
    return QuerySyntaxError(f"SPARQL syntax error: {error}")


def _answer(
    store: ox.Store, read_only: ox.Store, req: _Request, max_results: int, prefixes: dict
) -> tuple:
    options: dict[str, Any] = {}
    if req.default_graphs is not None or req.named_graphs is not None:
        options["default_graph"] = [ox.NamedNode(g) for g in req.default_graphs or ()]
        options["named_graphs"] = [ox.NamedNode(g) for g in req.named_graphs or ()]
    try:
        result = store.query(req.query, **options)
    except SyntaxError as exc:
        raise _classify_unparsable(read_only, req.query, exc) from None
    except OSError as exc:
        raise QueryEvaluationError(f"query evaluation failed: {exc}") from None
    try:
        if isinstance(result, ox.QueryBoolean):
            fmt = _negotiate(_RESULT_FORMATS, req.accept)
            return result.serialize(format=fmt.native), fmt.media_type, ASK
        if isinstance(result, ox.QuerySolutions):
            fmt = _negotiate(_RESULT_FORMATS, req.accept)
            return _select(result, fmt, max_results), fmt.media_type, SELECT
        fmt = _negotiate(_GRAPH_FORMATS, req.accept)
        return _graph(result, fmt, max_results, prefixes), fmt.media_type, GRAPH
    except (OSError, ValueError) as exc:
        raise QueryEvaluationError(f"query evaluation failed: {exc}") from None


def _vm_size() -> int | None:
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmSize:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def _limit_memory(extra_mb: int) -> None:
    """Cap the address space at what the worker uses now plus ``extra_mb`` (Linux only)."""
    try:
        import resource
    except ImportError:
        return
    used = _vm_size()
    if used is None or extra_mb <= 0:
        return
    limit = used + extra_mb * 1024 * 1024
    _soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))


def _limit_cpu(seconds: float) -> None:
    """Let the process use at most ``seconds`` more CPU time; past that the kernel ends it."""
    try:
        import resource
    except ImportError:
        return
    usage = resource.getrusage(resource.RUSAGE_SELF)
    _soft, hard = resource.getrlimit(resource.RLIMIT_CPU)
    limit = math.ceil(usage.ru_utime + usage.ru_stime + seconds)
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_CPU, (limit, hard))


def _worker_main(conn: Connection) -> None:
    """Serve one connection: read the settings, open the store, answer requests until EOF."""
    try:
        store_path, max_results, prefixes, memory_mb, timeout = conn.recv()
        read_only = ox.Store.read_only(store_path)
        # Queries run on an in-memory copy: 1.5-4x faster than RocksDB (bench/bench_sparql.py).
        # Nothing ever calls update() on it; the read-only handle only parses updates.
        store = ox.Store()
        store.bulk_extend(read_only)
        _limit_memory(memory_mb)
    except Exception as exc:
        conn.send(("failed", f"{type(exc).__name__}: {exc}"))
        return
    conn.send(("ready",))
    while True:
        try:
            req = conn.recv()
        except (EOFError, OSError):
            return
        # The parent kills a worker at the timeout; this backstop ends a runaway query even if
        # the parent itself died and cannot (an idle orphan just sees EOF and exits).
        _limit_cpu(2 * timeout + 5)
        try:
            reply: tuple = ("ok", *_answer(store, read_only, req, max_results, prefixes))
        except SparqlError as exc:
            reply = ("error", exc.code, str(exc))
        except MemoryError:
            reply = ("error", QueryAborted.code, "the query needed more memory than allowed")
        except Exception as exc:
            reply = ("error", QueryEvaluationError.code, f"query evaluation failed: {exc}")
        conn.send(reply)


def _worker_process() -> None:
    """``python -c`` entry point of a worker; ``sys.argv[1]`` is its socket's file descriptor."""
    _worker_main(Connection(int(sys.argv[1])))


_BOOT = "from termserver.sparql import _worker_process; _worker_process()"


class _StillStarting(EngineFailure):
    """A worker that has not finished loading the store yet (not broken, just not ready)."""


class _Worker:
    """One worker process and the parent's end of its socket.

    Started as a fresh interpreter (what multiprocessing's "spawn" does) but with subprocess:
    "spawn" re-imports the caller's ``__main__``, which breaks or re-runs scripts that lack an
    ``if __name__ == "__main__"`` guard.
    """

    def __init__(self, store_path: Path, layout: DatasetLayout, engine: SparqlEngine) -> None:
        ours, theirs = socket.socketpair()
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, (_PACKAGE_ROOT, env.get("PYTHONPATH"))))
        with theirs:
            self.process = subprocess.Popen(
                [sys.executable, "-c", _BOOT, str(theirs.fileno())],
                pass_fds=(theirs.fileno(),),
                stdin=subprocess.DEVNULL,
                env=env,
            )
        self.conn = Connection(ours.detach())
        settings = (str(store_path), engine.max_results, layout.prefixes, engine.memory_mb)
        self.conn.send((*settings, engine.timeout))
        self.ready = False
        self.spawned = time.monotonic()
        # start(wait=True) and a query may both wait for the same worker's handshake.
        self._handshake = threading.Lock()

    def wait_ready(self, timeout: float) -> None:
        with self._handshake:
            self._wait_ready(timeout)

    def _wait_ready(self, timeout: float) -> None:
        if self.ready:
            return
        if not self.conn.poll(timeout):
            if time.monotonic() - self.spawned < STARTUP_TIMEOUT:
                raise _StillStarting("the SPARQL engine is still starting; retry in a moment")
            raise EngineFailure(f"the SPARQL worker did not start within {STARTUP_TIMEOUT:.0f} s")
        try:
            message = self.conn.recv()
        except (EOFError, OSError):
            raise EngineFailure("the SPARQL worker exited while starting") from None
        if message[0] != "ready":
            raise EngineFailure(f"the SPARQL worker could not open the store: {message[1]}")
        self.ready = True

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        # A process stuck in the kernel is left for the OS to reap rather than blocking us.
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(5)
        self.conn.close()


def _shutdown(workers: set[_Worker], directory: str) -> None:
    for worker in list(workers):
        worker.kill()
    workers.clear()
    shutil.rmtree(directory, ignore_errors=True)


# --- the engine -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class SparqlResult:
    """A serialised answer: the bytes, their media type and the query form."""

    content: bytes
    media_type: str
    form: str  # SELECT, ASK or GRAPH (CONSTRUCT and DESCRIBE)


class SparqlEngine:
    """Answers SPARQL queries over the ontology, read-only, with a time and size limit.

    Construction is cheap: the store is built and the workers started by :meth:`start` or the
    first :meth:`query`. Thread-safe: concurrent callers each take a worker from the pool and
    wait at most ``timeout`` for one to be free. :meth:`close` stops the workers and deletes
    the store (also done at interpreter exit); the next query starts them again.
    """

    def __init__(
        self,
        ontology: Path | None = None,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        max_results: int = DEFAULT_MAX_RESULTS,
        workers: int = DEFAULT_WORKERS,
        max_query_bytes: int = DEFAULT_MAX_QUERY_BYTES,
        memory_limit_mb: int = DEFAULT_MEMORY_LIMIT_MB,
        max_queued: int = DEFAULT_MAX_QUEUED,
    ) -> None:
        if timeout <= 0 or max_results < 1 or workers < 1 or max_query_bytes < 1 or max_queued < 0:
            raise ValueError("timeout, max_results, workers and max_query_bytes must be positive")
        self.ontology = ontology
        self.timeout = float(timeout)
        self.max_results = int(max_results)
        self.workers = int(workers)
        self.max_query_bytes = int(max_query_bytes)
        self.memory_mb = int(memory_limit_mb)
        self.max_queued = int(max_queued)
        self._admission = threading.BoundedSemaphore(self.workers + self.max_queued)
        self._lock = threading.Lock()
        self._idle: queue.Queue[_Worker] = queue.Queue()
        self._all: set[_Worker] = set()
        self._directory: Path | None = None
        self._layout: DatasetLayout | None = None
        self._finalizer: weakref.finalize | None = None

    @property
    def layout(self) -> DatasetLayout:
        """The graphs in the dataset (builds the store if needed)."""
        return self.start(wait=False)

    def start(self, *, wait: bool = True) -> DatasetLayout:
        """Build the store and start the workers if not done yet; with ``wait``, until ready."""
        with self._lock:
            if self._layout is None:
                self._build()
            layout = self._layout
            workers = list(self._all)
        assert layout is not None
        if wait:
            for worker in workers:
                worker.wait_ready(STARTUP_TIMEOUT)
        return layout

    def _build(self) -> None:
        from termserver.content import ontology_dir

        directory = Path(tempfile.mkdtemp(prefix="termserver-sparql-"))
        try:
            layout = build_store(self.ontology or ontology_dir(), directory / "store")
        except Exception as exc:
            shutil.rmtree(directory, ignore_errors=True)
            raise EngineFailure(
                f"could not load the ontology into the SPARQL store: {exc}"
            ) from exc
        self._directory, self._layout = directory, layout
        self._finalizer = weakref.finalize(self, _shutdown, self._all, str(directory))
        for _ in range(self.workers):
            self._idle.put(self._spawn())

    def _spawn(self) -> _Worker:
        assert self._directory is not None and self._layout is not None
        worker = _Worker(self._directory / "store", self._layout, self)
        self._all.add(worker)
        return worker

    def _replace(self, worker: _Worker) -> None:
        """Kill ``worker``; unless the engine was closed meanwhile, put a fresh one in the pool."""
        worker.kill()
        with self._lock:
            if worker in self._all:
                self._all.discard(worker)
                self._idle.put(self._spawn())

    def close(self) -> None:
        """Stop the workers and delete the store."""
        with self._lock:
            if self._finalizer is not None:
                self._finalizer()  # kills self._all and removes the directory
            self._finalizer, self._directory, self._layout = None, None, None
            self._all = set()
            self._idle = queue.Queue()

    def __enter__(self) -> SparqlEngine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def query(
        self,
        text: str,
        *,
        accept: str | None = None,
        default_graph_uris: Sequence[str] | None = None,
        named_graph_uris: Sequence[str] | None = None,
    ) -> SparqlResult:
        """Run one query and serialise its result in the best format ``accept`` allows.

        ``default_graph_uris`` / ``named_graph_uris`` (the protocol's dataset parameters)
        replace the dataset when either is given. Raises a :class:`SparqlError` subclass for
        everything the caller should report to the user.
        """
        request = self._check(text, accept, default_graph_uris, named_graph_uris)
        if not self._admission.acquire(blocking=False):
            raise EngineBusy(
                f"{self.workers} SPARQL queries are running and {self.max_queued} waiting; "
                "retry later"
            )
        try:
            self.start(wait=False)
            return self._run(request)
        finally:
            self._admission.release()

    def _run(self, request: _Request) -> SparqlResult:
        worker = self._acquire()
        try:
            worker.wait_ready(max(self.timeout, QUERY_STARTUP_WAIT))
            return self._ask(worker, request)
        except _StillStarting as exc:
            raise EngineBusy(str(exc)) from None
        except EngineFailure:
            self._replace(worker)
            raise
        finally:
            with self._lock:
                if worker in self._all and worker.process.poll() is None:
                    self._idle.put(worker)

    def _acquire(self) -> _Worker:
        idle = self._idle
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                worker = idle.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise EngineBusy(
                    f"all {self.workers} SPARQL workers stayed busy for {self.timeout:g} s; "
                    "retry later"
                ) from None
            if worker.process.poll() is None:
                return worker
            # Died while idle (killed from outside, say): swap it and take the next one.
            self._replace(worker)

    def _check(
        self,
        text: str,
        accept: str | None,
        default_graph_uris: Sequence[str] | None,
        named_graph_uris: Sequence[str] | None,
    ) -> _Request:
        if not text or not text.strip():
            raise InvalidRequest("no query given; send a SPARQL query in the 'query' parameter")
        size = len(text.encode("utf-8"))
        if size > self.max_query_bytes:
            raise QueryTooLarge(
                f"the query is {size} bytes; this endpoint accepts at most {self.max_query_bytes}"
            )
        if uses_service(text):
            raise ForbiddenFeature("SERVICE (federated query) is not available on this endpoint")
        graphs = []
        for uris in (default_graph_uris, named_graph_uris):
            if uris is None:
                graphs.append(None)
                continue
            for uri in uris:
                try:
                    ox.NamedNode(uri)
                except ValueError as exc:
                    raise InvalidRequest(f"invalid graph IRI {uri!r}: {exc}") from None
            graphs.append(tuple(uris))
        # Refuse an impossible Accept before running anything; which list applies is only known
        # once the worker has parsed the query.
        if not any(_acceptable(formats, accept) for formats in (_RESULT_FORMATS, _GRAPH_FORMATS)):
            offered = ", ".join(f.media_type for f in (*_RESULT_FORMATS, *_GRAPH_FORMATS))
            raise NotAcceptable(f"cannot answer as {accept!r}; available: {offered}")
        return _Request(text, accept, graphs[0], graphs[1])

    def _ask(self, worker: _Worker, request: _Request) -> SparqlResult:
        started = time.monotonic()
        try:
            worker.conn.send(request)
            answered = worker.conn.poll(self.timeout)
            reply = worker.conn.recv() if answered else None
        except (EOFError, OSError):
            reply = ("died",)
        if reply is None:
            self._replace(worker)
            raise QueryTimeout(
                f"the query was stopped after the {self.timeout:g} s time limit; narrow it "
                "(more specific patterns, LIMIT) or ask for less"
            )
        if reply[0] == "died":
            with self._lock:
                closed = worker not in self._all
            if closed:
                raise EngineFailure("the SPARQL engine was shut down while answering")
            self._replace(worker)
            raise QueryAborted(
                f"the query was stopped after {time.monotonic() - started:.1f} s because it "
                f"needed more than the {self.memory_mb} MB of memory a query may use; narrow it "
                "or add LIMIT"
            )
        if reply[0] == "ok":
            return SparqlResult(reply[1], reply[2], reply[3])
        raise _ERRORS.get(reply[1], QueryEvaluationError)(reply[2])


def engine_from_env(ontology: Path | None = None, **overrides: Any) -> SparqlEngine:
    """A :class:`SparqlEngine` configured from ``TERMSERVER_SPARQL_*`` environment variables.

    ``TERMSERVER_SPARQL_TIMEOUT`` (seconds), ``TERMSERVER_SPARQL_MAX_RESULTS`` (rows or
    triples), ``TERMSERVER_SPARQL_WORKERS`` and ``TERMSERVER_SPARQL_MEMORY_MB`` (per worker,
    above what it needs once loaded); keyword ``overrides`` win over the environment.
    """
    settings: dict[str, Any] = {}
    for env, key, kind in (
        (TIMEOUT_ENV, "timeout", float),
        (MAX_RESULTS_ENV, "max_results", int),
        (WORKERS_ENV, "workers", int),
        (MEMORY_ENV, "memory_limit_mb", int),
    ):
        raw = os.environ.get(env)
        if raw:
            try:
                settings[key] = kind(raw)
            except ValueError:
                raise ValueError(f"{env}={raw!r} is not a valid {kind.__name__}") from None
    settings.update(overrides)
    return SparqlEngine(ontology, **settings)
