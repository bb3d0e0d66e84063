"""Running a suite against a server: build each request, send it, compare, write diffs."""

from __future__ import annotations

import copy
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from termserver.conformance.compare import Context, UnknownMarkerError, compare
from termserver.conformance.scrub import scrub_answer
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
#: The release a client of each FHIR major.minor version speaks ($version$ in expected answers).
RELEASES = {"3.0": "3.0.2", "4.0": "4.0.1", "4.3": "4.3.0", "5.0": "5.0.0", "6.0": "6.0.0"}
#: Operations compared in pattern mode (the expected document is a minimum the answer holds).
PATTERN_OPERATIONS = frozenset({"metadata", "term-caps"})
#: The parameter a test's ``lenient-display`` sets, and the operations it is sent with.
LENIENT_DISPLAY = "lenient-display-validation"
LENIENT_OPERATIONS = frozenset({"validate-code", "cs-validate-code"})


@dataclass
class SuiteResult:
    """Counts for one suite, and the failing tests with their first difference."""

    name: str
    passed: int = 0
    failed: int = 0
    skipped: int = 0
    failures: dict[str, str] = field(default_factory=dict)
    #: Tests not run because the copy of the suite lacks a file they need: (test, that file);
    #: a list, as a suite may name two tests alike.
    not_run: list[tuple[str, str]] = field(default_factory=list)

    def line(self) -> str:
        """The one-line summary printed per suite."""
        total = self.passed + self.failed
        skip = f", {self.skipped} skipped" if self.skipped else ""
        lacking = f", {len(self.not_run)} not run (missing file)" if self.not_run else ""
        return f"{self.name}: {self.passed}/{total} passed{skip}{lacking}"


@dataclass
class Runner:
    """Runs tests from ``tests_dir`` against the FHIR base ``base`` (``http://host:port/fhir``)."""

    tests_dir: Path
    base: str
    modes: frozenset[str] = SUPPORTED_MODES
    externals: dict[str, Any] | None = None
    diffs: Path | None = None
    #: The FHIR release the server speaks ("5.0.0"); None: asked with $versions on first use.
    fhir_release: str | None = None
    tight: bool = False  # keep every extension in answers (the reference runner's tight mode)
    client: httpx.Client = field(default_factory=lambda: httpx.Client(timeout=TIMEOUT))

    def discover(self) -> str:
        """The FHIR release the server speaks, as the reference runner finds it: the ``default``
        of ``$versions``, else the CapabilityStatement's ``fhirVersion``, else R4."""
        if self.fhir_release is None:
            self.fhir_release = server_release(self.client, self.base)
        return self.fhir_release

    def run_suite(self, suite: Suite) -> SuiteResult:
        """Every test of ``suite``; skipped ones (disabled, unsupported mode/operation, another
        FHIR version) are counted, and so are those the copy lacks a file for (``not_run``:
        never a pass, nor a failure of the server)."""
        result = SuiteResult(suite.name)
        release = self.discover()  # as the reference runner: $versions before any test
        if not suite.runs_in(self.modes, release):
            result.skipped = len(suite.tests)
            return result
        setup_missing = self._first_missing(suite.setup)
        setup: list[dict] | str | None = None  # loaded on first use; str: why it is unusable
        for test in suite.tests:
            if test.skip_reason(self.modes, release) is not None:
                result.skipped += 1
                continue
            missing = setup_missing or self._first_missing(self._files(test))
            if missing is not None:
                result.not_run.append((test.name, missing))
                continue
            if setup is None:
                try:
                    setup = [self._load(p) for p in suite.setup]
                except SuiteError as exc:
                    setup = f"setup: {exc}"
            if isinstance(setup, str):
                diff = setup
                self._write_diff(test, diff, None, None)
            else:
                diff = self.run_test(test, setup)
            if diff is None:
                result.passed += 1
            else:
                result.failed += 1
                result.failures[test.name] = diff
        return result

    def run_test(self, test: Test, setup: list[dict]) -> str | None:
        """None when the test passes, else why not (and the diff file is written)."""
        actual: Any = None
        try:
            expected = self._load(self._response_file(test))
            profile = self._profile(test)
            status, actual = self._send(test, setup, profile)
            actual = scrub_answer(test.operation, actual, ok=status < 300, tight=self.tight)
            if not status_ok(test.http_code, status):
                want = test.http_code or "2xx"
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

    def _files(self, test: Test) -> list[str]:
        """The files of the suite ``test`` needs besides the setup: its profile, request (for
        a POST) and expected response."""
        files = [test.profile] if test.profile else []
        if OPERATIONS[test.operation][0] == "POST":
            files.append(test.choose("request", self.modes) or "")
        return [*files, self._response_file(test)]

    def _first_missing(self, files: Iterable[str]) -> str | None:
        """The first of ``files`` (relative to the tests folder) that is not there, or None."""
        return next((f for f in files if f and not (self.tests_dir / f).is_file()), None)

    def _send(self, test: Test, setup: list[dict], profile: list[dict]) -> tuple[int, Any]:
        method, resource, op = OPERATIONS[test.operation]
        url = f"{self.base}/{resource}/{op}" if resource else f"{self.base}/{op}"
        headers = {"Accept": "application/fhir+json", **test.extra_headers(self.modes)}
        if method == "GET":
            resp = self.client.get(url, headers=headers)
        else:
            request = test.choose("request", self.modes)
            body = self._load(request) if request else {"resourceType": "Parameters"}
            body = copy.deepcopy(body)
            params = body.setdefault("parameter", [])
            if test.lenient_display is not None and test.operation in LENIENT_OPERATIONS:
                # The test's value wins: one such parameter, after the request's own, so the
                # same request file is tested both ways.
                lenient = {"name": LENIENT_DISPLAY, "valueBoolean": test.lenient_display}
                params[:] = [*_without(params, LENIENT_DISPLAY), lenient]
                profile = _without(profile, LENIENT_DISPLAY)
            # As the reference runner: the request's own parameters, then every setup resource,
            # then every parameter of the profile (parameters-default.json), all as given.
            params += [{"name": "tx-resource", "resource": r} for r in setup]
            params += copy.deepcopy(profile)
            headers["Content-Type"] = "application/fhir+json"
            resp = self.client.post(url, content=json.dumps(body), headers=headers)
        try:
            return resp.status_code, resp.json()
        except ValueError:
            return resp.status_code, resp.text

    def _response_file(self, test: Test) -> str:
        # A suite may name a mode's response it does not ship; the plain one then applies.
        chosen = test.choose("response", self.modes)
        if chosen and chosen != test.response and not (self.tests_dir / chosen).is_file():
            return test.response or ""
        return chosen or ""

    def _context(self, test: Test) -> Context:
        ext = None
        response = self._response_file(test)
        if self.externals is not None and response:
            ext = self.externals.get(response)
        release = self.discover()
        modes = self.modes | {f"version:{release.split('.')[0]}"}
        return Context(
            externals=ext if isinstance(ext, dict) else None,
            variables={"version": release},
            modes=modes,
            pattern=test.operation in PATTERN_OPERATIONS,
        )

    def _profile(self, test: Test) -> list[dict]:
        """The parameters sent with every request: the test's ``profile``, else the suite's
        ``parameters-default.json`` (none when the suite has no such file)."""
        if test.profile is None and not (self.tests_dir / "parameters-default.json").exists():
            return []
        doc = self._load(test.profile or "parameters-default.json")
        params = doc.get("parameter") if isinstance(doc, dict) else None
        return [p for p in params if isinstance(p, dict)] if isinstance(params, list) else []

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


