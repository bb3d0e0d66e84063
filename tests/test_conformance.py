"""The HL7 terminology ecosystem runner: its comparison rules, and the conformance ratchet.

The ratchet runs the project's copy of the suite (tests/data/tx-ecosystem) against a live server
and fails when any suite passes fewer tests than tests/data/tx-ecosystem-baseline.json records.
The baseline only goes up: raise it in the same change that makes more tests pass.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from termserver.conformance.__main__ import FHIR_PATH
from termserver.conformance.compare import Context, UnknownMarkerError, compare
from termserver.conformance.runner import Runner
from termserver.conformance.suite import load_suites, status_ok

DATA = Path(__file__).parent / "data"
SUITE = DATA / "tx-ecosystem" / "tests"
BASELINE = DATA / "tx-ecosystem-baseline.json"
WORDING_BASELINE = DATA / "tx-ecosystem-wording-baseline.json"


# --- comparison rules (hand-made cases) ----------------------------------------------------


def test_array_order_does_not_matter():
    expected = {"parameter": [{"name": "a"}, {"name": "b"}]}
    assert compare(expected, {"parameter": [{"name": "b"}, {"name": "a"}]}) is None


def test_each_actual_item_needs_its_own_expected_item():
    expected = [{"code": "$token$"}, {"code": "x"}]
    # "x" could satisfy either; a matching exists, so it passes ...
    assert compare(expected, [{"code": "x"}, {"code": "y"}]) is None
    # ... but two actual items cannot share the one literal expected item.
    assert compare([{"code": "x"}, {"code": "y"}], [{"code": "x"}, {"code": "x"}]) is not None


def test_optional_items_may_be_missing_but_required_ones_may_not():
    expected = [{"name": "a"}, {"$optional$": True, "name": "b"}]
    assert compare(expected, [{"name": "a"}]) is None
    assert compare(expected, [{"name": "a"}, {"name": "b"}]) is None
    assert "expected 1 to 2 items" in compare(expected, [])


def test_mode_conditions_on_optional_items():
    expected = [{"name": "a"}, {"$optional$": "!tx.fhir.org", "name": "b"}]
    assert compare(expected, [{"name": "a"}], Context()) is None
    assert compare(expected, [{"name": "a"}], Context(modes=frozenset({"tx.fhir.org"})))


def test_warning_optional_items_may_be_missing_in_every_mode():
    expected = [{"name": "a"}, {"$optional$": "warning:version", "name": "version"}]
    for modes in (frozenset(), frozenset({"tx.fhir.org"})):
        assert compare(expected, [{"name": "a"}], Context(modes=modes)) is None
    assert compare(expected, [{"name": "a"}, {"name": "version"}], Context()) is None
    assert compare(expected, [{"name": "a"}, {"name": "other"}], Context()) is not None


R4 = Context(variables={"version": "4.0.1"})
R5 = Context(variables={"version": "5.0.0"})


def test_only_items_are_required_where_their_filter_passes_and_forbidden_elsewhere():
    expected = [{"name": "a"}, {"$only$": "version:4", "name": "r4-only"}]
    both, one = [{"name": "a"}, {"name": "r4-only"}], [{"name": "a"}]
    assert compare(expected, both, R4) is None
    assert compare(expected, one, R4) is not None  # required on R4
    assert compare(expected, one, R5) is None
    assert "excludes" in compare(expected, both, R5)  # forbidden on R5
    # Forbidden means no actual item may match it, even where it would fit another expected one.
    loose = [{"name": "$token$"}, {"$only$": "tx.fhir.org", "name": "x"}]
    assert compare(loose, [{"name": "y"}], Context()) is None
    assert "excludes" in compare(loose, [{"name": "x"}], Context())
    tx = Context(modes=frozenset({"tx.fhir.org"}))
    assert compare(loose, [{"name": "x"}, {"name": "y"}], tx) is None
    negated = [{"$only$": "!tx.fhir.org", "name": "x"}]
    assert compare(negated, [{"name": "x"}], Context()) is None
    assert compare(negated, [], Context()) is not None
    assert compare(negated, [], Context(modes=frozenset({"tx.fhir.org"}))) is None
    assert compare([{"$only$": True, "name": "x"}], [], Context()) is not None  # always required
    assert "excludes" in compare([{"$only$": False, "n": 1}], [{"n": 1}], Context())
    # In pattern mode too, where extra actual items are otherwise allowed.
    r4, r5 = (Context(variables=c.variables, pattern=True) for c in (R4, R5))
    assert "excludes" in compare(expected, both, r5)
    assert compare(expected, [*both, {"name": "z"}], r4) is None
    assert compare(expected, [{"name": "a"}, {"name": "z"}], r4) is not None


def test_only_on_a_property_value_governs_the_property():
    expected = {"code": "x", "r4": {"$only$": "version:4", "value": 1}}
    assert compare(expected, {"code": "x", "r4": {"value": 1}}, R4) is None
    assert "missing property" in compare(expected, {"code": "x"}, R4)
    assert compare(expected, {"code": "x"}, R5) is None
    assert "excludes" in compare(expected, {"code": "x", "r4": {"value": 1}}, R5)


def test_a_malformed_only_filter_is_reported_not_guessed():
    with pytest.raises(UnknownMarkerError):
        compare([{"$only$": 4, "name": "x"}], [{"name": "x"}])


def test_optional_true_as_a_string_is_a_mode_name_not_a_boolean():
    # Read as the reference runner's CompareUtilities reads it: "X" passes when mode X is on.
    expected = [{"name": "a"}, {"$optional$": "true", "name": "b"}]
    assert "expected 2 items" in compare(expected, [{"name": "a"}], Context())
    assert compare(expected, [{"name": "a"}], Context(modes=frozenset({"true"}))) is None
    assert compare([{"name": "a"}, {"$optional$": True, "name": "b"}], [{"name": "a"}]) is None
    assert compare([{"name": "a"}, {"$optional$": False, "name": "b"}], [{"name": "a"}])


def test_version_filters_match_the_start_of_the_server_release():
    expected = [{"name": "a"}, {"$optional$": "version:4.0", "name": "b"}]
    assert compare(expected, [{"name": "a"}], R4) is None
    assert compare(expected, [{"name": "a"}], R5) is not None
    assert compare(expected, [{"name": "a"}], Context(variables={"version": "4.3.0"})) is not None
    not_r4 = [{"name": "a"}, {"$optional$": "!version:4", "name": "b"}]
    assert compare(not_r4, [{"name": "a"}], R5) is None
    assert compare(not_r4, [{"name": "a"}], R4) is not None


def test_a_property_of_only_optional_items_may_be_absent():
    expected = {"code": "x", "extension": [{"$optional$": True, "url": "u"}]}
    assert compare(expected, {"code": "x"}) is None


def test_unexpected_and_missing_properties_fail_unless_listed_optional():
    expected = {"$optional-properties$": ["id"], "id": "$id$", "total": 3}
    assert compare(expected, {"total": 3}) is None
    assert compare(expected, {"id": "a1", "total": 3}) is None
    assert "unexpected property" in compare(expected, {"total": 3, "extra": 1})
    assert "missing property" in compare({"total": 3}, {})


def test_count_arrays_compares_only_lengths():
    expected = {"$count-arrays$": ["contains"], "contains": [{"code": "a"}, {"code": "b"}]}
    assert compare(expected, {"contains": [{"code": "x"}, {"code": "y"}]}) is None
    assert compare(expected, {"contains": [{"code": "x"}]}) is not None


@pytest.mark.parametrize(
    ("marker", "good", "bad"),
    [
        ("$uuid$", "urn:uuid:8acdbfdc-e9d2-11ed-a05b-0242ac120003", "8acdbfdc"),
        ("$instant$", "2024-05-30T10:00:00+02:00", "2024-05-30"),
        ("$date$", "2023-04-01", "01-04-2023"),
        ("$id$", "simple-all", "has space"),
        ("$url$", "http://hl7.org/fhir", "urn:x"),
        ("$token$", "tx.fhir.org", "-x"),
        ("$string$", "Snowstorm", " padded "),
        ("$semver$", "1.2.3-rc1", "1.2"),
        ("$choice:business-rule|not-found$", "not-found", "invalid"),
        ("$fragments:X-Request-Id:$", "see x-request-id: 7", "no id"),
    ],
)
def test_markers_match_their_type(marker, good, bad):
    assert compare(marker, good) is None
    assert compare(marker, bad) is not None


def test_external_messages_use_the_externals_file_when_given():
    marker = "$external:1:simple-all|5.0.0$"
    text = "The code was not found in the value set 'http://x/simple-all|5.0.0'"
    assert compare(marker, text) is None  # no externals: its fragments must occur
    assert compare(marker, "not found") is not None
    assert compare(marker, text, Context(externals={"1": text})) is None
    assert compare(marker, text, Context(externals={"1": "other wording"})) is not None


def test_unknown_markers_are_reported_not_ignored():
    with pytest.raises(UnknownMarkerError):
        compare("$no-such-marker$", "x")


def test_http_code_patterns():
    assert status_ok("4xx", 404) and status_ok("4xx", 400) and not status_ok("4xx", 200)
    assert status_ok(None, 200) and status_ok(None, 201) and not status_ok(None, 422)
    # As the reference runner: no http-code means 2xx, even when an OperationOutcome is expected.
    assert not status_ok(None, 404)


def test_pattern_mode_allows_more_but_not_less():
    expected = {"kind": "instance", "format": ["application/fhir+json"]}
    actual = {"kind": "instance", "format": ["application/fhir+json", "xml"], "name": "x"}
    assert "unexpected property" in compare(expected, actual)
    assert compare(expected, actual, Context(pattern=True)) is None
    # Each required expected item needs its own actual item, wherever it is.
    ops = {"operation": [{"name": "lookup"}, {"name": "versions"}]}
    found = {"operation": [{"name": "versions"}, {"name": "subsumes"}, {"name": "lookup"}]}
    assert compare(ops, found, Context(pattern=True)) is None
    assert "no match" in compare(ops, {"operation": [{"name": "lookup"}]}, Context(pattern=True))
    two = {"p": [{"name": "$token$"}, {"name": "$token$"}]}
    assert compare(two, {"p": [{"name": "a"}]}, Context(pattern=True)) is not None


def test_version_inside_a_literal_is_the_runner_variable():
    expected = "http://hl7.org/fhir/administrative-gender|$version$"
    ctx = Context(variables={"version": "5.0.0"})
    assert compare(expected, "http://hl7.org/fhir/administrative-gender|5.0.0", ctx) is None
    assert compare(expected, "http://hl7.org/fhir/administrative-gender|4.0.1", ctx) is not None
    assert compare(expected, "http://hl7.org/fhir/administrative-gender|4.0.1") is None  # token
    assert compare(expected, "http://hl7.org/fhir/administrative-gender") is not None
    assert compare("$version$", "4.0.1", ctx) is not None


def test_answers_are_scrubbed_as_the_reference_runner_does():
    from termserver.conformance.scrub import scrub_answer

    ours = {"url": "http://example.org/ours", "valueString": "x"}
    label = {"url": "http://hl7.org/fhir/StructureDefinition/valueset-label", "valueString": "L"}
    vs = {
        "resourceType": "ValueSet",
        "text": {"status": "generated"},
        "compose": {"include": [{"system": "s", "extension": [ours]}]},
        "expansion": {"extension": [ours], "contains": [{"code": "a", "extension": [label, ours]}]},
    }
    got = scrub_answer("expand", vs, ok=True)
    assert "text" not in got and "extension" not in got["expansion"]
    assert got["expansion"]["contains"][0]["extension"] == [label]
    assert got["compose"] == vs["compose"]  # the definition is never touched
    assert scrub_answer("expand", vs, ok=True, tight=True)["expansion"]["extension"] == [ours]
    # The fragment suite requires valueset-unclosed on an expansion: it is kept.
    unclosed = {
        "url": "http://hl7.org/fhir/StructureDefinition/valueset-unclosed",
        "valueBoolean": True,
    }
    fragment = {"resourceType": "ValueSet", "expansion": {"extension": [unclosed, ours]}}
    assert scrub_answer("expand", fragment, ok=True)["expansion"]["extension"] == [unclosed]
    # A diagnostics-only issue goes; diagnostics go everywhere.
    oo = {
        "resourceType": "OperationOutcome",
        "text": {"status": "generated"},
        "issue": [
            {"severity": "error", "code": "x", "details": {"text": "t"}, "diagnostics": "d"},
            {"severity": "information", "code": "informational", "diagnostics": "X-Request-Id"},
        ],
    }
    assert scrub_answer("expand", oo, ok=False)["issue"] == [
        {"severity": "error", "code": "x", "details": {"text": "t"}}
    ]
    kept = scrub_answer("cs-validate-code", oo, ok=False)  # this operation only loses text
    assert "text" not in kept and len(kept["issue"]) == 2
    # Parts of a message are compared in sorted order.
    params = {
        "resourceType": "Parameters",
        "parameter": [{"name": "message", "valueString": "b; a"}],
    }
    assert scrub_answer("validate-code", params, ok=True)["parameter"][0]["valueString"] == "a; b"


def test_test_modes_variants_headers_and_disabled_tests(tmp_path):
    cases = {
        "suites": [
            {
                "name": "s",
                "tests": [
                    {"name": "off", "operation": "expand", "response": "r.json", "disabled": True},
                    {"name": "either", "operation": "expand", "response": "r.json",
                     "modes": ["x", "flat"], "request:flat": "q-flat.json",
                     "header": {"mode": "flat", "name": "X-Test", "value": "1"}},
                    {"name": "only-x", "operation": "expand", "response": "r.json", "modes": ["x"]},
                ],
            },
            {"name": "gone", "disabled": True, "tests": []},
        ]
    }  # fmt: skip
    (tmp_path / "test-cases.json").write_text(json.dumps(cases))
    (suite, gone) = load_suites(tmp_path)
    modes = frozenset({"general", "flat"})
    off, either, only_x = suite.tests
    assert off.skip_reason(modes) == "disabled" and only_x.skip_reason(modes) is not None
    assert either.skip_reason(modes) is None and not gone.runs_in(modes)
    assert either.choose("request", modes) == "q-flat.json"
    assert either.choose("request", frozenset({"x"})) is None
    assert either.extra_headers(modes) == {"X-Test": "1"}
    assert either.extra_headers(frozenset({"x"})) == {}


def test_the_runner_asks_versions_first_and_sends_request_setup_then_profile(tmp_path):
    import httpx

    from termserver.conformance.runner import Runner

    (tmp_path / "parameters-default.json").write_text(
        json.dumps(
            {"resourceType": "Parameters", "parameter": [{"name": "count", "valueInteger": 9}]}
        )
    )
    (tmp_path / "q.json").write_text(
        json.dumps(
            {"resourceType": "Parameters", "parameter": [{"name": "count", "valueInteger": 1}]}
        )
    )
    (tmp_path / "cs.json").write_text(json.dumps({"resourceType": "CodeSystem", "url": "u"}))
    (tmp_path / "r.json").write_text(
        json.dumps(
            {"resourceType": "Parameters", "parameter": [{"name": "v", "valueUri": "u|$version$"}]}
        )
    )
    test = {"name": "t", "operation": "lookup", "request": "q.json", "response": "r.json"}
    cases = {"suites": [{"name": "s", "setup": ["cs.json"], "tests": [test]}]}
    (tmp_path / "test-cases.json").write_text(json.dumps(cases))
    seen: list[httpx.Request] = []

    def server(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.path.endswith("/$versions"):
            versions = [
                {"name": "version", "valueCode": "4.0"},
                {"name": "default", "valueCode": "4.0"},
            ]
            return httpx.Response(200, json={"resourceType": "Parameters", "parameter": versions})
        answer = [{"name": "v", "valueUri": "u|4.0.1"}]
        return httpx.Response(200, json={"resourceType": "Parameters", "parameter": answer})

    runner = Runner(
        tmp_path, "http://x/fhir", client=httpx.Client(transport=httpx.MockTransport(server))
    )
    result = runner.run_suite(load_suites(tmp_path)[0])
    assert result.passed == 1, result.failures
    assert [r.url.path for r in seen] == ["/fhir/$versions", "/fhir/CodeSystem/$lookup"]
    sent = json.loads(seen[1].content)["parameter"]
    assert [p["name"] for p in sent] == ["count", "tx-resource", "count"]  # nothing dropped
    assert runner.fhir_release == "4.0.1"


def test_a_test_gated_to_another_fhir_version_is_skipped(tmp_path):
    from termserver.conformance.suite import same_version

    cases = {
        "suites": [
            {
                "name": "s",
                "tests": [
                    {"name": f"v{v}", "operation": "expand", "response": "r.json", "version": v}
                    for v in ("4.0", "5.0", "5")
                ],
            }
        ]
    }
    (tmp_path / "test-cases.json").write_text(json.dumps(cases))
    r4, r5, major = load_suites(tmp_path)[0].tests
    modes = frozenset({"general"})
    assert r4.skip_reason(modes, "5.0.0") == "version 4.0"
    assert r5.skip_reason(modes, "5.0.0") is None and major.skip_reason(modes, "5.0.0") is None
    assert r4.skip_reason(modes, "4.0.1") is None and r5.skip_reason(modes, "4.0.1") is not None
    assert r5.skip_reason(modes) == "version 5.0"  # no release known: not run as if it matched
    assert not same_version("5.0", "5.01.0") and not same_version("4.0", "4.3.0")


def test_a_negated_version_runs_against_every_other_fhir_version(tmp_path):
    from termserver.conformance.suite import same_version

    test = {"name": "not-r4", "operation": "expand", "response": "r.json", "version": "!4.0"}
    (tmp_path / "test-cases.json").write_text(
        json.dumps({"suites": [{"name": "s", "tests": [test]}]})
    )
    (not_r4,) = load_suites(tmp_path)[0].tests
    modes = frozenset({"general"})
    assert not_r4.skip_reason(modes, "5.0.0") is None
    assert not_r4.skip_reason(modes, "4.0.1") == "version !4.0"
    assert not_r4.skip_reason(modes) is not None  # no release known: not run
    assert same_version("4.0", "4.0") and same_version("4.0", "4.0.1")
    assert same_version("!4.0", "4.3.0") and not same_version("!4.0", "4.0")


def test_a_suite_gated_to_a_fhir_version_runs_only_against_it(tmp_path):
    parameters = {"resourceType": "Parameters", "parameter": [{"name": "result"}]}
    for name in ("q.json", "r.json"):
        (tmp_path / name).write_text(json.dumps(parameters))
    lookup = {"name": "t", "operation": "lookup", "request": "q.json", "response": "r.json"}
    suites = [
        {"name": "r4", "version": "4.0", "tests": [lookup]},
        {"name": "not-r4", "version": "!4.0", "tests": [lookup]},
        {"name": "r5", "version": "5.0", "tests": [lookup, lookup]},
    ]
    (tmp_path / "test-cases.json").write_text(json.dumps({"suites": suites}))
    runner = _mock_runner(tmp_path, [])  # an R5 server
    r4, not_r4, r5 = (runner.run_suite(s) for s in load_suites(tmp_path))
    assert (r4.passed, r4.skipped) == (0, 1)
    assert (not_r4.passed, not_r4.skipped) == (1, 0), not_r4.failures
    assert (r5.passed, r5.skipped) == (2, 0), r5.failures


def _mock_runner(tmp_path: Path, seen: list, sent: list | None = None) -> Runner:
    """A runner whose server answers $versions (R5), metadata, and every operation with the
    Parameters in r.json; ``sent`` gets the body of each POST."""
    import httpx

    answer = json.loads((tmp_path / "r.json").read_text())

    def server(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.path)
        if sent is not None and request.method == "POST":
            sent.append(json.loads(request.content))
        if request.url.path.endswith("/$versions"):
            versions = [{"name": "default", "valueCode": "5.0"}]
            return httpx.Response(200, json={"resourceType": "Parameters", "parameter": versions})
        if request.url.path.endswith("/metadata"):
            return httpx.Response(200, json={"resourceType": "CapabilityStatement"})
        return httpx.Response(200, json=answer)

    client = httpx.Client(transport=httpx.MockTransport(server))
    modes = frozenset({"general", "flat"})  # flat: to see a mode's variant asked for
    return Runner(tmp_path, "http://x/fhir", modes, client=client, diffs=tmp_path / "diffs")


def test_each_test_lacking_a_file_is_not_run_and_names_the_file(tmp_path):
    result = [{"name": "result", "valueBoolean": True}]
    parameters = {"resourceType": "Parameters", "parameter": result}
    for name in ("q.json", "r.json"):
        (tmp_path / name).write_text(json.dumps(parameters))
    (tmp_path / "caps.json").write_text(json.dumps({"resourceType": "CapabilityStatement"}))
    (tmp_path / "cs.json").write_text(json.dumps({"resourceType": "CodeSystem", "url": "u"}))
    lookup = {"operation": "lookup", "request": "q.json", "response": "r.json"}
    cases = {
        "suites": [
            {
                "name": "s",
                "setup": ["cs.json"],
                "tests": [
                    {"name": "ok", **lookup},
                    {"name": "no-request", **lookup, "request": "gone/q.json"},
                    {"name": "no-request", **lookup, "request": "gone/q2.json"},  # same name
                    {"name": "no-response", **lookup, "response": "gone/r.json"},
                    {"name": "no-profile", **lookup, "profile": "gone/p.json"},
                    {"name": "no-flat", **lookup, "request:flat": "gone/q-flat.json"},
                    {"name": "off", **lookup, "request": "gone/x.json", "disabled": True},
                    {"name": "v4", **lookup, "request": "gone/x.json", "version": "4.0"},
                    # A GET sends no request, so it needs no request file.
                    {"name": "caps", "operation": "metadata", "request": "gone/x.json",
                     "response": "caps.json"},
                ],
            },
            {
                "name": "no-setup",
                "setup": ["cs.json", "gone/cs.json"],
                "tests": [{"name": "t", **lookup}],
            },
        ]
    }  # fmt: skip
    (tmp_path / "test-cases.json").write_text(json.dumps(cases))
    seen: list[str] = []
    runner = _mock_runner(tmp_path, seen)
    s, no_setup = (runner.run_suite(x) for x in load_suites(tmp_path))
    assert (s.passed, s.failed, s.skipped) == (2, 0, 2), s.failures
    assert s.not_run == [
        ("no-request", "gone/q.json"),
        ("no-request", "gone/q2.json"),
        ("no-response", "gone/r.json"),
        ("no-profile", "gone/p.json"),
        ("no-flat", "gone/q-flat.json"),
    ]
    assert s.line() == "s: 2/2 passed, 2 skipped, 5 not run (missing file)"
    assert no_setup.not_run == [("t", "gone/cs.json")]
    # Nothing was sent for a test that was not run, and no diff was written for it.
    assert seen == ["/fhir/$versions", "/fhir/CodeSystem/$lookup", "/fhir/metadata"]
    assert not (tmp_path / "diffs").exists()


def test_a_setup_file_that_is_there_but_broken_fails_its_tests(tmp_path):
    parameters = {"resourceType": "Parameters", "parameter": []}
    for name in ("q.json", "r.json"):
        (tmp_path / name).write_text(json.dumps(parameters))
    (tmp_path / "cs.json").write_text("{not json")
    test = {"name": "t", "operation": "lookup", "request": "q.json", "response": "r.json"}
    cases = {"suites": [{"name": "s", "setup": ["cs.json"], "tests": [test]}]}
    (tmp_path / "test-cases.json").write_text(json.dumps(cases))
    result = _mock_runner(tmp_path, []).run_suite(load_suites(tmp_path)[0])
    assert (result.passed, result.failed, result.not_run) == (0, 1, [])
    assert result.failures["t"].startswith("setup: ") and "cs.json" in result.failures["t"]


def test_lenient_display_sets_its_parameter_on_validate_code_requests_only(tmp_path):
    strict = {"name": "lenient-display-validation", "valueBoolean": False}
    request = {"resourceType": "Parameters", "parameter": [{"name": "code"}, strict]}
    (tmp_path / "q.json").write_text(json.dumps(request))
    (tmp_path / "r.json").write_text(json.dumps({"resourceType": "Parameters", "parameter": []}))
    profile = {"resourceType": "Parameters", "parameter": [{"name": "uuid"}, strict]}
    (tmp_path / "parameters-default.json").write_text(json.dumps(profile))
    files = {"request": "q.json", "response": "r.json"}
    tests = [
        {"name": "vs", "operation": "validate-code", **files, "lenient-display": True},
        {"name": "cs", "operation": "cs-validate-code", **files, "lenient-display": False},
        {"name": "as-is", "operation": "validate-code", **files},
        {"name": "string", "operation": "validate-code", **files, "lenient-display": "true"},
        {"name": "lookup", "operation": "lookup", **files, "lenient-display": True},
    ]
    (tmp_path / "test-cases.json").write_text(
        json.dumps({"suites": [{"name": "s", "tests": tests}]})
    )
    sent: list[dict] = []
    result = _mock_runner(tmp_path, [], sent).run_suite(load_suites(tmp_path)[0])
    assert result.passed == 5, result.failures

    def lenient(body: dict) -> list:
        return [p for p in body["parameter"] if p["name"] == "lenient-display-validation"]

    vs, cs, as_is, string, lookup = sent
    # The test's value wins over the request's and the profile's: one parameter, after the
    # request's own.
    assert lenient(vs) == [{"name": "lenient-display-validation", "valueBoolean": True}]
    assert [p["name"] for p in vs["parameter"]] == ["code", "lenient-display-validation", "uuid"]
    assert lenient(cs) == [{"name": "lenient-display-validation", "valueBoolean": False}]
    # Without the property (or with a non-boolean one), and on other operations: as given.
    for body in (as_is, string, lookup):
        assert lenient(body) == [strict, strict]


# --- the suite and the ratchet -----------------------------------------------------------------


def test_the_project_copy_of_the_suite_reads_whole():
    suites = load_suites(SUITE)
    assert len(suites) == 10
    assert sum(len(s.tests) for s in suites) == 145


def test_unknown_operations_are_skipped_not_failed(tmp_path, live_server):
    (tmp_path / "test-cases.json").write_text(
        json.dumps(
            {
                "suites": [
                    {
                        "name": "future",
                        "tests": [
                            {"name": "t", "operation": "batch-validate", "response": "r.json"}
                        ],
                    }
                ]
            }
        )
    )
    result = Runner(tmp_path, f"{live_server}/fhir").run_suite(load_suites(tmp_path)[0])
    assert (result.passed, result.failed, result.skipped) == (0, 0, 1)


def test_missing_suite_files_are_not_run_and_named_without_stopping_the_run(tmp_path, live_server):
    cases = {
        "suites": [
            {
                "name": "broken",
                "setup": ["nowhere/codesystem.json"],
                "tests": [{"name": "a", "operation": "expand", "response": "r.json"}],
            },
            {
                "name": "vendor-only",
                "mode": "tx.fhir.org",
                "tests": [{"name": "b", "operation": "expand", "response": "r.json"}],
            },
        ]
    }
    (tmp_path / "test-cases.json").write_text(json.dumps(cases))
    runner = Runner(tmp_path, f"{live_server}{FHIR_PATH}", diffs=tmp_path / "diffs")
    broken, vendor = (runner.run_suite(s) for s in load_suites(tmp_path))
    # A copy that lacks a test's files cannot show the server right or wrong: not run, named.
    assert (broken.passed, broken.failed, broken.skipped) == (0, 0, 0)
    assert broken.not_run == [("a", "nowhere/codesystem.json")]
    assert broken.line() == "broken: 0/0 passed, 1 not run (missing file)"
    assert (vendor.passed, vendor.failed, vendor.skipped) == (0, 0, 1)


def test_the_runner_reports_a_mixed_copy_of_the_suite_honestly(tmp_path, live_server, capsys):
    """As on a full checkout: a real suite, an operation we do not know, a test whose files the
    copy lacks, a disabled test and one for another FHIR version; none stops the run. Suites
    marked sequential run last, in manifest order; the reference runner's summary comes before
    our own closing line."""
    import shutil

    from termserver import __version__
    from termserver.conformance.__main__ import main

    ours = {s["name"]: s for s in json.loads((SUITE / "test-cases.json").read_text())["suites"]}
    shutil.copytree(SUITE / "case", tmp_path / "case")
    shutil.copy(SUITE / "parameters-default.json", tmp_path)
    case_test = ours["case"]["tests"][0]
    cases = {
        "version": "0.0.1-test",
        "suites": [
            {**ours["case"], "sequential": True},
            {"name": "future", "mode": "general", "setup": [], "sequential": True, "tests": [
                {"name": "batch", "operation": "batch-validate", "request": "batch/q.json",
                 "response": "batch/r.json"}]},
            {"name": "elsewhere", "mode": "general", "setup": ["big/codesystem-big.json"],
             "tests": [{"name": "big-expand", "operation": "expand",
                        "request": "big/expand-request.json", "response": "big/expand.json"}]},
            {"name": "gated", "mode": "general", "setup": ours["case"]["setup"], "tests": [
                {**case_test, "name": "off", "disabled": True},
                {**case_test, "name": "r4-only", "version": "4.0",
                 "response": "case/r4-response.json"},
                {**case_test, "name": "r5-only", "version": "5.0"}]},
        ]
    }  # fmt: skip
    (tmp_path / "test-cases.json").write_text(json.dumps(cases))
    report = tmp_path / "report.json"
    argv = ["--source", str(tmp_path), "--server", live_server, "--report", str(report)]
    assert main(argv) == 1  # a test that could not be run is not a success
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"{live_server}{FHIR_PATH}: FHIR 5.0.0"
    assert lines[1:] == [
        "elsewhere: 0/0 passed, 1 not run (missing file)",
        "  not run: big-expand: missing big/codesystem-big.json",
        "gated: 1/1 passed, 2 skipped",
        "case: 6/6 passed",
        "future: 0/0 passed, 1 skipped",
        # The test that could not be run is a failure to the reference runner.
        f"termserver v{__version__} failed 1 of 8 HL7 terminology service tests (modes general, "
        f"tests v0.0.1-test, runner termserver {__version__})",
        "Failed Tests: elsewhere/big-expand",
        "7 passed, 0 failed, 3 skipped, 1 not run (missing file)",
    ]
    counts = json.loads(report.read_text())
    assert counts["elsewhere"]["not_run"] == [["big-expand", "big/codesystem-big.json"]]


def test_a_server_given_as_a_fhir_base_is_tested_as_is(live_server, capsys):
    from termserver.conformance.__main__ import fhir_base, main

    assert fhir_base("http://host:8000") == f"http://host:8000{FHIR_PATH}"
    assert fhir_base("http://host:8000/", "/fhir") == "http://host:8000/fhir"
    assert fhir_base("https://r4.ontoserver.csiro.au/fhir") == "https://r4.ontoserver.csiro.au/fhir"
    assert fhir_base("http://host:8000/fhir/r5/") == "http://host:8000/fhir/r5"
    argv = ["--source", str(SUITE), "--suite", "case", "--server", f"{live_server}{FHIR_PATH}/"]
    assert main(argv) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"{live_server}{FHIR_PATH}: FHIR 5.0.0"
    assert lines[1] == "case: 6/6 passed"


def test_a_server_that_is_not_a_url_or_does_not_answer_is_one_clear_error(capsys):
    from termserver.conformance.__main__ import main
    from termserver.conformance.runner import free_port

    assert main(["--source", str(SUITE), "--server", "notaurl"]) == 2
    assert "--server must be an http(s) URL, not 'notaurl'" in capsys.readouterr().err
    closed = f"http://127.0.0.1:{free_port()}/fhir"
    assert main(["--source", str(SUITE), "--server", closed]) == 2
    captured = capsys.readouterr()
    assert f"error: nothing answers at {closed} (ConnectError" in captured.err
    assert captured.out == ""  # no test was run against nothing


def test_filter_runs_only_the_tests_whose_name_contains_it(live_server, capsys):
    from termserver.conformance.__main__ import main

    argv = ["--source", str(SUITE), "--server", live_server, "--filter", "insensitive"]
    assert main(argv) == 0
    lines = capsys.readouterr().out.splitlines()
    # Only the case suite has such tests; the other suites are not run at all.
    assert lines[1:2] == ["case: 3/3 passed"]
    assert lines[-1] == "3 passed, 0 failed"
    assert main([*argv[:-1], "no-such-test"]) == 2


def test_the_hl7_summary_names_the_software_modes_and_test_version():
    import httpx

    from termserver import __version__
    from termserver.conformance.__main__ import hl7_summary
    from termserver.conformance.runner import software_name

    def serving(doc, status=200):
        return httpx.Client(
            transport=httpx.MockTransport(lambda r: httpx.Response(status, json=doc))
        )

    caps = {"resourceType": "CapabilityStatement", "software": {"name": "Ontoserver"}}
    assert software_name(serving(caps), "http://x/fhir") == "Ontoserver"
    caps["software"]["version"] = "6.20.1"
    assert software_name(serving(caps), "http://x/fhir") == "Ontoserver v6.20.1"
    assert software_name(serving({"resourceType": "CapabilityStatement"}), "http://x/fhir") == (
        "http://x/fhir"
    )
    assert software_name(serving({}, 500), "http://x/fhir") == "http://x/fhir"
    runner = f"runner termserver {__version__}"
    assert hl7_summary("S v1", 5, 0, {"general"}, "1.9.3") == (
        f"S v1 passed all 5 HL7 terminology service tests (modes general, tests v1.9.3, {runner})"
    )
    assert hl7_summary("S", 3, 2, {"general", "flat"}, None) == (
        "S failed 2 of 5 HL7 terminology service tests (modes flat+general, "
        f"tests unknown (no version in test-cases.json), {runner})"
    )


def test_sequential_suites_run_after_the_others_in_manifest_order(tmp_path):
    from termserver.conformance.suite import run_order

    names = [("a", True), ("b", False), ("c", True), ("d", False)]
    suites = [{"name": n, "sequential": seq, "tests": []} for n, seq in names]
    (tmp_path / "test-cases.json").write_text(json.dumps({"suites": suites}))
    assert [s.name for s in run_order(load_suites(tmp_path))] == ["b", "d", "a", "c"]


def _below_baseline(runner: Runner, baseline_file: Path) -> dict:
    """The suites passing fewer tests than ``baseline_file`` records: (passed, baseline, why)."""
    baseline = json.loads(baseline_file.read_text(encoding="utf-8"))
    dropped = {}
    for suite in load_suites(SUITE):
        result = runner.run_suite(suite)
        if result.passed < baseline.get(suite.name, 0):
            dropped[suite.name] = (result.passed, baseline[suite.name], result.failures)
    return dropped


def test_no_suite_passes_fewer_tests_than_its_baseline(tmp_path, core_server):
    runner = Runner(SUITE, f"{core_server}{FHIR_PATH}", diffs=tmp_path)
    dropped = _below_baseline(runner, BASELINE)
    assert not dropped, f"suites below their baseline (diffs in {tmp_path}): {dropped}"


def test_no_suite_matches_fewer_of_tx_fhir_orgs_messages_than_its_baseline(tmp_path, core_server):
    """Without an externals file the suite checks a message only for fragments (a URL, a
    code); with ``messages-tx.fhir.org.json`` it wants tx.fhir.org's exact text, the wording
    clients of HL7 servers compare. Its own ratchet (CONFORMANCE.md names the tests whose exact
    text contradicts the suite's own expected files)."""
    externals = json.loads((SUITE / "messages-tx.fhir.org.json").read_text(encoding="utf-8-sig"))
    runner = Runner(SUITE, f"{core_server}{FHIR_PATH}", externals=externals, diffs=tmp_path)
    dropped = _below_baseline(runner, WORDING_BASELINE)
    assert not dropped, f"suites below their baseline (diffs in {tmp_path}): {dropped}"


# --- tx-resource overlays in our FHIR API --------------------------------------------------


def _suite_resource(name: str) -> dict:
    return json.loads((SUITE / name).read_text(encoding="utf-8-sig"))


def _expand(client, *params: dict):
    body = {"resourceType": "Parameters", "parameter": list(params)}
    return client.post("/fhir/ValueSet/$expand", json=body)


SIMPLE_ALL = {"name": "url", "valueUri": "http://hl7.org/fhir/test/ValueSet/simple-all"}
SIMPLE_SYSTEM = "http://hl7.org/fhir/test/CodeSystem/simple"


def test_tx_resources_are_seen_by_their_request_only(client):
    given = [
        {"name": "tx-resource", "resource": _suite_resource(f"simple/{name}.json")}
        for name in ("codesystem-simple", "valueset-all")
    ]
    r = _expand(client, SIMPLE_ALL, *given)
    assert r.status_code == 200, r.text
    exp = r.json()["expansion"]
    assert exp["total"] == 7
    assert {
        "name": "used-codesystem",
        "valueUri": "http://hl7.org/fhir/test/CodeSystem/simple|0.1.0",
    } in exp["parameter"]
    assert _expand(client, SIMPLE_ALL).status_code == 404  # never stored
    assert _expand(client, SIMPLE_ALL, *given).json()["expansion"]["total"] == 7  # cached


def test_a_malformed_tx_resource_is_a_400_naming_its_json_path(client):
    cs = _suite_resource("simple/codesystem-simple.json")
    cs["concept"][1]["code"] = 42
    r = _expand(client, SIMPLE_ALL, {"name": "tx-resource", "resource": cs})
    assert r.status_code == 400
    issue = r.json()["issue"][0]
    assert issue["expression"] == ["tx-resource[0].concept[1].code"]


def test_a_tx_resource_of_another_type_is_refused(client):
    patient = {"resourceType": "Patient", "id": "p1"}
    r = _expand(client, SIMPLE_ALL, {"name": "tx-resource", "resource": patient})
    assert r.status_code == 400
    assert "Patient" in r.text


# --- termserver serve --fhir-dir -----------------------------------------------------------


def _fhir_dir(tmp_path: Path, *names: str) -> Path:
    folder = tmp_path / "fhir"
    folder.mkdir()
    for name in names:
        (folder / Path(name).name).write_text((SUITE / name).read_text(encoding="utf-8-sig"))
    return folder


def test_serve_fhir_dir_loads_code_systems_and_value_sets_at_start(tmp_path):
    import httpx

    from termserver.conformance.runner import fresh_server

    folder = _fhir_dir(tmp_path, "simple/codesystem-simple.json", "simple/valueset-all.json")
    with fresh_server(("--fhir-dir", str(folder))) as base:
        r = httpx.post(
            f"{base}/fhir/ValueSet/$expand",
            json={"resourceType": "Parameters", "parameter": [SIMPLE_ALL]},
            timeout=30,
        )
        assert r.status_code == 200, r.text
        assert r.json()["expansion"]["total"] == 7
        found = httpx.get(f"{base}/fhir/CodeSystem", params={"url": SIMPLE_SYSTEM}, timeout=30)
        assert found.json()["total"] == 1


def test_serve_refuses_a_fhir_dir_with_a_broken_resource_naming_file_and_path(tmp_path):
    from typer.testing import CliRunner

    from termserver.cli import app

    folder = _fhir_dir(tmp_path, "simple/codesystem-simple.json")
    doc = json.loads((folder / "codesystem-simple.json").read_text())
    doc["concept"][0]["code"] = ["not", "a", "code"]
    (folder / "codesystem-simple.json").write_text(json.dumps(doc))
    result = CliRunner().invoke(app, ["serve", "--fhir-dir", str(folder)])
    assert result.exit_code == 1
    said = result.output.replace("\n", "")
    assert "codesystem-simple.json" in said and "$.concept[0].code" in said


def _tx(*resources: dict) -> list[dict]:
    return [{"name": "tx-resource", "resource": r} for r in resources]


def test_a_tx_value_set_that_imports_itself_is_refused_not_looped(client):
    vs = _suite_resource("simple/valueset-all.json")
    vs["compose"]["include"].append({"valueSet": [vs["url"]]})
    cs = _suite_resource("simple/codesystem-simple.json")
    r = _expand(client, SIMPLE_ALL, *_tx(cs, vs))
    assert r.status_code == 400
    assert "imports itself" in r.text


def test_an_unknown_filter_operator_in_a_tx_value_set_names_its_path(client):
    vs = _suite_resource("simple/valueset-filter-isa.json")
    vs["compose"]["include"][0]["filter"][0]["op"] = "sounds-like"
    r = _expand(client, {"name": "url", "valueUri": vs["url"]}, *_tx(vs))
    assert r.status_code == 400
    assert r.json()["issue"][0]["expression"] == ["tx-resource[0].compose.include[0].filter[0].op"]


def test_the_r5_endpoint_answers_validate_code_with_issues(client):
    cs = _suite_resource("simple/codesystem-simple.json")
    vs = _suite_resource("simple/valueset-all.json")
    coding = {"system": SIMPLE_SYSTEM, "code": "code1", "display": "Display 1X"}
    body = {
        "resourceType": "Parameters",
        "parameter": [SIMPLE_ALL, {"name": "coding", "valueCoding": coding}, *_tx(cs, vs)],
    }
    r = client.post("/fhir/r5/ValueSet/$validate-code", json=body)
    assert r.status_code == 200, r.text
    params = {p["name"]: p for p in r.json()["parameter"]}
    assert params["result"]["valueBoolean"] is False
    issue = params["issues"]["resource"]["issue"][0]
    assert issue["details"]["coding"][0]["code"] == "invalid-display"
    assert issue["expression"] == ["Coding.display"]


# --- contained value sets and supplements --------------------------------------------------


def _contained_request(*extra: dict) -> list[dict]:
    request = _suite_resource("simple/simple-expand-contained-request-parameters.json")
    given = _tx(
        _suite_resource("simple/codesystem-simple.json"),
        _suite_resource("simple/valueset-filter-isa.json"),
    )
    return [*request["parameter"], *given, *extra]


def test_an_inline_value_set_without_url_imports_its_contained_value_set(client):
    # include.valueSet = ["#vs1", simple-filter-isa]: the intersection of code2 and code2's tree.
    r = _expand(client, *_contained_request())
    assert r.status_code == 200, r.text
    body = r.json()
    assert "url" not in body and "name" not in body  # nothing made up for an unnamed value set
    exp = body["expansion"]
    assert [c["code"] for c in exp["contains"]] == ["code2"]
    used = [p["valueUri"] for p in exp["parameter"] if p["name"] == "used-valueset"]
    assert used == ["http://hl7.org/fhir/test/ValueSet/simple-filter-isa|5.0.0"]  # not #vs1


def test_a_reference_to_a_missing_contained_value_set_is_a_404_naming_its_path(client):
    params = _contained_request()
    inline = next(p for p in params if p["name"] == "valueSet")["resource"]
    inline["compose"]["include"][0]["valueSet"][0] = "#vs2"
    r = _expand(client, *params)
    assert r.status_code == 404
    assert "'vs2'" in r.text
    assert r.json()["issue"][0]["expression"] == ["ValueSet.compose.include[0].valueSet[0]"]


def test_r5_validate_code_names_an_unnamed_value_set_and_quotes_the_given_display(client):
    coding = {"system": SIMPLE_SYSTEM, "code": "code2a", "display": "Display 2a"}
    params = [p for p in _contained_request() if p["name"] != "count"]
    body = {"resourceType": "Parameters", "parameter": [*params, _coding(coding)]}
    r = client.post("/fhir/r5/ValueSet/$validate-code", json=body)
    assert r.status_code == 200, r.text
    params = {p["name"]: p for p in r.json()["parameter"]}
    assert params["result"]["valueBoolean"] is False
    assert params["message"]["valueString"] == (
        f"The provided code '{SIMPLE_SYSTEM}#code2a ('Display 2a')' was not found in the value "
        "set '(unidentified)'"
    )


EXTENSIONS_SYSTEM = "http://hl7.org/fhir/test/CodeSystem/extensions"
SUPPLEMENT = "http://hl7.org/fhir/test/CodeSystem/supplement"


def _coding(coding: dict) -> dict:
    return {"name": "coding", "valueCoding": coding}


def _with_supplement(*params: dict) -> dict:
    given = _tx(
        _suite_resource("extensions/codesystem-extensions.json"),
        _suite_resource("extensions/codesystem-supplement.json"),
        _suite_resource("extensions/valueset-extensions-all-ns.json"),
    )
    return {"resourceType": "Parameters", "parameter": [*params, *given]}


USE_SUPPLEMENT = {"name": "useSupplement", "valueCanonical": SUPPLEMENT}
CODE1_OF_EXTENSIONS = [
    {"name": "system", "valueUri": EXTENSIONS_SYSTEM},
    {"name": "code", "valueCode": "code1"},
]


def test_use_supplement_adds_its_designations_to_lookup_with_their_source(client):
    code = CODE1_OF_EXTENSIONS
    r = client.post("/fhir/r5/CodeSystem/$lookup", json=_with_supplement(*code, USE_SUPPLEMENT))
    assert r.status_code == 200, r.text
    out = r.json()["parameter"]
    dutch = [
        {q["name"]: next(v for k, v in q.items() if k.startswith("value")) for q in p["part"]}
        for p in out
        if p["name"] == "designation" and {"name": "language", "valueCode": "nl"} in p["part"]
    ]
    assert dutch == [{"language": "nl", "value": "ectenoot", "source": f"{SUPPLEMENT}|0.1.1"}]
    assert {"name": "used-supplement", "valueCanonical": f"{SUPPLEMENT}|0.1.1"} in out
    # Given but not named: the code system answers as it always does.
    plain = client.post("/fhir/r5/CodeSystem/$lookup", json=_with_supplement(*code)).json()
    assert "ectenoot" not in json.dumps(plain)
    assert all(p["name"] != "used-supplement" for p in plain["parameter"])


def test_a_display_from_a_named_supplement_is_valid(client):
    vs = {"name": "url", "valueUri": "http://hl7.org/fhir/test/ValueSet/extensions-all-ns"}
    coding = _coding({"system": EXTENSIONS_SYSTEM, "code": "code1", "display": "ectenoot"})
    for path in ("/fhir/r5/ValueSet/$validate-code", "/fhir/ValueSet/$validate-code"):
        r = client.post(path, json=_with_supplement(vs, coding, USE_SUPPLEMENT))
        assert r.status_code == 200, r.text
        result = {p["name"]: p for p in r.json()["parameter"]}["result"]
        assert result["valueBoolean"] is True, path
        without = client.post(path, json=_with_supplement(vs, coding)).json()
        assert {p["name"]: p for p in without["parameter"]}["result"]["valueBoolean"] is False


def test_a_supplement_named_but_not_given_is_a_404(client):
    other = {"name": "useSupplement", "valueCanonical": "http://example.org/CodeSystem/none"}
    code = CODE1_OF_EXTENSIONS
    r = client.post("/fhir/r5/CodeSystem/$lookup", json=_with_supplement(*code, other))
    assert r.status_code == 404
    assert "Required supplement not found" in r.text
