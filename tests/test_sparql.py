"""The read-only SPARQL endpoint at /sparql and the engine behind it."""

from __future__ import annotations

import contextlib
import csv
import io
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

import psutil
import pyoxigraph as ox
import pytest
from conftest import EGENOMSORG, FFB_TILSTANDE, KL_SCHEMES, LOCAL_SCHEMES, ONTOLOGY, ROOT, VASKE_SIG
from fastapi.testclient import TestClient

from termserver.api.app import create_app
from termserver.api.state import Snapshot
from termserver.sparql import (
    CORE_GRAPH,
    QueryAborted,
    QueryTimeout,
    QueryTooLarge,
    SparqlEngine,
    UpdateRefused,
    uses_service,
)

BASE = "https://w3id.org/ffb-termserver/"
FFB_SCHEME = BASE + "ffb"
VASKE_IRI = f"{BASE}ffb/{VASKE_SIG}"
EGENOMSORG_IRI = f"{BASE}ffb/{EGENOMSORG}"
FFB_RELEASES = [f"{FFB_SCHEME}/version/{v}" for v in ("20200908", "20230517", "20240530")]
TIMEOUT = 2.0
MAX_RESULTS = 1000

PREFIXES = """
PREFIX skos: <http://www.w3.org/2004/02/skos/core#>
PREFIX dct: <http://purl.org/dc/terms/>
PREFIX ts: <https://w3id.org/ffb-termserver/def#>
PREFIX ffb: <https://w3id.org/ffb-termserver/ffb/>
"""
VASKE_BY_LABEL = (
    PREFIXES + 'SELECT ?c ?code WHERE { ?c skos:prefLabel "Vaske sig"@da ; skos:notation ?code }'
)
# Counting a cross product streams (no memory growth) and never ends on this data: a pure timeout.
ENDLESS = "SELECT (COUNT(*) AS ?n) WHERE { ?a ?p ?b . ?c ?q ?d . ?e ?r ?f . ?g ?s ?h }"
# Sorting a cross product must materialise it: slow *and* memory-hungry.
SORTED_CROSS_PRODUCT = (
    "SELECT ?a ?b ?c ?d WHERE { ?a ?p ?x . ?b ?q ?y . ?c ?r ?z . ?d ?s ?w } ORDER BY ?a ?b ?c ?d"
)
TRIPLE_COUNT = "SELECT (COUNT(*) AS ?n) WHERE { GRAPH ?g { ?s ?p ?o } }"


@pytest.fixture(scope="module")
def app(vocab):
    app = create_app(Snapshot(vocab=vocab, release="test"))
    # Tight limits so the limit tests run fast; the factory's own engine was never started.
    app.state.sparql = SparqlEngine(ONTOLOGY, timeout=TIMEOUT, max_results=MAX_RESULTS)
    return app


@pytest.fixture(scope="module")
def http(app) -> Iterator[TestClient]:
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


def bindings(response) -> list[dict[str, str]]:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/sparql-results+json")
    rows = response.json()["results"]["bindings"]
    return [{k: v["value"] for k, v in row.items()} for row in rows]


def select(http: TestClient, query: str, **params) -> list[dict[str, str]]:
    return bindings(http.get("/sparql", params={"query": query, **params}))


def ask(http: TestClient, query: str) -> bool:
    response = http.get("/sparql", params={"query": query})
    assert response.status_code == 200, response.text
    return response.json()["boolean"]


def error_of(response, status: int) -> dict:
    assert response.status_code == status, response.text
    return response.json()