def _without(params: list, name: str) -> list:
    return [p for p in params if not (isinstance(p, dict) and p.get("name") == name)]


def software_name(client: httpx.Client, base: str) -> str:
    """What the server calls itself, as the reference runner names it in its summary: the
    CapabilityStatement's ``software.name`` (+ `` v`` + ``software.version``), else ``base``."""
    try:
        software = client.get(f"{base}/metadata", params={"_format": "json"}).json()["software"]
        name, version = software.get("name"), software.get("version")
    except (httpx.HTTPError, ValueError, KeyError, TypeError, AttributeError):
        return base
    if not isinstance(name, str) or not name:
        return base
    return f"{name} v{version}" if isinstance(version, str) and version else name


def unreachable(client: httpx.Client, base: str) -> str | None:
    """Why nothing answers at ``base`` (refused, unknown host, timeout), or None when something
    does, whatever its status: then the tests report what it answers."""
    try:
        client.get(f"{base}/metadata", params={"_format": "json"})
    except httpx.TransportError as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


def server_release(client: httpx.Client, base: str) -> str:
    """The FHIR release the FHIR endpoint ``base`` speaks (see :meth:`Runner.discover`)."""
    try:
        doc = client.get(f"{base}/$versions", params={"_format": "json"}).json()
        for p in doc.get("parameter") or () if isinstance(doc, dict) else ():
            if isinstance(p, dict) and p.get("name") == "default":
                # The operation defines a code; the Java runner reads a string: take either.
                value = p.get("valueCode") or p.get("valueString")
                if isinstance(value, str):
                    return RELEASES.get(value, value)
    except (httpx.HTTPError, ValueError):
        pass
    try:
        value = client.get(f"{base}/metadata", params={"_format": "json"}).json()["fhirVersion"]
        if isinstance(value, str):
            return RELEASES.get(value, value)
    except (httpx.HTTPError, ValueError, KeyError, TypeError):
        pass
    return RELEASES["4.0"]


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
