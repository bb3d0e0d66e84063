"""Hostile and odd input to /fhir: never a 500, never a hang, never malformed XML.

Also the test-only vocabulary other tests use for what the real content lacks (a retired and a
deprecated code, an English designation, markup in a label, a '/' in a code): the FFB slice at
its own system URL, changed as each line below says. It is not KL content.
"""

from __future__ import annotations

import json
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator

import pytest
from conftest import DATA, EGENOMSORG, FFB, VASKE_SIG
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

AD = "http://fhir.kl.dk/term/ValueSet/KLConditionADCodesFFB"
FHIR_NS = "{http://hl7.org/fhir}"

# --- the test-only vocabulary ---------------------------------------------------------------------

TEST_SYSTEM = "https://w3id.org/ffb-termserver/test/ffb-slice"
SPISE = "464a2ab6-a7df-4b3a-b74d-7873f4cfe668"  # retired here, replaced by Drikke
DRIKKE = "14615a09-bd94-4602-b43a-f6d3d3f9801d"
KLAEDE = "347aa085-4fe2-411f-ac56-5693d164adc3"  # deprecated here
SLASH_CODE = "320c9aa6/630e-4695"  # "Bære, flytte ..." with a '/' put into its code
SCRIPT_LABEL = "Egenomsorg <script>alert(1)</script>"


def test_slice_document() -> dict:
    """The FFB slice, moved to TEST_SYSTEM and changed for the tests (see the module doc)."""
    doc = json.loads((DATA / "codesystem-ffb-slice.json").read_text("utf-8"))
    doc |= {"url": TEST_SYSTEM, "id": "test-slice", "version": "1", "name": "TestSlice"}
    doc["property"] = [
        {"code": "status", "type": "code"},
        {"code": "replacedBy", "type": "code"},
    ]
    aktivitet = doc["concept"][0]["concept"][0]
    egenomsorg, mobilitet = aktivitet["concept"][:2]
    egenomsorg["display"] = SCRIPT_LABEL
    by_code = {c["code"]: c for c in egenomsorg["concept"]}
    by_code[SPISE]["property"] = [
        {"code": "status", "valueCode": "retired"},
        {"code": "replacedBy", "valueCode": DRIKKE},
    ]
    by_code[KLAEDE]["property"] = [{"code": "status", "valueCode": "deprecated"}]
    by_code[VASKE_SIG]["designation"] = [{"language": "en", "value": "Washing oneself"}]
    baere = next(c for c in mobilitet["concept"] if c["code"].startswith("320c9aa6"))
    baere["code"] = SLASH_CODE
    return doc


test_slice_document.__test__ = False  # a builder, not a test


def open_slice_client() -> Iterator:
    """A client of an app serving only the test-only vocabulary (a fixture in each module)."""
    from fastapi.testclient import TestClient

    from termserver.api.app import create_app
    from termserver.api.state import Snapshot
    from termserver.loading.fhir_codesystem import read_codesystem
    from termserver.vocabulary import Vocabulary

    vocab = Vocabulary([read_codesystem(test_slice_document(), scheme_id="testslice")])
    with TestClient(create_app(Snapshot(vocab=vocab, release="test-slice"))) as c:
        yield c


slice_client = pytest.fixture(scope="module", name="slice_client")(open_slice_client)


def test_the_test_vocabulary_holds_what_the_tests_need(slice_client):
    concept = slice_client.get(f"/api/concepts/testslice/{SPISE}").json()
    assert concept["status"] == "retired" and concept["replacedBy"][0]["code"] == DRIKKE
    assert slice_client.get(f"/api/concepts/testslice/{EGENOMSORG}").json()["display"] == (
        SCRIPT_LABEL
    )


# --- no 500s --------------------------------------------------------------------------------------


def _outcome(r, status: int) -> dict:
    assert r.status_code == status, r.text
    body = r.json()
    assert body["resourceType"] == "OperationOutcome"
    return body["issue"][0]


@pytest.mark.parametrize("value", ["--5", "²", "1_0", "٣", "0x10", "1e3", "9" * 13, "-"])
def test_integer_parameters_take_only_ascii_digits(client, value):
    issue = _outcome(client.get("/fhir/ValueSet/$expand", params={"url": AD, "count": value}), 400)
    assert issue["expression"] == ["count"] and "integer" in issue["diagnostics"]


def test_lookup_property_that_is_not_a_string_is_400(client):
    body = {
        "resourceType": "Parameters",
        "parameter": [
            {"name": "system", "valueUri": FFB},
            {"name": "code", "valueCode": VASKE_SIG},
            {"name": "property", "valueCoding": {"code": "parent"}},
        ],
    }
    issue = _outcome(client.post("/fhir/CodeSystem/$lookup", json=body), 400)
    assert issue["expression"] == ["property"]


