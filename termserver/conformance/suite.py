"""Reading a terminology ecosystem test suite (``test-cases.json`` and the files it names)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: Modes we run; a test or suite with any other mode (``tx.fhir.org``, ``ontoserver``) is skipped.
#: Our expansions nest by the code system's hierarchy as HL7 servers do, so a test's plain
#: (hierarchical) response is the one; ``FLAT_MODE`` (``--flat``) picks ``response:flat``
#: instead, for a server that answers flat.
SUPPORTED_MODES = frozenset({"general"})
FLAT_MODE = "flat"
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
    http_code: str | None  # "4xx", "404" ... or None for 2xx
    headers: dict[str, str]
    mode: str | None
    modes: tuple[str, ...] = ()  # run when any of these is on (besides ``mode``)
    disabled: bool = False
    profile: str | None = None  # parameters sent with the request instead of the defaults
    variants: dict[str, str] = field(default_factory=dict)  # "request:flat" -> file ...
    header: dict[str, str] = field(default_factory=dict)  # sent when its "mode" is on
    version: str | None = None  # run only against this FHIR version ("4.0", "5.0", "!4.0")
    #: ``lenient-display``: the ``lenient-display-validation`` parameter to send with a
    #: ``validate-code``/``cs-validate-code`` request (None: the request as it is).
    lenient_display: bool | None = None

    def skip_reason(self, modes: frozenset[str], release: str | None = None) -> str | None:
        """Why this test is not run, or None; ``release`` is the FHIR release the server speaks
        ("5.0.0"), which a test's ``version`` ("4.0") must match."""
        if self.disabled:
            return "disabled"
        if not runs_in(self.mode, self.modes, modes):
            return f"mode {self.mode or '|'.join(self.modes)}"
        if self.version is not None and not same_version(self.version, release):
            return f"version {self.version}"
        if self.operation not in OPERATIONS:
            return f"operation {self.operation}"
        if self.response is None:
            return "no expected response"
        return None

    def choose(self, what: str, modes: frozenset[str]) -> str | None:
        """The ``request`` or ``response`` file: the variant of a mode that is on (as the
        reference runner, e.g. ``response:flat``), else the plain one."""
        for mode in sorted(modes):
            if f"{what}:{mode}" in self.variants:
                return self.variants[f"{what}:{mode}"]
        return self.request if what == "request" else self.response

    def extra_headers(self, modes: frozenset[str]) -> dict[str, str]:
        """``Accept-Language`` and a ``header`` whose mode is on."""
        out = dict(self.headers)
        h = self.header
        if h.get("mode") in modes and isinstance(h.get("name"), str):
            out[h["name"]] = str(h.get("value", ""))
        return out


def same_version(wanted: str, release: str | None) -> bool:
    """Is ``release`` ("5.0.0") of the FHIR version ``wanted`` ("5.0", "5.0.0"), or, for
    ``"!4.0"``, of any version but that one? No release known: no, either way."""
    if release is None:
        return False
    if wanted.startswith("!"):
        return not same_version(wanted[1:], release)
    parts = wanted.split(".")
    return release.split(".")[: len(parts)] == parts


def runs_in(mode: str | None, any_of: tuple[str, ...], modes: frozenset[str]) -> bool:
    """Does an item with ``mode`` (and/or a ``modes`` list) run when ``modes`` are on?"""
    if any_of and any(m in modes for m in any_of):
        return True
    if mode is not None:
        return mode in modes
    return not any_of


@dataclass(frozen=True)
class Suite:
    """A suite: its setup resources and tests."""

    name: str
    mode: str | None
    setup: tuple[str, ...]
    tests: tuple[Test, ...]
    modes: tuple[str, ...] = ()
    disabled: bool = False
    version: str | None = None  # run only against this FHIR version, as a test's
    sequential: bool = False  # run after every other suite (see :func:`run_order`)

    def runs_in(self, modes: frozenset[str], release: str | None = None) -> bool:
        """Is the suite run at all with ``modes`` on, against a server of FHIR ``release``
        (needed only when the suite names a ``version``)?"""
        if self.version is not None and not same_version(self.version, release):
            return False
        return not self.disabled and runs_in(self.mode, self.modes, modes)


def run_order(suites: list[Suite]) -> list[Suite]:
    """``suites`` in the order they are run: every suite not marked ``sequential`` first, then
    the sequential ones, each group in manifest order."""
    return [s for s in suites if not s.sequential] + [s for s in suites if s.sequential]


def load_suites(tests_dir: Path) -> list[Suite]:
    """The suites of ``tests_dir/test-cases.json`` (which files a test uses depends on the modes
    it is run with: :meth:`Test.choose`)."""
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
            variants = {
                k: v
                for k, v in t.items()
                if isinstance(v, str) and k.startswith(("request:", "response:"))
            }
            tests.append(
                Test(
                    suite=s["name"],
                    name=t["name"],
                    operation=str(t.get("operation", "")),
                    request=t.get("request"),
                    response=t.get("response"),
                    http_code=str(t["http-code"]) if "http-code" in t else None,
                    headers=headers,
                    mode=t.get("mode"),
                    modes=_strings(t.get("modes")),
                    disabled=t.get("disabled") is True,
                    profile=t.get("profile") if isinstance(t.get("profile"), str) else None,
                    variants=variants,
                    header=t["header"] if isinstance(t.get("header"), dict) else {},
                    version=str(t["version"]) if t.get("version") is not None else None,
                    lenient_display=_flag(t.get("lenient-display")),
                )
            )
        setup = tuple(s.get("setup") or ())
        out.append(
            Suite(
                s["name"],
                s.get("mode"),
                setup,
                tuple(tests),
                modes=_strings(s.get("modes")),
                disabled=s.get("disabled") is True,
                version=str(s["version"]) if s.get("version") is not None else None,
                sequential=s.get("sequential") is True,
            )
        )
    return out


def manifest_version(tests_dir: Path) -> str | None:
    """The version of the test cases: ``test-cases.json``'s top-level ``version``, if any."""
    doc = read_json(tests_dir / "test-cases.json")
    value = doc.get("version") if isinstance(doc, dict) else None
    return value if isinstance(value, str) and value else None


def _strings(value: Any) -> tuple[str, ...]:
    return tuple(v for v in value if isinstance(v, str)) if isinstance(value, list) else ()


def _flag(value: Any) -> bool | None:
    # Only a JSON boolean: a string "true" is not read as one (as for $optional$).
    return value if isinstance(value, bool) else None


def read_json(path: Path) -> Any:
    """A suite file as JSON; :class:`SuiteError` naming the file when unreadable."""
    try:
        return json.loads(path.read_text(encoding="utf-8-sig"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SuiteError(f"{path}: {exc}") from None


def status_ok(expected: str | None, status: int) -> bool:
    """Does the HTTP status satisfy the test's ``http-code`` (``4xx``, ``404``)? With none given,
    any success (``2xx``), as the reference runner: even where the expected answer is an
    OperationOutcome."""
    pattern = (expected or "2xx").strip().lower()
    text = str(status)
    return len(pattern) == len(text) and all(
        p in ("x", d) for p, d in zip(pattern, text, strict=True)
    )
