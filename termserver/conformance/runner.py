"""Running a suite against a server: build each request, send it, compare, write diffs."""

from __future__ import annotations

import copy
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from termserver.conformance.compare import Context, UnknownMarkerError, compare
from termserver.conformance.suite import (
    OPERATIONS,
    SUPPORTED_MODES,
    Suite,
    SuiteError,
    Test,
    read_json,
    status_ok,
)

TIMEOUT = 60.0
START_TIMEOUT = 120.0


@dataclass
class SuiteResult:
    """Counts for one suite, and the failing tests with their first difference."""

    name: str
    passed: int = 0
    failed: int = 0
    skipped: int = 0
    failures: dict[str, str] = field(default_factory=dict)

    def line(self) -> str:
        """The one-line summary printed per suite."""
        total = self.passed + self.failed
        skip = f", {self.skipped} skipped" if self.skipped else ""
        return f"{self.name}: {self.passed}/{total} passed{skip}"


@dataclass
class Runner:
    """Runs tests from ``tests_dir`` against the FHIR base ``base`` (``http://host:port/fhir``)."""

    tests_dir: Path
    base: str
    modes: frozenset[str] = SUPPORTED_MODES
    externals: dict[str, Any] | None = None
    diffs: Path | None = None
    fhir_version: str = "5"  # the server's FHIR major version, for "$optional$": "version:N"
    client: httpx.Client = field(default_factory=lambda: httpx.Client(timeout=TIMEOUT))

    def run_suite(self, suite: Suite) -> SuiteResult:
        """Every test of ``suite``; skipped ones (unsupported mode/operation) are counted."""
        result = SuiteResult(suite.name)
        if suite.mode is not None and suite.mode not in self.modes:
            result.skipped = len(suite.tests)
            return result
        try:
            setup = [self._load(p) for p in suite.setup]
        except SuiteError as exc:
            for t in suite.tests:
                result.failed += 1
                result.failures[t.name] = f"setup: {exc}"
                self._write_diff(t, f"setup: {exc}", None, None)
            return result
        defaults = self._defaults()
        for test in suite.tests:
            if test.skip_reason(self.modes) is not None:
                result.skipped += 1
                continue
            diff = self.run_test(test, setup, defaults)
            if diff is None:
                result.passed += 1
            else:
                result.failed += 1
                result.failures[test.name] = diff
        return result

    def run_test(self, test: Test, setup: list[dict], defaults: list[dict]) -> str | None:
        """None when the test passes, else why not (and the diff file is written)."""
        actual: Any = None
        try:
            expected = self._load(self._response_file(test))
            status, actual = self._send(test, setup, defaults)
            outcome = (
                isinstance(expected, dict) and expected.get("resourceType") == "OperationOutcome"
            )
            if not status_ok(test.http_code, status, outcome):
                want = test.http_code or "200"
                diff = f"HTTP status {status}, expected {want}"
            else:
                diff = compare(expected, actual, self._context(test))
        except (SuiteError, UnknownMarkerError) as exc:
            diff, expected = f"suite problem: {exc}", None
        except httpx.HTTPError as exc:
            diff, expected = f"request failed: {exc!r}", None
        if diff is not None:
            self._write_diff(test, diff, expected, actual)
        return diff

    def _send(self, test: Test, setup: list[dict], defaults: list[dict]) -> tuple[int, Any]:
        method, resource, op = OPERATIONS[test.operation]
        url = f"{self.base}/{resource}/{op}" if resource else f"{self.base}/{op}"
        headers = {"Accept": "application/fhir+json", **test.headers}
        if method == "GET":
            resp = self.client.get(url, headers=headers)
        else:
            body = self._load(test.request) if test.request else {"resourceType": "Parameters"}
            body = copy.deepcopy(body)
            params = body.setdefault("parameter", [])
            params += [{"name": "tx-resource", "resource": r} for r in setup]
            given = {p.get("name") for p in params}
            params += [p for p in defaults if p.get("name") not in given]
            headers["Content-Type"] = "application/fhir+json"
            resp = self.client.post(url, content=json.dumps(body), headers=headers)
        try:
            return resp.status_code, resp.json()
        except ValueError:
            return resp.status_code, resp.text

    def _response_file(self, test: Test) -> str:
        # A suite may name a flat response it does not ship; the general one then applies.
        if test.flat_response and (self.tests_dir / test.flat_response).is_file():
            return test.flat_response
        return test.response or ""

    def _context(self, test: Test) -> Context:
        ext = None
        if self.externals is not None and test.response is not None:
            ext = self.externals.get(test.response)
        modes = self.modes | {f"version:{self.fhir_version}"}
        return Context(externals=ext if isinstance(ext, dict) else None, modes=modes)

    def _defaults(self) -> list[dict]:
        path = self.tests_dir / "parameters-default.json"
        if not path.exists():
            return []
        doc = read_json(path)
        return list(doc.get("parameter") or []) if isinstance(doc, dict) else []

    def _load(self, rel: str) -> Any:
        path = (self.tests_dir / rel).resolve()
        if not path.is_relative_to(self.tests_dir.resolve()):
            raise SuiteError(f"{rel}: outside the suite folder")
        return read_json(path)

    def _write_diff(self, test: Test, diff: str, expected: Any, actual: Any) -> None:
        if self.diffs is None:
            return
        folder = self.diffs / test.suite
        folder.mkdir(parents=True, exist_ok=True)
        doc = {"test": test.name, "difference": diff, "expected": expected, "actual": actual}
        text = json.dumps(doc, indent=2, ensure_ascii=False)
        (folder / f"{test.name}.json").write_text(text + "\n", encoding="utf-8")


def free_port() -> int:
    """A free TCP port on the loopback interface."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def fresh_server(extra_args: tuple[str, ...] = ()) -> Iterator[str]:
    """A ``termserver serve`` on a free loopback port for the duration; yields its base URL."""
    port = free_port()
    cmd = [sys.executable, "-m", "termserver", "serve", "--port", str(port)]
    cmd += ["--log-level", "warning", *extra_args]
    proc = subprocess.Popen(cmd, env=os.environ.copy(), stdout=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"the server exited with code {proc.returncode} at start")
            try:
                if httpx.get(f"{base}/fhir/metadata", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"the server did not answer within {START_TIMEOUT:.0f} s")
            time.sleep(0.2)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
