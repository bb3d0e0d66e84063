"""``python -m termserver.conformance --source DIR [--suite NAME ...] [--server URL]``."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import sys
from collections.abc import Iterable
from pathlib import Path
from urllib.parse import urlsplit

from termserver import __version__
from termserver.conformance.runner import Runner, fresh_server, software_name, unreachable
from termserver.conformance.suite import (
    FLAT_MODE,
    SUPPORTED_MODES,
    SuiteError,
    load_suites,
    manifest_version,
    read_json,
    run_order,
)

#: The FHIR endpoint the runner tests, relative to the server root (see CONFORMANCE.md).
FHIR_PATH = "/fhir/r5"


def fhir_base(server: str, fhir_path: str = FHIR_PATH) -> str:
    """The FHIR base URL to test: ``server`` as given when it has a path (a FHIR base, as HL7's
    runner takes ``-tx``), else the server root with ``fhir_path`` (our own server's layout)."""
    root = server.rstrip("/")
    return root if urlsplit(server).path not in ("", "/") else root + fhir_path


def _is_http_url(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def hl7_summary(
    software: str, passed: int, failed: int, modes: Iterable[str], tests_version: str | None
) -> str:
    """The reference runner's closing line: ``passed all N`` or ``failed F of N`` tests, with
    the modes, the version of the test cases and the runner."""
    total = passed + failed
    outcome = f"failed {failed} of {total}" if failed else f"passed all {total}"
    tests = f"v{tests_version}" if tests_version else "unknown (no version in test-cases.json)"
    return (
        f"{software} {outcome} HL7 terminology service tests (modes {'+'.join(sorted(modes))}, "
        f"tests {tests}, runner termserver {__version__})"
    )


def main(argv: list[str] | None = None) -> int:
    """Run the suites; print one line per suite (and each test the copy lacks a file for) and
    ``N passed, N failed``; exit 1 when a test failed or could not be run."""
    ap = argparse.ArgumentParser(
        prog="python -m termserver.conformance",
        description="Run the HL7 FHIR terminology ecosystem tests against termserver.",
    )
    ap.add_argument("--source", required=True, type=Path, help="folder holding test-cases.json")
    ap.add_argument("--suite", action="append", default=[], help="only this suite (repeatable)")
    ap.add_argument(
        "--server",
        help="FHIR base URL (http://host/fhir), or a termserver root (http://host:8000) to which "
        "--fhir-path is added (default: start a fresh termserver)",
    )
    ap.add_argument(
        "--fhir-path",
        default=FHIR_PATH,
        help=f"FHIR endpoint below a server root (default {FHIR_PATH})",
    )
    ap.add_argument("--filter", help="only the tests whose name contains this text (HL7's -filter)")
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
        tests_version = manifest_version(source)
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
    if args.server and not _is_http_url(args.server):
        print(f"error: --server must be an http(s) URL, not {args.server!r}", file=sys.stderr)
        return 2
    if args.filter:
        suites = [
            dataclasses.replace(s, tests=tuple(t for t in s.tests if args.filter in t.name))
            for s in suites
        ]
        suites = [s for s in suites if s.tests]
        if not suites:
            print(f"error: no test name contains {args.filter!r}", file=sys.stderr)
            return 2
    suites = run_order(suites)
    with contextlib.ExitStack() as stack:
        # The suite uses FHIR's own code systems (administrative-gender ...): load them.
        root = args.server or stack.enter_context(fresh_server(("--fhir-core",)))
        runner = Runner(
            tests_dir=source,
            base=fhir_base(root, args.fhir_path),
            modes=SUPPORTED_MODES | set(args.mode) | ({FLAT_MODE} if args.flat else set()),
            externals=externals if isinstance(externals, dict) else None,
            diffs=args.diffs,
            tight=args.tight,
        )
        down = unreachable(runner.client, runner.base)
        if down is not None:
            print(f"error: nothing answers at {runner.base} ({down})", file=sys.stderr)
            return 2
        print(f"{runner.base}: FHIR {runner.discover()}", flush=True)
        passed = failed = skipped = not_run = 0
        failing: list[str] = []
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
            failing += [f"{suite.name}/{name}" for name in result.failures]
            failing += [f"{suite.name}/{name}" for name, _ in result.not_run]
            passed, failed = passed + result.passed, failed + result.failed
            skipped, not_run = skipped + result.skipped, not_run + len(result.not_run)
        software = software_name(runner.client, runner.base)
    # A test that could not be run counts as failed here, as the reference runner fails it; our
    # own line, last, keeps the two apart.
    print(hl7_summary(software, passed, failed + not_run, runner.modes, tests_version))
    if failing:
        print(f"Failed Tests: {','.join(failing)}")
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
