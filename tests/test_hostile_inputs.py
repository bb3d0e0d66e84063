"""Known hostile documents, sent to every endpoint and loader that reads a client's document.

No endpoint parses XML from a client (the server writes FHIR XML and RDF/XML, never reads them)
and the content loaders read Turtle, JSON and YAML only; the XML bombs below show that: each is
refused by content type or by syntax, never expanded, never fetched. YAML alias bombs, deeply
nested JSON, huge strings and catastrophic regexes are refused (or, for regexes, answered by a
linear-time engine). Each request must come back with a 4xx (or a correct 200) within a generous
cap; the cap only proves it returned at all, it is not a performance target.
"""

from __future__ import annotations

import shutil
import time

import orjson
import pytest
from fastapi.testclient import TestClient

from tests.conftest import FFB, ONTOLOGY, ROOT, VASKE_SIG

pytest_plugins = ["curation_fixtures"]

CAP_SECONDS = 10.0
AD = "http://fhir.kl.dk/term/ValueSet/KLConditionADCodesFFB"

_LOL = "".join(
    f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, 10)
)  # ten to the ninth "lol"s if anyone expanded it
BILLION_LAUGHS = (
    '<?xml version="1.0"?>\n<!DOCTYPE rdf:RDF [<!ENTITY lol0 "lol">' + _LOL + "]>\n"
    '<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" '
    'xmlns:rdfs="http://www.w3.org/2000/01/rdf-schema#">'
    '<rdf:Description rdf:about="urn:x"><rdfs:label>&lol9;</rdfs:label></rdf:Description>'
    "</rdf:RDF>"
)
EXTERNAL_ENTITY = (
    '<?xml version="1.0"?>\n<!DOCTYPE rdf:RDF [<!ENTITY xxe SYSTEM "file:///etc/passwd">'
    '<!ENTITY remote SYSTEM "http://169.254.169.254/latest/meta-data/">]>\n'
    '<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" '
    'xmlns:rdfs="http://www.w3.org/2000/01/rdf-schema#">'
    '<rdf:Description rdf:about="urn:x"><rdfs:label>&xxe;&remote;</rdfs:label>'
    "</rdf:Description></rdf:RDF>"
)
XML_TYPES = ("application/rdf+xml", "application/xml", "text/xml", "application/fhir+xml")
YAML_BOMB = "\n".join(
    ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    + [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 10)]
)
DEEP = 100_000
DEEP_ARRAY = b"[" * DEEP + b"]" * DEEP
DEEP_OBJECT = b'{"a":' * DEEP + b"1" + b"}" * DEEP
CATASTROPHIC = ["(a+)+$", "(a|aa)*(a|aa)*b", "^(([a-z])+.)+[A-Z]([a-z])+$", "(x+x+)+y"]

#: Every operation that reads a request body (the curation ones need the curation engine).
BODY_ENDPOINTS = [
    "/fhir/CodeSystem/$lookup",
    "/fhir/CodeSystem/$validate-code",
    "/fhir/CodeSystem/$subsumes",
    "/fhir/ValueSet/$expand",
    "/fhir/ValueSet/$validate-code",
    "/fhir/ConceptMap/$translate",
    "/fhir/Bundle/$validate",
    "/api/validate",
    "/api/validate/ndjson",
    "/sparql",
    "/api/curation/changes",
    "/api/curation/users",
    "/api/curation/releases",
]


@pytest.fixture(scope="module")
def http(vocab, seeded_template, tmp_path_factory):
    """The full app with curation switched on, and an admin's token."""
    from termserver.api.app import create_app
    from termserver.curation.server import attach
    from termserver.curation.service import Curation
    from termserver.settings import Settings

    data = tmp_path_factory.mktemp("hostile") / "data"
    shutil.copytree(seeded_template, data, symlinks=True)
    cur = Curation.open(data, None, ontology=ONTOLOGY, mappings=ROOT / "mappings")
    _, token = cur.add_user(None, "hostile-admin", "admin", by="test")
    app = attach(create_app(cur.snapshot(), Settings(query_timeout=5.0)), cur)
    try:
        with TestClient(app, raise_server_exceptions=False) as c:
            c.headers["Authorization"] = f"Bearer {token}"
            yield c
    finally:
        app.state.sparql.close()
        cur.close()


def timed(call):
    """Run ``call``; its response, after checking it came back within the cap."""
    start = time.monotonic()
    response = call()
    elapsed = time.monotonic() - start
    assert elapsed < CAP_SECONDS, f"took {elapsed:.1f} s"
    return response