@contextlib.contextmanager
def listening_socket() -> Iterator[tuple[int, list[bytes]]]:
    """A local TCP port that records whatever connects to it, to prove nothing does."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(4)
    server.settimeout(0.2)
    received: list[bytes] = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                continue
            with conn:
                received.append(conn.recv(4096) or b"<connected>")

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield server.getsockname()[1], received
    finally:
        stop.set()
        thread.join(2)
        server.close()


# --- the dataset ----------------------------------------------------------------------------------


def test_select_finds_vaske_sig_by_label_in_the_default_graph(http):
    rows = select(http, VASKE_BY_LABEL)
    ffb_rows = [r for r in rows if r["c"] == VASKE_IRI]
    # The default graph holds only the newest FFB release, so the concept appears once.
    assert ffb_rows == [{"c": VASKE_IRI, "code": VASKE_SIG}]


def test_graph_reaches_vaske_sig_in_all_three_ffb_releases(http):
    query = (
        PREFIXES
        + f"""SELECT ?g (COUNT(*) AS ?n) WHERE {{
            GRAPH ?g {{
                <{VASKE_IRI}> skos:notation "{VASKE_SIG}" . ?g dct:isVersionOf <{FFB_SCHEME}>
            }}
        }} GROUP BY ?g ORDER BY ?g"""
    )
    rows = select(http, query)
    assert [r["g"] for r in rows] == FFB_RELEASES
    assert all(r["n"] == "1" for r in rows)


def test_default_graph_is_the_newest_release_of_each_scheme(http):
    rows = select(
        http, PREFIXES + "SELECT ?v WHERE { ?v a ts:CodeSystemVersion ; dct:isVersionOf ?s }"
    )
    versions = {r["v"] for r in rows}
    assert f"{FFB_SCHEME}/version/20240530" in versions
    assert not versions & set(FFB_RELEASES[:2])
    assert len(versions) == len(KL_SCHEMES | LOCAL_SCHEMES)  # the newest release of each


@pytest.mark.skipif(not (ONTOLOGY / "ffb-core.ttl").exists(), reason="ffb-core.ttl not written yet")
def test_core_model_is_a_named_graph_and_part_of_the_default_graph(http):
    owl_class = "<http://www.w3.org/2002/07/owl#Class>"
    assert ask(http, f"ASK {{ GRAPH <{CORE_GRAPH}> {{ ?c a {owl_class} }} }}")
    assert ask(http, f"ASK {{ ?c a {owl_class} }}")


def test_ask_subsumption_with_broader_plus(http):
    assert ask(http, PREFIXES + f"ASK {{ <{VASKE_IRI}> skos:broader+ <{EGENOMSORG_IRI}> }}")
    assert ask(http, PREFIXES + f"ASK {{ <{VASKE_IRI}> skos:broader+ ffb:{FFB_TILSTANDE} }}")
    assert not ask(http, PREFIXES + f"ASK {{ <{EGENOMSORG_IRI}> skos:broader+ <{VASKE_IRI}> }}")


def test_default_graph_uri_chooses_one_release(http):
    query = PREFIXES + "SELECT ?v WHERE { ?v a ts:CodeSystemVersion }"
    rows = select(http, query, **{"default-graph-uri": FFB_RELEASES[0]})
    assert rows == [{"v": FFB_RELEASES[0]}]


def test_named_graph_uri_limits_what_graph_can_see(http):
    query = "SELECT DISTINCT ?g WHERE { GRAPH ?g { ?s ?p ?o } }"
    rows = select(http, query, **{"named-graph-uri": FFB_RELEASES[1]})
    assert rows == [{"g": FFB_RELEASES[1]}]


def test_from_named_in_the_query_is_honoured(http):
    query = f"SELECT DISTINCT ?g FROM NAMED <{FFB_RELEASES[2]}> WHERE {{ GRAPH ?g {{ ?s ?p ?o }} }}"
    assert select(http, query) == [{"g": FFB_RELEASES[2]}]


def test_invalid_graph_iri_is_a_clear_error(http):
    response = http.get("/sparql", params={"query": "ASK {}", "default-graph-uri": "not an iri"})
    assert "invalid graph IRI" in error_of(response, 400)["message"]


# --- formats --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("accept", "media_type", "fmt"),
    [
        ("application/sparql-results+json", "application/sparql-results+json", "JSON"),
        ("application/sparql-results+xml", "application/sparql-results+xml", "XML"),
        ("text/csv", "text/csv", "CSV"),
        ("text/tab-separated-values", "text/tab-separated-values", "TSV"),
        ("application/xml;q=0.5, text/csv;q=0.9", "text/csv", "CSV"),
        ("text/html, */*;q=0.1", "application/sparql-results+json", "JSON"),
    ],
)
def test_select_results_follow_the_accept_header(http, accept, media_type, fmt):
    response = http.get("/sparql", params={"query": VASKE_BY_LABEL}, headers={"Accept": accept})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].split(";")[0] == media_type
    if fmt == "CSV":  # lossy by design, so pyoxigraph does not read it back
        found = {row["c"] for row in csv.DictReader(io.StringIO(response.text))}
    else:
        parsed = ox.parse_query_results(response.content, getattr(ox.QueryResultsFormat, fmt))
        found = {row["c"].value for row in parsed}
    assert VASKE_IRI in found


def test_ask_results_in_xml(http):
    response = http.get(
        "/sparql",
        params={"query": "ASK { ?s ?p ?o }"},
        headers={"Accept": "application/sparql-results+xml"},
    )
    assert response.status_code == 200
    assert bool(ox.parse_query_results(response.content, ox.QueryResultsFormat.XML))


def test_format_parameter_overrides_accept(http):
    response = http.get(
        "/sparql",
        params={"query": VASKE_BY_LABEL, "format": "csv"},
        headers={"Accept": "application/sparql-results+xml"},
    )
    assert response.headers["content-type"].startswith("text/csv")
    assert response.text.startswith("c,code\r\n")


def test_construct_returns_turtle(http):
    query = (
        PREFIXES
        + f"CONSTRUCT {{ <{VASKE_IRI}> skos:broader ?b }} WHERE {{ <{VASKE_IRI}> skos:broader ?b }}"
    )
    response = http.get("/sparql", params={"query": query}, headers={"Accept": "text/turtle"})
    assert response.headers["content-type"].startswith("text/turtle")
    triples = list(ox.parse(response.content, ox.RdfFormat.TURTLE))
    assert [(t.subject.value, t.object.value) for t in triples] == [(VASKE_IRI, EGENOMSORG_IRI)]


def test_describe_returns_turtle_by_default(http):
    response = http.get("/sparql", params={"query": f"DESCRIBE <{VASKE_IRI}>"})
    assert response.headers["content-type"].startswith("text/turtle")
    labels = {
        t.object.value
        for t in ox.parse(response.content, ox.RdfFormat.TURTLE)
        if t.predicate.value.endswith("#prefLabel")
    }
    assert labels == {"Vaske sig"}


@pytest.mark.parametrize(
    ("accept", "fmt"),
    [
        ("application/n-triples", "N_TRIPLES"),
        ("application/rdf+xml", "RDF_XML"),
        ("application/ld+json", "JSON_LD"),
    ],
)
def test_describe_in_other_rdf_formats(http, accept, fmt):
    response = http.get(
        "/sparql", params={"query": f"DESCRIBE <{VASKE_IRI}>"}, headers={"Accept": accept}
    )
    assert response.headers["content-type"].startswith(accept)
    subjects = {t.subject.value for t in ox.parse(response.content, getattr(ox.RdfFormat, fmt))}
    assert subjects == {VASKE_IRI}


def test_unacceptable_format_is_406(http):
    response = http.get("/sparql", params={"query": "ASK {}"}, headers={"Accept": "image/png"})
    assert error_of(response, 406)["error"] == "not-acceptable"
    response = http.get("/sparql", params={"query": f"DESCRIBE <{VASKE_IRI}>", "format": "csv"})
    assert error_of(response, 406)["error"] == "not-acceptable"


def test_unknown_format_name_is_a_clear_error(http):
    response = http.get("/sparql", params={"query": "ASK {}", "format": "excel"})
    assert "unknown format 'excel'" in error_of(response, 400)["message"]


# --- protocol -------------------------------------------------------------------------------------


def test_post_with_a_sparql_query_body(http):
    response = http.post(
        "/sparql", content=VASKE_BY_LABEL, headers={"Content-Type": "application/sparql-query"}
    )
    assert VASKE_IRI in {r["c"] for r in bindings(response)}


def test_post_with_a_form(http):
    response = http.post("/sparql", data={"query": VASKE_BY_LABEL})
    assert VASKE_IRI in {r["c"] for r in bindings(response)}


def test_missing_query_is_400(http):
    assert error_of(http.get("/sparql"), 400)["error"] == "invalid"
    assert error_of(http.get("/sparql", params={"query": "  "}), 400)["error"] == "invalid"


def test_two_query_parameters_are_400(http):
    response = http.get("/sparql", params=[("query", "ASK {}"), ("query", "DROP ALL")])
    assert "exactly one" in error_of(response, 400)["message"]


def test_unsupported_post_content_type_is_415(http):
    response = http.post("/sparql", content=b"{}", headers={"Content-Type": "application/json"})
    assert error_of(response, 415)["error"] == "unsupported-media-type"


# --- refusals and errors --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "update",
    [
        'INSERT DATA { <http://example.org/a> <http://example.org/b> "c" }',
        "DELETE WHERE { ?s ?p ?o }",
        "LOAD <http://example.org/data.ttl>",
        "CLEAR ALL",
        "DROP ALL",
        "CREATE GRAPH <http://example.org/g>",
        PREFIXES + "DELETE { ?c skos:prefLabel ?l } INSERT { ?c skos:prefLabel 'x' } "
        "WHERE { ?c skos:prefLabel ?l }",
    ],
)
def test_updates_are_refused_as_read_only(http, update):
    before = select(http, TRIPLE_COUNT)
    body = error_of(http.get("/sparql", params={"query": update}), 400)
    assert body["error"] == "read-only" and "read-only" in body["message"]
    assert select(http, TRIPLE_COUNT) == before


def test_update_requests_by_protocol_are_refused(http):
    for response in (
        http.post(
            "/sparql", content="DROP ALL", headers={"Content-Type": "application/sparql-update"}
        ),
        http.post("/sparql", data={"update": "DROP ALL"}),
        http.get("/sparql", params={"update": "DROP ALL"}),
    ):
        assert error_of(response, 400)["error"] == "read-only"


def test_load_never_reaches_the_network(http):
    with listening_socket() as (port, received):
        response = http.get("/sparql", params={"query": f"LOAD <http://127.0.0.1:{port}/x.ttl>"})
        time.sleep(0.3)
    assert error_of(response, 400)["error"] == "read-only"
    assert received == []


def test_service_is_refused_and_never_fetched(http):
    with listening_socket() as (port, received):
        for query in (
            f"SELECT * WHERE {{ SERVICE <http://127.0.0.1:{port}/sparql> {{ ?s ?p ?o }} }}",
            f"SELECT * WHERE {{ ?s ?p ?o .service SILENT <http://127.0.0.1:{port}/>{{}} }}",
            f"SELECT * WHERE {{ \\u0053ERVICE <http://127.0.0.1:{port}/> {{}} }}",
        ):
            response = http.get("/sparql", params={"query": query})
            assert error_of(response, 400)["error"] == "forbidden", query
        time.sleep(0.3)
    assert received == []


def test_service_detection_ignores_strings_iris_and_names():
    assert not uses_service('SELECT ?service WHERE { ?service <http://x/SERVICE> "SERVICE" }')
    assert not uses_service("SELECT * WHERE { ?s ?p ?o } # SERVICE <http://x/>")
    assert not uses_service("PREFIX service: <x:> SELECT * WHERE { ?s service:a ex:service }")
    assert uses_service("SELECT * WHERE { service<http://x/>{} }")


def test_syntax_error_carries_the_parser_message(http):
    body = error_of(http.get("/sparql", params={"query": "SELECT ?s WHERE { ?s ?p"}), 400)
    assert body["error"] == "syntax"
    assert body["message"].startswith("SPARQL syntax error: error at 1:")


@pytest.mark.parametrize(
    "injected",
    [
        "SELECT * WHERE { ?s ?p ?o }} ; DROP ALL",
        "}} ; DROP ALL",
        "ASK {}&update=DROP ALL",
        'SELECT * WHERE { ?s ?p "x" }" ; DROP ALL ; "',
        "ASK {} ; CLEAR DEFAULT",
    ],
)
def test_injection_in_the_query_parameter_stays_inside_it(http, injected):
    before = select(http, TRIPLE_COUNT)
    body = error_of(http.get("/sparql", params={"query": injected}), 400)
    assert body["error"] in {"syntax", "read-only"}
    assert select(http, TRIPLE_COUNT) == before


def test_raw_url_with_an_encoded_ampersand_is_one_query(http):
    body = error_of(http.get("/sparql?query=ASK%20%7B%7D%26update%3DDROP%20ALL"), 400)
    assert body["error"] == "syntax"


# --- limits ---------------------------------------------------------------------------------------


def test_slow_query_times_out_quickly_and_the_next_query_succeeds(http):
    started = time.monotonic()
    response = http.get("/sparql", params={"query": ENDLESS})
    elapsed = time.monotonic() - started
    body = error_of(response, 503)
    assert body["error"] == "timeout" and "time limit" in body["message"]
    assert response.headers["Retry-After"]
    assert elapsed < TIMEOUT + 2
    assert ask(http, "ASK { ?s ?p ?o }")


def test_sorted_cross_product_is_stopped_and_the_server_keeps_serving(http):
    started = time.monotonic()
    response = http.get("/sparql", params={"query": SORTED_CROSS_PRODUCT})
    # Whichever limit the sort reaches first (time or memory) stops it, with its own message.
    assert error_of(response, 503)["error"] in {"timeout", "aborted"}
    assert time.monotonic() - started < TIMEOUT + 2
    assert VASKE_IRI in {r["c"] for r in select(http, VASKE_BY_LABEL)}


def test_a_slow_query_does_not_block_other_queries(http):
    slow = threading.Thread(
        target=http.get, args=("/sparql",), kwargs={"params": {"query": ENDLESS}}
    )
    slow.start()
    try:
        time.sleep(0.3)
        started = time.monotonic()
        assert ask(http, "ASK { ?s ?p ?o }")
        assert time.monotonic() - started < 1.0
    finally:
        slow.join()


def test_result_size_limit_is_an_error_not_a_truncation(http):
    body = error_of(http.get("/sparql", params={"query": "SELECT * WHERE { ?s ?p ?o }"}), 400)
    assert (
        body["error"] == "too-many-results" and f"more than {MAX_RESULTS} rows" in body["message"]
    )
    limited = select(http, f"SELECT * WHERE {{ ?s ?p ?o }} LIMIT {MAX_RESULTS}")
    assert len(limited) == MAX_RESULTS
    construct = http.get("/sparql", params={"query": "CONSTRUCT WHERE { ?s ?p ?o }"})
    assert "triples" in error_of(construct, 400)["message"]


def test_oversized_query_is_413(http):
    # Too long for a URL (httpx refuses), so GET is covered by the engine test below.
    huge = "ASK {}\n#" + "x" * 100_001
    for response in (
        http.post("/sparql", content=huge, headers={"Content-Type": "application/sparql-query"}),
        http.post("/sparql", data={"query": huge}),
    ):
        assert error_of(response, 413)["error"] == "too-large"


# --- the engine on its own ------------------------------------------------------------------------


def test_memory_hungry_query_is_aborted_and_the_worker_replaced():
    with SparqlEngine(ONTOLOGY, timeout=30, workers=1, memory_limit_mb=256) as engine:
        engine.start()
        with pytest.raises(QueryAborted, match="256 MB"):
            engine.query(SORTED_CROSS_PRODUCT)
        assert engine.query("ASK { ?s ?p ?o }").content == b'{"head":{},"boolean":true}'


def test_timeout_with_a_single_worker_replaces_it():
    with SparqlEngine(ONTOLOGY, timeout=1, workers=1) as engine:
        engine.start()
        with pytest.raises(QueryTimeout):
            engine.query(ENDLESS)
        assert engine.query("ASK { ?s ?p ?o }").form == "ask"


@pytest.fixture()
def one_worker_http(vocab) -> Iterator[TestClient]:
    """/sparql served by a single worker that lets one more query wait for it."""
    app = create_app(Snapshot(vocab=vocab, release="test"))
    app.state.sparql = SparqlEngine(ONTOLOGY, timeout=1, workers=1, max_queued=1)
    with TestClient(app, raise_server_exceptions=False) as c:
        app.state.sparql.start()
        yield c


def test_the_query_right_after_a_timeout_is_answered_by_the_replacement_worker(one_worker_http):
    assert error_of(one_worker_http.get("/sparql", params={"query": ENDLESS}), 503)
    started = time.monotonic()
    assert ask(one_worker_http, "ASK { ?s ?p ?o }")
    assert time.monotonic() - started < 5


def test_queries_beyond_the_workers_and_the_queue_get_503_at_once(one_worker_http):
    results: list[int] = []

    def slow() -> None:
        results.append(one_worker_http.get("/sparql", params={"query": ENDLESS}).status_code)

    running = [threading.Thread(target=slow) for _ in range(2)]  # one runs, one waits
    for t in running:
        t.start()
    time.sleep(0.3)
    try:
        started = time.monotonic()
        response = one_worker_http.get("/sparql", params={"query": "ASK { ?s ?p ?o }"})
        assert time.monotonic() - started < 0.5
        body = error_of(response, 503)
        assert body["error"] == "busy" and response.headers["Retry-After"]
    finally:
        for t in running:
            t.join()
    assert results.count(503) == 2  # the running query timed out; the waiting one too, or busy


def test_engine_refuses_updates_without_http():
    with SparqlEngine(ONTOLOGY, workers=1) as engine, pytest.raises(UpdateRefused):
        engine.query("DROP ALL")


def test_engine_checks_query_size_before_starting():
    engine = SparqlEngine(ONTOLOGY, max_query_bytes=50)
    with pytest.raises(QueryTooLarge, match="at most 50"):
        engine.query("ASK {} # " + "x" * 50)
    assert engine._directory is None  # nothing was built or started for it


def test_close_stops_every_worker_and_removes_the_store():
    me = psutil.Process()
    before = {p.pid for p in me.children()}
    engine = SparqlEngine(ONTOLOGY, workers=2)
    engine.start()
    workers = {p.pid for p in me.children()} - before
    store = engine._directory
    assert len(workers) == 2 and store is not None and store.exists()
    engine.close()
    assert not any(
        psutil.pid_exists(pid) and psutil.Process(pid).status() != "zombie" for pid in workers
    )
    assert not store.exists()


# --- a real client against a real server ----------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture()
def live_server(tmp_path) -> Iterator[tuple[str, psutil.Process]]:
    """``uvicorn termserver.api.main:app`` on a free loopback port, always stopped afterwards."""
    import httpx

    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    log = (tmp_path / "uvicorn.log").open("wb")
    env = {**os.environ, "TERMSERVER_SPARQL_TIMEOUT": "5"}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "termserver.api.main:app",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 90
        while True:
            if proc.poll() is not None:
                pytest.fail(f"uvicorn exited: {(tmp_path / 'uvicorn.log').read_text()}")
            try:
                if (
                    httpx.get(f"{base}/sparql", params={"query": "ASK {}"}, timeout=5).status_code
                    == 200
                ):
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.fail("uvicorn did not answer within 90 s")
            time.sleep(0.2)
        yield f"{base}/sparql", psutil.Process(proc.pid)
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def test_sparqlwrapper_queries_a_live_server(live_server):
    from SPARQLWrapper import JSON, POST, TURTLE, SPARQLWrapper
    from SPARQLWrapper.SPARQLExceptions import QueryBadFormed

    endpoint, server = live_server
    client = SPARQLWrapper(endpoint)
    client.setReturnFormat(JSON)
    client.setQuery(VASKE_BY_LABEL)
    rows = client.queryAndConvert()["results"]["bindings"]
    assert VASKE_IRI in {r["c"]["value"] for r in rows}

    client.setQuery(PREFIXES + f"ASK {{ <{VASKE_IRI}> skos:broader+ <{EGENOMSORG_IRI}> }}")
    assert client.queryAndConvert()["boolean"] is True

    client.setQuery(f"DESCRIBE <{VASKE_IRI}>")
    client.setReturnFormat(TURTLE)
    turtle = client.queryAndConvert()
    assert "Vaske sig" in {t.object.value for t in ox.parse(turtle, ox.RdfFormat.TURTLE)}

    client.setQuery("DROP ALL")
    client.setMethod(POST)
    client.setReturnFormat(JSON)
    with pytest.raises(QueryBadFormed, match="read-only"):
        client.query()

    # The server's SPARQL workers are its children; stopping the server must stop them too.
    workers = server.children(recursive=True)
    assert workers
    server.terminate()
    server.wait(20)
    _, alive = psutil.wait_procs(workers, timeout=10)
    assert alive == []