def _nested(depth: int) -> list:
    node: list = []
    for _ in range(depth):
        node = [{"url": "http://example.org/x", "extension": node}]
    return node


@pytest.mark.parametrize("depth", [70, 300])
def test_deeply_nested_body_is_400_naming_the_path(client, depth):
    vs = {
        "resourceType": "ValueSet",
        "url": "http://example.org/vs",
        "status": "draft",
        "compose": {"include": [{"system": FFB, "concept": [{"code": VASKE_SIG}]}]},
        "extension": _nested(depth),
    }
    body = {"resourceType": "Parameters", "parameter": [{"name": "valueSet", "resource": vs}]}
    issue = _outcome(client.post("/fhir/ValueSet/$expand", json=body), 400)
    assert "deeper than 64" in issue["diagnostics"]
    assert issue["expression"][0].startswith("$.parameter[0].resource.extension[0].extension[0]")


def test_expansion_of_an_inline_value_set_never_echoes_the_client_resource(client):
    vs = {
        "resourceType": "ValueSet",
        "url": "http://example.org/vs",
        "status": "draft",
        "compose": {"include": [{"system": FFB, "concept": [{"code": VASKE_SIG}]}]},
        "extension": [{"url": "http://example.org/x", "bad name<": "x"}],
        "purpose": "echo me",
    }
    body = {"resourceType": "Parameters", "parameter": [{"name": "valueSet", "resource": vs}]}
    r = client.post("/fhir/ValueSet/$expand", json=body, params={"_format": "xml"})
    assert r.status_code == 200
    root = ET.fromstring(r.content)
    assert root.find(f"{FHIR_NS}extension") is None and root.find(f"{FHIR_NS}purpose") is None
    assert root.find(f"{FHIR_NS}url").get("value") == "http://example.org/vs"


OPERATIONS = {
    "/fhir/CodeSystem/$lookup": {
        "system": [FFB, TEST_SYSTEM],
        "code": [VASKE_SIG, EGENOMSORG],
        "version": ["20240530", "20200908"],
        "displayLanguage": ["en", "da"],
        "property": ["parent", "designation"],
        "date": ["2024-01-01"],
    },
    "/fhir/CodeSystem/$validate-code": {
        "url": [FFB],
        "system": [FFB],
        "code": [VASKE_SIG],
        "version": ["20240530"],
        "display": ["Vaske sig"],
        "displayLanguage": ["da"],
    },
    "/fhir/CodeSystem/$subsumes": {
        "system": [FFB],
        "codeA": [EGENOMSORG],
        "codeB": [VASKE_SIG],
        "version": ["20230517"],
    },
    "/fhir/ValueSet/$expand": {
        "url": [AD, f"{AD}|x"],
        "valueSetVersion": ["1"],
        "filter": ["vaske", "'); --"],
        "count": ["0", "10"],
        "offset": ["5"],
        "activeOnly": ["true"],
        "displayLanguage": ["en"],
        "includeDesignations": ["true"],
        "includeDefinition": ["true"],
        "system-version": [f"{FFB}|20200908"],
        "force-system-version": [f"{FFB}|20230517"],
    },
    "/fhir/ValueSet/$validate-code": {
        "url": [AD],
        "valueSetVersion": ["1"],
        "code": [VASKE_SIG],
        "system": [FFB],
        "systemVersion": ["20240530"],
        "display": ["vaske sig"],
    },
    "/fhir/ConceptMap/$translate": {
        "url": ["x"],
        "code": [VASKE_SIG],
        "system": [FFB],
        "reverse": ["true"],
        "targetsystem": [FFB],
        "date": ["2024-02-30"],
    },
}
_text = st.one_of(
    st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=40),
    # Number-like text reaches the integer and boolean parsing with what int() would accept.
    st.text(alphabet="-+0123456789²٣_ .e|", min_size=1, max_size=6),
)


@st.composite
def _queries(draw) -> tuple[str, list[tuple[str, str]]]:
    path = draw(st.sampled_from(sorted(OPERATIONS)))
    known = OPERATIONS[path]
    query = []
    # Each parameter is left out, valid, or random text, so random values reach deep code too.
    for name, valid in [*known.items(), ("_format", ["xml", "json"])]:
        choice = draw(st.sampled_from(["absent", "valid", "random"]))
        if choice != "absent":
            value = draw(st.sampled_from(valid) if choice == "valid" else _text)
            query.append((name, value))
    return path, query


