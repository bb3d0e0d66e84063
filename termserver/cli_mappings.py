"""CLI commands for mapping sets: SSSOM export and import, and the coverage report.

Registered on the main ``termserver`` app by :func:`register`, so this module owns its commands
without growing ``cli.py``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from termserver.errors import SourceError, UnknownConceptError

out = Console(highlight=False)
err = Console(stderr=True, highlight=False)


def _vocab():
    from termserver.content import load_vocabulary

    return load_vocabulary()


def _load_sets():
    from termserver.mappings import MappingFileError, load_mapping_sets

    try:
        return load_mapping_sets()
    except MappingFileError as exc:
        for p in exc.problems:
            err.print(f"[red]fejl[/red] {escape(str(p))}")
        raise typer.Exit(1) from None


def export_sssom_command(
    sets: Annotated[
        list[str] | None, typer.Argument(help="Mapping-sæt (id, fx vum-1--ffb); standard: alle.")
    ] = None,
    out_dir: Annotated[Path, typer.Option("--out", help="Mappe til SSSOM-filerne.")] = Path(
        "sssom"
    ),
) -> None:
    """Eksportér mapping-sæt som SSSOM/TSV (med metadatablok), én fil pr. sæt."""
    from termserver.sssom import export_sssom, sssom_file_name

    vocab = _vocab()
    available = {ms.id: ms for ms in _load_sets()}
    wanted = sets or sorted(available)
    unknown = [s for s in wanted if s not in available]
    if unknown:
        err.print(
            f"[red]Ukendt mapping-sæt[/red] {', '.join(unknown)}. Kendte: "
            + ", ".join(sorted(available))
        )
        raise typer.Exit(2)
    out_dir.mkdir(parents=True, exist_ok=True)
    for set_id in wanted:
        ms = available[set_id]
        try:
            text = export_sssom(ms, vocab)
        except SourceError as exc:
            err.print(f"[red]fejl[/red] {escape(str(exc))}")
            raise typer.Exit(1) from None
        target = out_dir / sssom_file_name(set_id)
        target.write_text(text, encoding="utf-8")
        out.print(f"{escape(str(target))} ({len(ms.mappings)} rækker)")


def import_sssom_command(
    file: Annotated[Path, typer.Argument(help="SSSOM/TSV-fil.")],
    set_id: Annotated[
        str, typer.Option("--id", help="Id for mapping-sættet (filnavn uden .yaml).")
    ],
    out_dir: Annotated[Path, typer.Option("--out", help="Mappe til mapping-filen.")] = Path(
        "mappings"
    ),
    force: Annotated[
        bool, typer.Option("--force", help="Overskriv en eksisterende mapping-fil.")
    ] = False,
) -> None:
    """Importér SSSOM/TSV som et mapping-sæt (YAML); alle fejl vises med linje og kolonne."""
    from termserver.mappings import MappingFileError, check_mapping_set, mapping_set_yaml
    from termserver.sssom import read_sssom

    target = out_dir / f"{set_id}.yaml"
    if target.exists() and not force:
        err.print(
            f"[red]{escape(str(target))} findes allerede[/red]; brug --force for at overskrive"
        )
        raise typer.Exit(1)
    try:
        raw = file.read_bytes()
    except OSError as exc:
        err.print(f"[red]Kan ikke læse[/red] {escape(str(file))}: {exc.strerror}")
        raise typer.Exit(1) from None
    vocab = _vocab()
    try:
        ms = read_sssom(raw, file.name, vocab, set_id=set_id)
    except MappingFileError as exc:
        for p in exc.problems:
            err.print(f"[red]fejl[/red] {escape(str(p))}")
        raise typer.Exit(1) from None
    except SourceError as exc:
        err.print(f"[red]fejl[/red] {escape(str(exc))}")
        raise typer.Exit(1) from None
    problems = check_mapping_set(ms, vocab)
    for p in problems:
        colour = "red" if p.severity == "error" else "yellow"
        label = "fejl" if p.severity == "error" else "advarsel"
        err.print(f"[{colour}]{label}[/{colour}] {escape(str(p))}")
    if any(p.severity == "error" for p in problems):
        err.print("Intet skrevet: ret fejlene i SSSOM-filen først.")
        raise typer.Exit(1)
    out_dir.mkdir(parents=True, exist_ok=True)
    header = (
        f"Imported from SSSOM ({file.name}) by `termserver import-sssom`; edit by hand from here.\n"
        "Rows read 'subject <predicate> object'. status: published = stated in a published "
        "source; proposed = a person's judgement."
    )
    target.write_text(mapping_set_yaml(ms, header), encoding="utf-8")
    proposed = ms.proposed_count
    out.print(
        f"{escape(str(target))} ({len(ms.mappings)} rækker, {proposed} kun foreslået, "
        f"{ms.subject_scheme} → {ms.object_scheme})"
    )


def coverage_command(
    tool: Annotated[
        str | None,
        typer.Argument(help="Skema-id for et redskab (fx vum-1); standard: alle lokale redskaber."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Rapport som JSON.")] = False,
) -> None:
    """Dækning pr. lokalt redskab: hvilke punkter er mappet, hvor stærkt, og hvilke ikke."""
    from termserver.mapping_qa import coverage

    vocab = _vocab()
    sets = _load_sets()
    if tool is not None:
        try:
            vocab.system_of(tool)
        except UnknownConceptError:
            err.print(
                f"[red]Ukendt skema[/red] {escape(tool)}. Kendte: "
                + ", ".join(s.scheme for s in vocab.schemes())
            )
            raise typer.Exit(2) from None
    report = coverage(sets, vocab, [tool] if tool else None)
    if as_json:
        json.dump([c.to_dict() for c in report], sys.stdout, ensure_ascii=False, indent=2)
        sys.stdout.write("\n")
        return
    status = {"published": "[green]publiceret[/green]", "proposed": "[yellow]foreslået[/yellow]"}
    for c in report:
        rel = ", ".join(f"{k} {v}" for k, v in c.by_best_relation().items()) or "ingen"
        out.print(
            f"[bold]{escape(c.title)}[/bold] ({c.scheme}): {len(c.mapped)} af {len(c.items)} "
            f"punkter mappet — {c.published} publiceret, {len(c.mapped) - c.published} kun "
            f"foreslået; bedste relation: {rel}"
        )
        for item in c.mapped:
            best = item.best
            assert best is not None
            conf = "ikke angivet" if best.confidence is None else f"{best.confidence:.1f}"
            more = f" (+{len(item.targets) - 1} flere)" if len(item.targets) > 1 else ""
            out.print(
                f"  {best.relation.partition(':')[2]:12} {escape(item.label)} ({escape(item.code)})"
                f" → {escape(best.label)} ({escape(best.scheme or best.system)}), "
                f"{status[best.status]}, sikkerhed {conf}{more}"
            )
        if c.unmapped:
            out.print("  [red]ikke mappet:[/red]")
            for item in c.unmapped:
                out.print(f"    {escape(item.code)}  {escape(item.label)}")
        for s in c.scales:
            out.print(f"  skala {escape(s.label)}: {escape(s.note)}")
        out.print("")


def register(app: typer.Typer) -> None:
    """Add ``export-sssom``, ``import-sssom`` and ``coverage`` to the ``termserver`` app."""
    app.command("export-sssom")(export_sssom_command)
    app.command("import-sssom")(import_sssom_command)
    app.command("coverage")(coverage_command)
