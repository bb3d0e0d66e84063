"""``python -m termserver.conformance --source DIR [--suite NAME ...] [--server URL]``."""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from pathlib import Path

from termserver.conformance.runner import Runner, fresh_server
from termserver.conformance.suite import (
    FLAT_MODE,
    SUPPORTED_MODES,
    SuiteError,
    load_suites,
    read_json,
)

#: The FHIR endpoint the runner tests, relative to the server root (see CONFORMANCE.md).
FHIR_PATH = "/fhir/r5"


def main(argv: list[str] | None = None) -> int:
    """Run the suites; print one line per suite (and each test the copy lacks a file for) and
    ``N passed, N failed``; exit 1 when a test failed or could not be run."""
    ap = argparse.ArgumentParser(
        prog="python -m termserver.conformance",
        description="Run the HL7 FHIR terminology ecosystem tests against termserver.",
    )
    ap.add_argument("--source", required=True, type=Path, help="folder holding test-cases.json")
    ap.add_argument("--suite", action="append", default=[], help="only this suite (repeatable)")
    ap.add_argument("--server", help="server root URL (default: start a fresh termserver)")
    ap.add_argument("--fhir-path", default=FHIR_PATH, help=f"FHIR endpoint (default {FHIR_PATH})")
    ap.add_argument("--diffs", type=Path, help="write one diff file per failing test here")
    ap.add_argument("--externals", type=Path, help="message texts, e.g. messages-tx.fhir.org.json")
    ap.add_argument("--mode", action="append", default=[], help="extra mode to run (repeatable)")
    ap.add_argument(
        "--flat",
        action="store_true",
        help="expect flat expansions (the suite's response:flat files), not hierarchical ones",
    )
    ap.add_argument("--report", type=Path, help="write per-suite counts here as JSON")
    ap.add_argument(
        "--tight", action="store_true", help="keep every extension in answers (reference: tight)"
    )
    args = ap.parse_args(argv)
    source: Path = args.source
    if (source / "tests" / "test-cases.json").exists():
        source = source / "tests"
    try:
        suites = load_suites(source)
        externals = read_json(args.externals) if args.externals else None
    except SuiteError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.suite:
        unknown = set(args.suite) - {s.name for s in suites}
        if unknown:
            print(f"error: no suite named {', '.join(sorted(unknown))}", file=sys.stderr)
            return 2
        suites = [s for s in suites if s.name in args.suite]
    with contextlib.ExitStack() as stack:
        # The suite uses FHIR's own code systems (administrative-gender ...): load them.
        root = args.server or stack.enter_context(fresh_server(("--fhir-core",)))
        runner = Runner(
            tests_dir=source,
            base=root.rstrip("/") + args.fhir_path,
            modes=SUPPORTED_MODES | set(args.mode) | ({FLAT_MODE} if args.flat else set()),
            externals=externals if isinstance(externals, dict) else None,
            diffs=args.diffs,
            tight=args.tight,
        )
        print(f"{runner.base}: FHIR {runner.discover()}", flush=True)
        passed = failed = skipped = not_run = 0
        counts = {}
        for suite in suites:
            result = runner.run_suite(suite)
            print(result.line(), flush=True)
            for name, missing in result.not_run:
                print(f"  not run: {name}: missing {missing}")
            counts[suite.name] = {
                "passed": result.passed,
                "failed": result.failed,
                "skipped": result.skipped,
                "failures": result.failures,
                "not_run": result.not_run,
            }
            passed, failed = passed + result.passed, failed + result.failed
            skipped, not_run = skipped + result.skipped, not_run + len(result.not_run)
    print(
        f"{passed} passed, {failed} failed"
        + (f", {skipped} skipped" if skipped else "")
        + (f", {not_run} not run (missing file)" if not_run else "")
    )
    if args.report:
        args.report.write_text(json.dumps(counts, indent=2, ensure_ascii=False) + "\n")
    return 1 if failed or not_run else 0


if __name__ == "__main__":
    sys.exit(main())
