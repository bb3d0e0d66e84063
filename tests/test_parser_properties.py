"""Property tests: every parser we own meets random and mutated input with its documented errors.

Inputs start from real files (a mapping set, a native plan, an SSSOM export of a real mapping
set) and are mutated, or are random JSON values; the only exceptions allowed out are the ones
each parser documents (SourceError and its subclasses, FhirError).
"""

from __future__ import annotations

import contextlib
import json
import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import ROOT

# Raise for a longer hunt; the default keeps the file to about fifteen seconds.
EXAMPLES = int(os.environ.get("TERMSERVER_PROPERTY_EXAMPLES", "150"))
MAPPING_FILE = ROOT / "mappings" / "sel-50--ffb.yaml"
PLAN_JSON = ROOT / "examples" / "plans" / "borgerens-plan.json"
PLAN_YAML = ROOT / "examples" / "plans" / "borgerens-plan.yaml"

fuzz = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    database=None,
)

KEYS = ("resourceType", "parameter", "name", "valueString", "valueCoding", "valueInteger")
KEYS += ("valueBoolean", "part", "resource", "system", "code", "id", "items", "status", "x")
VALUE_KEYS = ("valueString", "valueCoding", "valueCodeableConcept", "valueInteger")
VALUE_KEYS += ("valueBoolean", "valueUri", "valueCode", "resource", "part")

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True)
    | st.text(max_size=30)
    | st.sampled_from(["Parameters", "system", "code", "valueCode", "resourceType", ""]),
    lambda children: (
        st.lists(children, max_size=5)
        | st.dictionaries(
            st.sampled_from(KEYS) | st.text(max_size=8),
            children,
            max_size=5,
        )
    ),
    max_leaves=30,
)


@st.composite
def mutated(draw, original: str) -> str:
    """``original`` with a few random edits: deletions, insertions, replaced or repeated slices."""
    text = original
    for _ in range(draw(st.integers(1, 6))):
        if not text:
            break
        i = draw(st.integers(0, len(text) - 1))
        j = draw(st.integers(i, min(len(text), i + 40)))
        action = draw(st.sampled_from(["delete", "insert", "replace", "repeat"]))
        if action == "delete":
            text = text[:i] + text[j:]
        elif action == "insert":
            junk = draw(st.text(max_size=10) | st.sampled_from(["\n", ":", "- ", "\t", "&a", "*a"]))
            text = text[:i] + junk + text[i:]
        elif action == "replace":
            text = text[:i] + draw(st.text(max_size=5)) + text[j:]
        else:
            text = text[:j] + text[i:j] * draw(st.integers(1, 3)) + text[j:]
    return text


# --- mapping YAML -------------------------------------------------------------------------------


@fuzz
@given(text=mutated(MAPPING_FILE.read_text("utf-8")))
def test_mapping_yaml_parser_raises_only_source_errors(text):
    from termserver.errors import SourceError
    from termserver.mappings import MappingSet, parse_mapping_set

    try:
        result = parse_mapping_set(text.encode("utf-8", "surrogatepass"), "m.yaml")
    except SourceError as exc:
        assert str(exc)
    else:
        assert isinstance(result, MappingSet)


@fuzz
@given(raw=st.binary(max_size=300))
def test_mapping_yaml_parser_survives_random_bytes(raw):
    from termserver.errors import SourceError
    from termserver.mappings import parse_mapping_set

    with contextlib.suppress(SourceError):
        parse_mapping_set(raw, "m.yaml")


# --- native plans -------------------------------------------------------------------------------


@fuzz
@given(
    text=st.one_of(
        mutated(PLAN_JSON.read_text("utf-8")),
        mutated(PLAN_YAML.read_text("utf-8")),
    )
)
def test_plan_inputs_and_native_reader_raise_only_plan_input_errors(text):
    from termserver.plans.inputs import PlanInputError, parse_any
    from termserver.plans.native_reader import read_native

    try:
        doc = parse_any(text.encode("utf-8", "surrogatepass"), "plan")
    except PlanInputError as exc:
        assert exc.status in (400, 413, 415, 422)
        return
    plan = read_native(doc, "plan")  # problems are listed on the plan, never raised
    assert plan.source == "plan"