@settings(
    max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(_queries())
def test_fuzzed_query_parameters_never_give_a_server_error(client, case):
    path, query = case
    r = client.get(path, params=query)
    assert r.status_code in {200, 400, 404, 422}, (path, query, r.text)
    if r.status_code != 200:
        ctype = r.headers["content-type"]
        body = ET.fromstring(r.content) if "xml" in ctype else r.json()
        kind = body.tag.removeprefix(FHIR_NS) if "xml" in ctype else body["resourceType"]
        assert kind == "OperationOutcome"


# --- inline value sets are bounded ----------------------------------------------------------------


def _inline(include: list, **extra) -> dict:
    vs = {"resourceType": "ValueSet", "url": "http://example.org/vs", "status": "draft"}
    vs["compose"] = {"include": include}
    params = [{"name": "valueSet", "resource": vs}]
    params += [{"name": k, "valueString": v} for k, v in extra.items()]
    return {"resourceType": "Parameters", "parameter": params}


def test_an_inline_value_set_with_thousands_of_regex_filters_is_refused_at_once(client):
    flt = [{"property": "display", "op": "regex", "value": "(a|aa)*b"} for _ in range(2000)]
    started = time.monotonic()
    r = client.post("/fhir/ValueSet/$expand", json=_inline([{"system": FFB, "filter": flt}]))
    assert time.monotonic() - started < 1.0
    issue = _outcome(r, 422)
    assert issue["code"] == "too-costly" and "at most 50 filters" in issue["diagnostics"]


def test_an_inline_value_set_with_too_many_parts_is_refused(client):
    parts = [{"system": FFB, "concept": [{"code": VASKE_SIG}]}] * 101
    issue = _outcome(client.post("/fhir/ValueSet/$expand", json=_inline(parts)), 422)
    assert "at most 100" in issue["diagnostics"]


def test_filter_on_a_property_the_system_lacks_is_400_not_an_empty_expansion(client):
    flt = [{"property": "colour", "op": "=", "value": "red"}]
    r = client.post("/fhir/ValueSet/$expand", json=_inline([{"system": FFB, "filter": flt}]))
    issue = _outcome(r, 400)
    assert issue["expression"] == ["valueSet.compose.include[0].filter[0].property"]
    assert "'colour'" in issue["diagnostics"]


@pytest.mark.parametrize("pattern", [r"(?x)Vaske\ sig#", r"(?x) Vaske \s sig # a comment"])
def test_regex_filter_with_a_verbose_comment_still_matches_the_whole_label(client, pattern):
    flt = [{"property": "display", "op": "regex", "value": pattern}]
    r = client.post("/fhir/ValueSet/$expand", json=_inline([{"system": FFB, "filter": flt}]))
    assert [c["code"] for c in r.json()["expansion"]["contains"]] == [VASKE_SIG]


def test_a_catastrophic_regex_runs_in_linear_time(client):
    flt = [{"property": "display", "op": "regex", "value": "(a|aa)*(a|aa)*(a|aa)*$x"}]
    started = time.monotonic()
    r = client.post("/fhir/ValueSet/$expand", json=_inline([{"system": FFB, "filter": flt}]))
    assert r.status_code == 200 and r.json()["expansion"]["total"] == 0
    assert time.monotonic() - started < 2.0


# --- HTTP: methods, content types, formats --------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("PUT", "/fhir/CodeSystem/$lookup"),
        ("DELETE", "/fhir/CodeSystem/ffb-20240530"),
        ("POST", "/fhir/CodeSystem"),
    ],
)
def test_unsupported_methods_are_405_not_supported(client, method, path):
    r = client.request(method, path)
    issue = _outcome(r, 405)
    assert issue["code"] == "not-supported" and "GET" in r.headers["allow"]


def test_post_to_an_unknown_fhir_path_is_404(client):
    assert _outcome(client.post("/fhir/Patient"), 404)["code"] == "not-found"


def test_post_with_a_non_json_content_type_is_415(client):
    r = client.post(
        "/fhir/CodeSystem/$lookup",
        content=b'{"resourceType": "Parameters"}',
        headers={"content-type": "text/plain"},
    )
    assert _outcome(r, 415)["code"] == "not-supported"


def test_unknown_format_is_400(client):
    r = client.get("/fhir/metadata", params={"_format": "yaml"})
    assert _outcome(r, 400)["expression"] == ["_format"]


def test_format_with_an_unencoded_plus_still_gives_xml(client):
    r = client.get("/fhir/metadata?_format=application/fhir+xml")
    assert r.headers["content-type"].startswith("application/fhir+xml")
    assert ET.fromstring(r.content).tag == f"{FHIR_NS}CapabilityStatement"


