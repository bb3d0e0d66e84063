"""Plans kept as files (a folder of FHIR Bundles or native documents), read for impact analysis:
which codes each plan uses, so a release diff can say which stored plans it touches."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

from termserver.plans.fhir_reader import read_fhir
from termserver.plans.inputs import PlanInputError, parse_any
from termserver.plans.model import FHIR, Coding, Plan
from termserver.plans.native_reader import read_native
from termserver.plans.validate import unwrap

PLAN_SUFFIXES = (".json", ".yaml", ".yml")


def read_plan_file(path: Path) -> Plan:
    """One plan file (FHIR Bundle or native JSON/YAML) as the plan model; raises
    :class:`PlanInputError` naming the file and place when it cannot be read."""
    source = str(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise PlanInputError(source, None, f"kan ikke læse filen: {exc.strerror}") from None
    fmt, body = unwrap(parse_any(data, source), source)
    return read_fhir(body, source) if fmt == FHIR else read_native(body, source)


def plan_codes(plan: Plan) -> set[tuple[str, str]]:
    """Every ``(system, code)`` the plan writes anywhere (goals, conditions, target groups ...)."""
    found: set[tuple[str, str]] = set()
    stack: list[object] = [plan]
    while stack:
        item = stack.pop()
        if isinstance(item, Coding):
            if item.system and item.code:
                found.add((item.system, item.code))
        elif dataclasses.is_dataclass(item):
            stack.extend(getattr(item, f.name) for f in dataclasses.fields(item))
        elif isinstance(item, (list, tuple)):
            stack.extend(item)
    return found


def plans_in(
    directory: Path,
) -> tuple[list[tuple[str, set[tuple[str, str]]]], list[PlanInputError]]:
    """``(plan id, codes)`` for every readable plan file under ``directory`` (by file name,
    sorted), and the problems of the files that could not be read."""
    plans: list[tuple[str, set[tuple[str, str]]]] = []
    problems: list[PlanInputError] = []
    for path in sorted(_plan_files(directory)):
        try:
            plan = read_plan_file(path)
        except PlanInputError as exc:
            problems.append(exc)
            continue
        plans.append((str(path.relative_to(directory)), plan_codes(plan)))
    return plans, problems


def _plan_files(directory: Path) -> Iterator[Path]:
    for path in directory.rglob("*"):
        if path.is_file() and path.suffix.lower() in PLAN_SUFFIXES:
            yield path