@fuzz
@given(doc=json_values)
def test_native_reader_lists_problems_for_any_json_value(doc):
    from termserver.plans.native_reader import read_native

    plan = read_native(doc, "random")
    if not isinstance(doc, dict):
        assert plan.problems


@fuzz
@given(doc=json_values)
def test_native_reader_survives_any_json_in_a_real_plans_fields(doc):
    from termserver.plans.native_reader import read_native

    real = json.loads(PLAN_JSON.read_text("utf-8"))
    for key in list(real)[:8]:
        broken = dict(real)
        broken[key] = doc
        read_native(broken, "plan")


# --- FHIR Parameters ----------------------------------------------------------------------------


ACCESSORS = ("str", "bool", "int", "coding", "codeable_concept", "resource", "strings")


def read_as(params, accessor: str, name: str):
    """Read parameter ``name`` the way an operation would with ``accessor``."""
    if accessor == "int":
        return params.int(name, minimum=0, maximum=10_000)
    return getattr(params, accessor)(name)


@fuzz
@given(body=json_values)
def test_parameters_from_body_raise_only_fhir_errors(body):
    from termserver.fhir.outcome import FhirError
    from termserver.fhir.params import OperationParams

    try:
        params = OperationParams.from_body(body)
    except FhirError as exc:
        assert 400 <= exc.status < 500
        return
    for name in params.names():
        for accessor in ACCESSORS:
            try:
                read_as(params, accessor, name)
            except FhirError as exc:
                assert 400 <= exc.status < 500


@fuzz
@given(
    value=json_values,
    key=st.sampled_from(VALUE_KEYS),
)
def test_parameters_with_any_value_of_any_type_raise_only_fhir_errors(value, key):
    from termserver.fhir.outcome import FhirError
    from termserver.fhir.params import OperationParams, check_depth

    body = {"resourceType": "Parameters", "parameter": [{"name": "p", key: value}]}
    try:
        check_depth(body)
        params = OperationParams.from_body(body)
        for accessor in ACCESSORS:
            try:
                read_as(params, accessor, "p")
            except FhirError as exc:
                assert 400 <= exc.status < 500
    except FhirError as exc:
        assert 400 <= exc.status < 500


@fuzz
@given(items=st.lists(st.tuples(st.text(max_size=10), st.text(max_size=50)), max_size=20))
def test_parameters_from_query_raise_only_fhir_errors(items):
    from termserver.fhir.outcome import FhirError
    from termserver.fhir.params import OperationParams

    try:
        params = OperationParams.from_query(items)
    except FhirError:
        return
    for name in params.names():
        for accessor in ACCESSORS:
            try:
                read_as(params, accessor, name)
            except FhirError as exc:
                assert 400 <= exc.status < 500


# --- SSSOM --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sssom_text(vocab) -> str:
    from termserver.mappings import load_mapping_set
    from termserver.sssom import export_sssom

    return export_sssom(load_mapping_set(MAPPING_FILE), vocab)


@fuzz
@given(data=st.data())
def test_sssom_reader_raises_only_source_errors(vocab, sssom_text, data):
    from termserver.errors import SourceError
    from termserver.mappings import MappingSet
    from termserver.sssom import read_sssom

    text = data.draw(mutated(sssom_text))
    try:
        result = read_sssom(text, "in.sssom.tsv", vocab, set_id="in")
    except SourceError as exc:
        assert str(exc)
    else:
        assert isinstance(result, MappingSet)


@fuzz
@given(raw=st.binary(max_size=400))
def test_sssom_reader_survives_random_bytes(vocab, raw):
    from termserver.errors import SourceError
    from termserver.sssom import read_sssom

    with contextlib.suppress(SourceError):
        read_sssom(raw, "in.sssom.tsv", vocab, set_id="in")
