"""The conformance ratchet on tx.fhir.org's wording.

Run without an externals file, the suite checks a message only for fragments (a URL, a code);
with the suite's ``messages-tx.fhir.org.json`` it wants tx.fhir.org's exact text, which is the
wording clients of HL7 servers compare. Each suite's pass count there may not drop below
tests/data/tx-ecosystem-wording-baseline.json, which only goes up (see CONFORMANCE.md for the
tests whose exact text contradicts the suite's own expected files).
"""

from __future__ import annotations

import json
from pathlib import Path

from termserver.conformance.__main__ import FHIR_PATH
from termserver.conformance.runner import Runner
from termserver.conformance.suite import load_suites

DATA = Path(__file__).parent / "data"
SUITE = DATA / "tx-ecosystem" / "tests"
BASELINE = DATA / "tx-ecosystem-wording-baseline.json"


def test_no_suite_matches_fewer_of_tx_fhir_orgs_messages_than_its_baseline(tmp_path):
    from tests.conftest import serving

    baseline = json.loads(BASELINE.read_text(encoding="utf-8"))
    externals = json.loads((SUITE / "messages-tx.fhir.org.json").read_text(encoding="utf-8-sig"))
    dropped = {}
    with serving("--fhir-core") as base:
        runner = Runner(SUITE, f"{base}{FHIR_PATH}", externals=externals, diffs=tmp_path)
        for suite in load_suites(SUITE):
            result = runner.run_suite(suite)
            if result.passed < baseline.get(suite.name, 0):
                dropped[suite.name] = (result.passed, baseline[suite.name], result.failures)
    assert not dropped, f"suites below their baseline (diffs in {tmp_path}): {dropped}"