# --- XML ------------------------------------------------------------------------------------------

XML_REQUESTS = [
    ("GET", "/fhir/metadata", {}),
    ("GET", "/fhir/metadata", {"mode": "terminology"}),
    ("GET", "/fhir/CodeSystem", {"url": FFB, "_summary": "true"}),
    ("GET", "/fhir/CodeSystem/ffb-20240530", {}),
    ("GET", "/fhir/ValueSet", {"name": "KLCondition"}),
    ("GET", "/fhir/ValueSet/KLConditionADCodesFFB", {}),
    ("GET", "/fhir/ConceptMap", {}),
    ("GET", "/fhir/CodeSystem/$lookup", {"system": FFB, "code": VASKE_SIG}),
    ("GET", "/fhir/CodeSystem/$validate-code", {"url": FFB, "code": VASKE_SIG, "display": "x"}),
    ("GET", "/fhir/CodeSystem/$subsumes", {"system": FFB, "codeA": EGENOMSORG, "codeB": VASKE_SIG}),
    ("GET", "/fhir/ValueSet/$expand", {"url": AD, "includeDesignations": "true",
                                       "includeDefinition": "true"}),
    ("GET", "/fhir/ValueSet/$validate-code", {"url": AD, "system": FFB, "code": VASKE_SIG}),
    ("GET", "/fhir/ConceptMap/$translate", {"system": FFB, "code": VASKE_SIG}),
    ("GET", "/fhir/CodeSystem/$lookup", {"system": FFB, "code": "\x01<&\x1f'\"\x7f"}),
    ("GET", "/fhir/ValueSet/$expand", {"url": "\x00]]>"}),
]  # fmt: skip


@pytest.mark.parametrize(("method", "path", "query"), XML_REQUESTS)
def test_every_operation_answers_well_formed_fhir_xml(client, method, path, query):
    r = client.request(method, path, params={**query, "_format": "xml"})
    assert r.status_code < 500
    assert r.headers["content-type"].startswith("application/fhir+xml")
    root = ET.fromstring(r.content)  # expat: refuses anything that is not well-formed
    assert root.tag.startswith(FHIR_NS)


def _child_names(element) -> list[str]:
    return [child.tag.removeprefix(FHIR_NS) for child in element]


def _in_order(names: list[str], order: list[str]) -> bool:
    ranks = [order.index(n) for n in names if n in order]
    return ranks == sorted(ranks)


def test_codesystem_xml_follows_the_specification_order(client):
    summary = client.get("/fhir/CodeSystem", params={"url": FFB, "_summary": "true",
                                                     "_format": "xml"})  # fmt: skip
    cs = ET.fromstring(summary.content).find(
        f"{FHIR_NS}entry/{FHIR_NS}resource/{FHIR_NS}CodeSystem"
    )
    names = _child_names(cs)
    assert names[:3] == ["id", "meta", "language"]
    spec = ["id", "meta", "language", "url", "identifier", "version", "name", "title"]
    spec += ["status", "description", "caseSensitive", "hierarchyMeaning", "content", "count"]
    assert _in_order(names, spec) and names.index("title") < names.index("status")


def test_expansion_contains_xml_follows_the_specification_order(client):
    r = client.get(
        "/fhir/ValueSet/$expand",
        params={"url": AD, "includeDefinition": "true", "includeDesignations": "true",
                "_format": "xml", "count": "3"},
    )  # fmt: skip
    contains = ET.fromstring(r.content).findall(f"{FHIR_NS}expansion/{FHIR_NS}contains")
    assert len(contains) == 3
    for entry in contains:
        names = _child_names(entry)
        assert names[0] == "extension"
        order = ["extension", "system", "abstract", "inactive", "version", "code", "display",
                 "designation"]  # fmt: skip
        assert _in_order(names, order)


def test_xml_writer_refuses_names_that_are_not_fhir_element_names():
    from termserver.fhir.xml import XmlRenderError, to_xml

    with pytest.raises(XmlRenderError):
        to_xml({"resourceType": "Parameters", "a b": "x"})
    with pytest.raises(XmlRenderError):
        to_xml({"resourceType": "Parameters><x", "id": "1"})


def test_xml_writer_replaces_characters_xml_cannot_carry():
    from termserver.fhir.xml import to_xml

    data = to_xml({"resourceType": "Parameters", "id": "a\x00b\x0bc"})
    assert ET.fromstring(data).find(f"{FHIR_NS}id").get("value") == "a\ufffdb\ufffdc"
