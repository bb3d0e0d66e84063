"""Reading a terminology ecosystem test suite (``test-cases.json`` and the files it names)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: Modes we run; a test or suite with any other mode (``tx.fhir.org``, ``ontoserver``) is skipped.
#: ``flat``: our expansions are never hierarchical, so a test's ``response:flat`` is the one.
SUPPORTED_MODES = frozenset({"general", "flat"})
#: Suite operation -> (HTTP method, resource type or None, operation or query).
OPERATIONS: dict[str, tuple[str, str | None, str]] = {
    "expand": ("POST", "ValueSet", "$expand"),
    "validate-code": ("POST", "ValueSet", "$validate-code"),
    "cs-validate-code": ("POST", "CodeSystem", "$validate-code"),
    "lookup": ("POST", "CodeSystem", "$lookup"),
    "translate": ("POST", "ConceptMap", "$translate"),
    "metadata": ("GET", None, "metadata"),
    "term-caps": ("GET", None, "metadata?mode=terminology"),
}


class SuiteError(Exception):
    """The suite's own files are unusable (names the file)."""


@dataclass(frozen=True)
class Test:
    """One test: what to send and what to expect."""

    suite: str
    name: str
    operation: str
    request: str | None  # path relative to the tests folder
    response: str | None
    flat_response: str | None  # the answer expected from a server without hierarchy (flat mode)
    http_code: str | None  # "4xx", "404" ... or None for 200
    headers: dict[str, str]
    mode: str | None

    def skip_reason(self, modes: frozenset[str]) -> str | None:
        """Why this test is not run, or None."""
        if self.mode is not None and self.mode not in modes:
            return f"mode {self.mode}"
        if self.operation not in OPERATIONS:
            return f"operation {self.operation}"
        if self.response is None:
            return "no expected response"
        return None


@dataclass(frozen=True)
class Suite:
    """A suite: its setup resources and tests."""

    name: str
    mode: str | None
    setup: tuple[str, ...]
    tests: tuple[Test, ...]


def load_suites(tests_dir: Path, modes: frozenset[str] = SUPPORTED_MODES) -> list[Suite]:
    """The suites of ``tests_dir/test-cases.json``; per test, the flat response where ``flat``."""
    doc = read_json(tests_dir / "test-cases.json")
    suites = doc.get("suites") if isinstance(doc, dict) else None
    if not isinstance(suites, list):
        raise SuiteError(f"{tests_dir / 'test-cases.json'}: no 'suites' array")
    out = []
    for i, s in enumerate(suites):
        if not isinstance(s, dict) or not isinstance(s.get("name"), str):
            raise SuiteError(f"test-cases.json: suites[{i}] has no name")
        tests = []
        for j, t in enumerate(s.get("tests") or ()):
            if not isinstance(t, dict) or not isinstance(t.get("name"), str):
                raise SuiteError(f"test-cases.json: suites[{i}].tests[{j}] has no name")
            headers = {"Accept-Language": t["Accept-Language"]} if "Accept-Language" in t else {}
            tests.append(
                Test(
                    suite=s["name"],
                    name=t["name"],
                    operation=str(t.get("operation", "")),
                    request=t.get("request"),
                    response=t.get("response"),
                    flat_response=t.get("response:flat") if "flat" in modes else None,
                    http_code=str(t["http-code"]) if "http-code" in t else None,
                    headers=headers,
                    mode=t.get("mode"),
                )
            )
        out.append(Suite(s["name"], s.get("mode"), tuple(s.get("setup") or ()), tuple(tests)))
    return out


def read_json(path: Path) -> Any:
    """A suite file as JSON; :class:`SuiteError` naming the file when unreadable."""
    try:
        return json.loads(path.read_text(encoding="utf-8-sig"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SuiteError(f"{path}: {exc}") from None


def status_ok(expected: str | None, status: int, outcome: bool = False) -> bool:
    """Does the HTTP status satisfy the test's ``http-code`` (``4xx``, ``404``)? With none given,
    200 is wanted, or any error status when the expected answer is an OperationOutcome."""
    if expected is None:
        return status >= 400 if outcome else status == 200
    pattern = expected.strip().lower()
    text = str(status)
    return len(pattern) == len(text) and all(
        p in ("x", d) for p, d in zip(pattern, text, strict=True)
    )