def refused(response) -> None:
    """A 4xx; or for NDJSON, whose answer is a stream of reports, a report per line saying the
    line could not be read."""
    if response.headers.get("content-type", "").startswith("application/x-ndjson"):
        assert response.status_code == 200
        reports = [orjson.loads(line) for line in response.text.splitlines()]
        assert reports and all(r["readable"] is False for r in reports), response.text[:300]
        return
    assert 400 <= response.status_code < 500, (response.status_code, response.text[:300])


# --- XML ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("ctype", XML_TYPES)
@pytest.mark.parametrize("path", BODY_ENDPOINTS)
@pytest.mark.parametrize("doc", [BILLION_LAUGHS, EXTERNAL_ENTITY], ids=["laughs", "xxe"])
def test_xml_bombs_are_refused_by_every_endpoint_that_reads_a_body(http, path, ctype, doc):
    r = timed(lambda: http.post(path, content=doc.encode(), headers={"content-type": ctype}))
    refused(r)
    assert "lollol" not in r.text and "root:" not in r.text


def test_no_rdf_loader_reads_xml_so_an_xml_bomb_in_a_scheme_file_is_a_clean_error(tmp_path):
    from termserver.errors import SourceError
    from termserver.rdf_scheme import read_turtle

    for name, doc in (("laughs", BILLION_LAUGHS), ("xxe", EXTERNAL_ENTITY)):
        path = tmp_path / f"{name}.ttl"
        path.write_text(doc, encoding="utf-8")
        start = time.monotonic()
        with pytest.raises(SourceError, match="invalid Turtle"):
            read_turtle(path)
        assert time.monotonic() - start < CAP_SECONDS


def test_sparql_cannot_be_made_to_read_xml_from_anywhere(http):
    for query in (
        "SELECT * FROM <file:///etc/passwd> WHERE { ?s ?p ?o } LIMIT 1",
        "SELECT * WHERE { SERVICE <http://169.254.169.254/> { ?s ?p ?o } }",
        "LOAD <file:///etc/passwd>",
    ):
        r = timed(lambda q=query: http.get("/sparql", params={"query": q}))
        assert r.status_code < 500
        assert "root:" not in r.text


# --- YAML ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("ctype", ["application/yaml", "application/x-yaml", "text/yaml"])
def test_yaml_alias_bomb_to_plan_validation_is_refused(http, ctype):
    r = timed(
        lambda: http.post("/api/validate", content=YAML_BOMB, headers={"content-type": ctype})
    )
    refused(r)
    assert "alias" in r.text.lower()


def test_yaml_alias_bomb_in_a_mapping_file_or_sssom_header_is_a_source_error(vocab):
    from termserver.errors import SourceError
    from termserver.mappings import parse_mapping_set
    from termserver.sssom import read_sssom

    start = time.monotonic()
    with pytest.raises(SourceError, match="alias"):
        parse_mapping_set(YAML_BOMB, "bomb.yaml")
    header = "".join(f"#{line}\n" for line in YAML_BOMB.splitlines())
    with pytest.raises(SourceError, match="alias"):
        read_sssom(header + "subject_id\tpredicate_id\tobject_id\n", "bomb.tsv", vocab, set_id="b")
    assert time.monotonic() - start < CAP_SECONDS


# --- deeply nested JSON -------------------------------------------------------------------------


@pytest.mark.parametrize("body", [DEEP_ARRAY, DEEP_OBJECT], ids=["array", "object"])
@pytest.mark.parametrize("path", BODY_ENDPOINTS)
def test_deeply_nested_json_is_refused_by_every_endpoint(http, path, body):
    ctype = "application/fhir+json" if path.startswith("/fhir") else "application/json"
    r = timed(lambda: http.post(path, content=body, headers={"content-type": ctype}))
    refused(r)


def test_deeply_nested_ndjson_line_is_reported_and_the_next_line_still_validated(http):
    plan = (ROOT / "examples" / "plans" / "borgerens-plan.json").read_bytes()
    body = DEEP_ARRAY + b"\n" + orjson.dumps(orjson.loads(plan)) + b"\n"
    r = timed(
        lambda: http.post(
            "/api/validate/ndjson", content=body, headers={"content-type": "application/x-ndjson"}
        )
    )
    assert r.status_code == 200
    lines = [orjson.loads(line) for line in r.text.splitlines()]
    assert len(lines) == 2


