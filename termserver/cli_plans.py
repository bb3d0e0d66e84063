"""``termserver validate``: check citizens' plans (FHIR Bundle or Borgerens Plan) from the shell.

Exit codes: 0 every plan valid, 1 errors found, 2 some input could not be read.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import orjson
import typer
from rich.console import Console
from rich.markup import escape

# The plan rules and rich's progress bar are imported when a plan is validated: every other
# command, ``serve`` among them, starts without them.
if TYPE_CHECKING:
    from termserver.plans.validate import Report

_err = Console(stderr=True, highlight=False)


def register(app: typer.Typer) -> None:
    """Add the ``validate`` command to ``app``."""
    app.command("validate")(validate)


def validate(
    files: Annotated[
        list[Path],
        typer.Argument(
            help="Planer: FHIR Bundle (JSON), Borgerens Plan (JSON/YAML) eller NDJSON "
            "(.ndjson, én plan pr. linje)."
        ),
    ],
    output: Annotated[
        str, typer.Option("--format", help="Rapportens form: text (dansk) eller json.")
    ] = "text",
) -> None:
    """Validér borgerens plan mod FFB og KL's regler for en god plan.

    Afslutter med 0 når alle planer er gyldige, 1 ved fejl og 2 når input ikke kan læses.
    """
    if output not in ("text", "json"):
        _err.print(f"[red]Ukendt format[/red] {escape(output)!r}; brug text eller json")
        raise typer.Exit(2)
    from termserver.api.state import build_snapshot

    snapshot = build_snapshot()
    worst = 0
    for path in files:
        if path.suffix.lower() in (".ndjson", ".jsonl"):
            worst = max(worst, _bulk(path, snapshot, output))
            continue
        report = _one(path, snapshot)
        _emit(report, output)
        worst = max(worst, _exit_code(report))
    raise typer.Exit(worst)


def _one(path: Path, snapshot) -> Report:
    from termserver.plans.inputs import MAX_BYTES, PlanInputError
    from termserver.plans.validate import Report, validate_bytes

    name = str(path)
    try:
        size = path.stat().st_size
        if size > MAX_BYTES:
            return Report(
                name,
                input_error=PlanInputError(
                    name, None, f"filen er {size:,} bytes; højst {MAX_BYTES:,} er tilladt", 413
                ),
            )
        data = path.read_bytes()
    except OSError as exc:
        return Report(
            name, input_error=PlanInputError(name, None, f"kan ikke læse filen: {exc.strerror}")
        )
    return validate_bytes(data, snapshot, name)


def _bulk(path: Path, snapshot, output: str) -> int:
    """Validate an NDJSON file line by line, printing each report as it is ready."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from termserver.plans.inputs import PlanInputError
    from termserver.plans.validate import Report, validate_ndjson

    try:
        total = sum(1 for line in path.open("rb") if line.strip())
        handle = path.open("rb")
    except OSError as exc:
        _emit(
            Report(str(path), input_error=PlanInputError(str(path), None, str(exc.strerror))),
            output,
        )
        return 2
    worst = 0
    counts = {"valid": 0, "invalid": 0, "unreadable": 0}
    progress = Progress(
        TextColumn("[bold]Validerer[/bold] {task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=_err,
        transient=True,
        disable=not _err.is_terminal,
    )
    with handle, progress:
        task = progress.add_task(path.name, total=total)
        for report in validate_ndjson(handle, snapshot, str(path)):
            _emit(report, output)
            code = _exit_code(report)
            worst = max(worst, code)
            counts[("valid", "invalid", "unreadable")[code]] += 1
            progress.advance(task)
    _err.print(
        f"{escape(str(path))}: {counts['valid']} gyldige, {counts['invalid']} med fejl, "
        f"{counts['unreadable']} kunne ikke læses",
        soft_wrap=True,
    )
    return worst


def _emit(report: Report, output: str) -> None:
    from termserver.plans.report import to_json, to_text

    if output == "json":
        sys.stdout.buffer.write(orjson.dumps(to_json(report)) + b"\n")
    else:
        sys.stdout.write(to_text(report))
    sys.stdout.flush()


def _exit_code(report: Report) -> int:
    if not report.readable:
        return 2
    return 0 if report.valid else 1
