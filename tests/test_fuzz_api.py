"""Schemathesis over the whole OpenAPI schema: every operation, valid and invalid data, no 5xx.

The app runs in-process (ASGI) with curation switched on over a private SQLite data directory
and an admin's token, so the write paths are fuzzed past authentication too. The number of
examples per operation is bounded (``TERMSERVER_FUZZ_EXAMPLES``, default 25) to keep the run
within about two minutes; raise it for a longer hunt.
"""

from __future__ import annotations

import os
import shutil

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode

from tests.conftest import ONTOLOGY, ROOT

pytest_plugins = ["curation_fixtures"]

EXAMPLES = int(os.environ.get("TERMSERVER_FUZZ_EXAMPLES", "25"))
# The only 5xx the server means: SPARQL says 503 when a query hits its time limit or every
# worker is busy (with Retry-After); random query text must never get there by anything else.
INTENDED_5XX = {("/sparql", 503)}


@pytest.fixture(scope="module")
def fuzz_app(vocab, seeded_template, tmp_path_factory):
    from termserver.api.app import create_app
    from termserver.curation.server import attach
    from termserver.curation.service import Curation
    from termserver.settings import Settings

    data = tmp_path_factory.mktemp("fuzz") / "data"
    shutil.copytree(seeded_template, data, symlinks=True)
    cur = Curation.open(data, None, ontology=ONTOLOGY, mappings=ROOT / "mappings")
    _, token = cur.add_user(None, "fuzz-admin", "admin", by="test")
    app = attach(create_app(cur.snapshot(), Settings(query_timeout=2.0)), cur)
    app.state.fuzz_token = token
    try:
        yield app
    finally:
        app.state.sparql.close()
        cur.close()


@pytest.fixture(scope="module")
def api_schema(fuzz_app):
    return schemathesis.openapi.from_asgi("/openapi.json", fuzz_app)


def operations(schema, curation: bool) -> list:
    """The schema's operations: the curation API's, or all others."""
    ops = [result.ok() for result in schema.get_all_operations()]
    return [op for op in ops if op.path.startswith("/api/curation") == curation]


def server_errors(ops: list, mode: GenerationMode, headers: dict) -> list[str]:
    """Fuzz each of ``ops`` with ``mode`` data; the 5xx answers met, one line each."""
    found: list[str] = []
    for operation in ops:

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
            database=None,
            phases=[Phase.explicit, Phase.generate],
        )
        def run(case) -> None:
            label = case.operation.label
            try:
                response = case.call(headers=headers)
            except Exception as exc:  # the in-process transport re-raises what the app raised
                found.append(f"{label} raised {type(exc).__name__}: {exc}")
                return
            status = response.status_code
            if status >= 500 and (case.operation.path, status) not in INTENDED_5XX:
                found.append(
                    f"{label} answered {status}: {response.text[:300]!r}\n"
                    f"  reproduce: {case.as_curl_command()}"
                )

        try:
            run()
        except Unsatisfiable:
            # Negative mode on an operation without parameters: nothing can be made invalid.
            assert mode is GenerationMode.NEGATIVE
    return found


MODES = [GenerationMode.POSITIVE, GenerationMode.NEGATIVE]


@pytest.mark.parametrize("mode", MODES)
def test_no_operation_answers_a_server_error(api_schema, fuzz_app, mode):
    # schemathesis' own pytest plugin (schema.parametrize) does not run on pytest 9, so each
    # operation gets a plain hypothesis run over schemathesis' strategy for it.
    ops = operations(api_schema, curation=False)
    assert len(ops) > 30  # the whole schema, not a part of it
    found = server_errors(ops, mode, {})
    assert not found, f"{len(found)} server errors:\n" + "\n".join(found[:40])


def test_no_curation_operation_answers_a_server_error(api_schema, fuzz_app):
    ops = operations(api_schema, curation=True)
    assert len(ops) > 20
    headers = {"Authorization": f"Bearer {fuzz_app.state.fuzz_token}"}
    found = [e for mode in MODES for e in server_errors(ops, mode, headers)]
    assert not found, f"{len(found)} server errors:\n" + "\n".join(found[:40])