def test_deeply_nested_code_system_is_a_clean_import_error(tmp_path):
    from termserver.errors import SourceError
    from termserver.importer import import_codesystem

    depth = 5000  # a real code system is a handful of levels deep
    head = (
        '{"resourceType": "CodeSystem", "id": "deep", "url": "urn:example:deep", '
        '"version": "1", "status": "draft", "content": "complete", "concept": ['
    )
    nested = (
        '{"code": "c", "display": "c", "concept": [' * depth + '{"code": "leaf"}' + "]}" * depth
    )
    path = tmp_path / "deep.json"
    path.write_text(head + nested + "]}", encoding="utf-8")
    start = time.monotonic()
    with pytest.raises(SourceError):
        import_codesystem(path, tmp_path / "out")
    assert time.monotonic() - start < CAP_SECONDS


# --- huge strings -------------------------------------------------------------------------------

# As long as a client library will send in a URL (httpx stops at 64 KiB); far past every cap.
HUGE = "x" * 60_000


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/fhir/CodeSystem/$lookup", {"system": FFB, "code": HUGE}),
        ("/fhir/ValueSet/$expand", {"url": AD, "filter": HUGE}),
        ("/fhir/ValueSet/$validate-code", {"url": AD, "code": HUGE, "system": FFB}),
        ("/fhir/ConceptMap/$translate", {"system": FFB, "code": HUGE}),
        ("/api/search", {"q": HUGE}),
        ("/api/concept", {"iri": HUGE}),
        ("/api/translate", {"system": "ffb", "code": HUGE}),
        ("/api/diff", {"from": HUGE, "to": "x"}),
        ("/sparql", {"query": HUGE}),
        ("/api/curation/changes", {"target": HUGE}),
    ],
)
def test_huge_query_strings_are_refused(http, path, params):
    r = timed(lambda: http.get(path, params=params))
    assert r.status_code < 500, r.text[:300]
    assert HUGE not in r.text  # never echoed whole


def test_huge_path_segment_is_not_found(http):
    r = timed(lambda: http.get(f"/api/concepts/ffb/{HUGE}"))
    assert 400 <= r.status_code < 500


def test_huge_strings_in_a_body_are_refused(http):
    huge = "x" * 2_000_000
    big = {
        "resourceType": "Parameters",
        "parameter": [{"name": "system", "valueUri": FFB}, {"name": "code", "valueCode": huge}],
    }
    refused(timed(lambda: http.post("/fhir/CodeSystem/$lookup", json=big)))
    change = {"kind": "concept.label", "payload": {"scheme": "ffb", "code": VASKE_SIG}}
    change["payload"]["label"] = huge
    change["reason"] = huge
    refused(timed(lambda: http.post("/api/curation/changes", json=change)))
    over_body_cap = b'{"id": "' + b"x" * (11 * 1024 * 1024) + b'"}'
    r = timed(
        lambda: http.post(
            "/api/validate", content=over_body_cap, headers={"content-type": "application/json"}
        )
    )
    assert r.status_code == 413


# --- catastrophic regexes -----------------------------------------------------------------------


@pytest.mark.parametrize("pattern", CATASTROPHIC)
def test_catastrophic_regex_in_an_inline_expand_filter_returns(http, pattern):
    vs = {
        "resourceType": "ValueSet",
        "status": "draft",
        "compose": {
            "include": [
                {
                    "system": FFB,
                    "filter": [{"property": "display", "op": "regex", "value": pattern}],
                }
            ]
        },
    }
    body = {"resourceType": "Parameters", "parameter": [{"name": "valueSet", "resource": vs}]}
    r = timed(lambda: http.post("/fhir/ValueSet/$expand", json=body))
    assert r.status_code in (200, 400, 422), r.text[:300]


@pytest.mark.parametrize("pattern", CATASTROPHIC)
def test_catastrophic_regex_in_sparql_returns(http, pattern):
    query = (
        "PREFIX skos: <http://www.w3.org/2004/02/skos/core#> "
        "SELECT ?c WHERE { ?c skos:prefLabel ?l "
        f'FILTER(REGEX(CONCAT(STR(?l), "{"a" * 5000}!"), "{pattern}")) }} LIMIT 5'
    )
    r = timed(lambda: http.get("/sparql", params={"query": query}))
    assert r.status_code in (200, 400, 503), r.text[:300]


@pytest.mark.parametrize("pattern", CATASTROPHIC)
def test_regex_syntax_in_a_search_is_plain_text(http, pattern):
    r = timed(lambda: http.get("/api/search", params={"q": pattern + "a" * 150}))
    assert r.status_code in (200, 400, 422)
