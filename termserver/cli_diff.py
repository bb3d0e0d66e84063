"""``termserver diff`` and ``termserver export``: compare releases and write them out.

Registered on the main CLI by :func:`register`, so this module stays beside ``cli.py`` rather
than inside it.
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

_out = Console(highlight=False)
_err = Console(stderr=True, highlight=False)

_DIFF_FORMATS = ("text", "json", "markdown")

OntologyOpt = Annotated[Path | None, typer.Option(help="Ontologimappe (standard: projektets).")]
MappingsOpt = Annotated[Path | None, typer.Option(help="Mapping-mappe (standard: projektets).")]


def _snapshot(ontology: Path | None, mappings: Path | None):
    from termserver.api.state import build_snapshot

    try:
        return build_snapshot(ontology, mappings)
    except SourceError as exc:
        _err.print(f"[red]fejl[/red] {escape(str(exc))}")
        raise typer.Exit(1) from None


def diff(
    release_a: Annotated[
        str,
        typer.Argument(help="Den ældre udgave: ffb@20200908, ffb|20200908 eller system|udgave."),
    ],
    release_b: Annotated[str, typer.Argument(help="Den nyere udgave, fx ffb@20240530.")],
    fmt: Annotated[
        str, typer.Option("--format", help="Uddata: text, json eller markdown (changelog).")
    ] = "text",
    with_impact: Annotated[
        bool,
        typer.Option(
            "--impact", help="Vis også mappinger og værdisæt, der bruger de ændrede begreber."
        ),
    ] = False,
    full: Annotated[
        bool, typer.Option("--full", help="Markdown: vis definitioner i fuld længde.")
    ] = False,
    plans: Annotated[
        Path | None,
        typer.Option(
            "--plans",
            help="Med --impact: en mappe med gemte planer (FHIR Bundle eller Borgerens Plan).",
        ),
    ] = None,
    ontology: OntologyOpt = None,
    mappings: MappingsOpt = None,
) -> None:
    """Sammenlign to udgaver af et kodesystem: nye, udfasede, omdøbte, omdefinerede, flyttede."""
    from termserver.diff import (
        changelog_markdown,
        changelog_text,
        diff_versions,
        impact,
        parse_release_ref,
    )

    if fmt not in _DIFF_FORMATS:
        _err.print(f"[red]Ukendt format[/red] {fmt!r}; brug {', '.join(_DIFF_FORMATS)}")
        raise typer.Exit(2)
    snap = _snapshot(ontology, mappings)
    vocab = snap.vocab
    try:
        system_a, version_a = parse_release_ref(vocab, release_a)
        system_b, version_b = parse_release_ref(vocab, release_b)
    except UnknownConceptError as exc:
        _err.print(f"[red]Ukendt udgave[/red]: {escape(str(exc))}")
        raise typer.Exit(2) from None
    if system_a != system_b:
        _err.print(
            f"[red]To forskellige kodesystemer[/red]: {escape(system_a)} og {escape(system_b)}; "
            "diff sammenligner udgaver af ét kodesystem"
        )
        raise typer.Exit(2)
    result = diff_versions(vocab, system_a, version_a, vocab, version_b)
    if plans is not None and not with_impact:
        _err.print("[red]--plans kræver --impact[/red]")
        raise typer.Exit(2)
    stored: list = []
    if plans is not None:
        from termserver.plans.plan_files import plans_in

        if not plans.is_dir():
            _err.print(f"[red]Ikke en mappe[/red]: {escape(str(plans))}")
            raise typer.Exit(2)
        stored, unreadable = plans_in(plans)
        for problem in unreadable:
            _err.print(f"[yellow]springer over[/yellow] {escape(str(problem))}")
    found = None
    if with_impact:
        found = impact(
            result,
            mapping_sets=snap.translator.mapping_sets,
            valuesets=snap.valuesets,
            plans=stored,
        )
    if fmt == "json":
        from termserver.diff import as_release_diff

        doc = as_release_diff(result).to_dict()
        if found is not None:
            doc["impact"] = found.to_dict()
        json.dump(doc, sys.stdout, ensure_ascii=False, indent=2)
        sys.stdout.write("\n")
    elif fmt == "markdown":
        sys.stdout.write(changelog_markdown(result, impact=found, max_chars=0 if full else 240))
    else:
        sys.stdout.write(changelog_text(result, impact=found))


def export(
    fmt: Annotated[str, typer.Option("--format", help="ttl, jsonld, fhir, csv, xlsx eller sssom.")],
    out_dir: Annotated[Path, typer.Option("--out", help="Mappe, filerne skrives i.")],
    scheme: Annotated[
        str | None, typer.Option(help="Kun dette skema (id eller system-URL); standard: alle.")
    ] = None,
    version: Annotated[
        str | None, typer.Option(help="Skemaets udgave (kræver --scheme); standard: nyeste.")
    ] = None,
    ontology: OntologyOpt = None,
    mappings: MappingsOpt = None,
) -> None:
    """Eksportér en udgave (ét skema eller alle skemaers nyeste) som filer."""
    from termserver.exports import EXPORTERS, ExportError, export, select_content

    if fmt not in EXPORTERS:
        _err.print(f"[red]Ukendt format[/red] {fmt!r}; brug {', '.join(EXPORTERS)}")
        raise typer.Exit(2)
    snap = _snapshot(ontology, mappings)
    try:
        content = select_content(
            snap.vocab,
            scheme=scheme,
            version=version,
            valuesets=snap.valuesets.definitions(),
            mapping_sets=snap.translator.mapping_sets,
        )
        paths = export(content, fmt, out_dir)
    except (UnknownConceptError, ExportError) as exc:
        _err.print(f"[red]fejl[/red] {escape(str(exc))}")
        raise typer.Exit(2) from None
    for p in paths:
        _out.print(escape(str(p)))
    _out.print(f"{len(paths)} filer skrevet i {escape(str(out_dir))}")


def register(app: typer.Typer) -> None:
    """Add ``diff`` and ``export`` to the main ``termserver`` command."""
    app.command("diff")(diff)
    app.command("export")(export)
