"""The ``termserver`` command: import, check, look up and search the vocabulary."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from termserver.errors import SourceError, UnknownConceptError

app = typer.Typer(
    help="termserver: terminologiserver for Fælles Faglige Begreber (FFB).",
    no_args_is_help=True,
    add_completion=False,
)
out = Console(highlight=False)
err = Console(stderr=True, highlight=False)


def _vocab():
    from termserver.content import load_vocabulary

    return load_vocabulary()


def _resolve_system(vocab, system: str | None) -> str | None:
    """Accept a scheme id (``ffb``) or a FHIR system URL."""
    if system is None:
        return None
    if system in vocab.systems():
        return system
    try:
        return vocab.system_of(system)
    except UnknownConceptError:
        err.print(
            f"[red]Ukendt kodesystem[/red] {system!r}. Kendte: "
            + ", ".join(f"{s.scheme} ({s.system})" for s in vocab.schemes())
        )
        raise typer.Exit(2) from None


@app.command("import")
def import_(
    files: Annotated[list[Path], typer.Argument(help="FHIR CodeSystem JSON-filer (R4/R5).")],
    out_dir: Annotated[Path, typer.Option("--out", help="Mappe til Turtle-filerne.")] = Path(
        "ontology/schemes"
    ),
    scheme_id: Annotated[
        str | None, typer.Option(help="Kort id for skemaet (standard: CodeSystem.id).")
    ] = None,
    language: Annotated[
        str, typer.Option(help="Sprog for labels, når CodeSystem.language mangler.")
    ] = "da",
) -> None:
    """Importér FHIR CodeSystems som SKOS-skemaer i Turtle (deterministisk, idempotent)."""
    from termserver.importer import import_codesystem

    if scheme_id and len(files) > 1:
        err.print("[red]--scheme-id kan kun bruges med én fil ad gangen[/red]")
        raise typer.Exit(2)
    failed = 0
    for f in files:
        try:
            r = import_codesystem(f, out_dir, scheme_id=scheme_id, default_language=language)
        except SourceError as exc:
            err.print(f"[red]fejl[/red] {exc}")
            failed += 1
            continue
        state = "skrevet" if r.changed else "uændret"
        out.print(
            f"{r.source} → {r.target} ({r.scheme} {r.version}, {r.concepts} begreber, {state})"
        )
    if failed:
        raise typer.Exit(1)


@app.command()
def check(
    owl: Annotated[
        bool, typer.Option("--owl/--no-owl", help="Kør OWL-reasoneren (HermiT) på ffb-core.ttl.")
    ] = True,
    as_json: Annotated[bool, typer.Option("--json", help="Rapport som JSON.")] = False,
    show_warnings: Annotated[
        bool, typer.Option("--warnings/--no-warnings", help="Vis advarsler enkeltvis.")
    ] = False,
    ontology: Annotated[
        Path | None, typer.Option(help="Ontologimappe (standard: projektets).")
    ] = None,
) -> None:
    """Kvalitetsrapport over alt indhold; afslutter med kode 1 ved fejl."""
    from termserver.qa import run_check

    report = run_check(ontology, owl=owl)
    if as_json:
        json.dump(
            {
                "ok": report.ok,
                "errors": report.errors,
                "warnings": report.warnings,
                "findings": [_finding_dict(f) for f in report.findings],
            },
            sys.stdout,
            ensure_ascii=False,
            indent=2,
        )
        sys.stdout.write("\n")
    else:
        _print_report(report, show_warnings)
    if not report.ok:
        raise typer.Exit(1)


def _finding_dict(f) -> dict:
    return {"rule": f.rule, "severity": f.severity, "where": f.where, "message": f.message}


def _print_report(report, show_warnings: bool) -> None:
    from collections import Counter

    from rich.table import Table  # deferred for start-up time: ``serve`` starts without it

    counts = Counter((f.severity, f.rule) for f in report.findings)
    table = Table(title="Kvalitetsrapport (termserver check)")
    table.add_column("alvor")
    table.add_column("regel")
    table.add_column("antal", justify="right")
    for (severity, rule), n in sorted(counts.items()):
        table.add_row(severity, rule, str(n))
    out.print(table)
    for f in report.findings:
        if f.severity != "warning" or show_warnings:
            out.print(f"{f.severity:11} {f.rule:28} {f.where}: {f.message}")
    verdict = "[green]OK[/green]" if report.ok else "[red]FEJL[/red]"
    out.print(f"{verdict}: {report.errors} fejl, {report.warnings} advarsler")


@app.command()
def lookup(
    code: Annotated[str, typer.Argument(help="Koden, fx en FFB-UUID.")],
    system: Annotated[
        str | None, typer.Option(help="Skema-id (ffb) eller system-URL; standard: alle.")
    ] = None,
    version: Annotated[str | None, typer.Option(help="Udgave; standard: nyeste.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Svar som JSON.")] = False,
) -> None:
    """Slå et begreb op: label, definition, status, sti til toppen, underbegreber, udgaver."""
    vocab = _vocab()
    sys_url = _resolve_system(vocab, system)
    systems = [sys_url] if sys_url else vocab.systems()
    found = []
    for s in systems:
        try:
            c = vocab.get(s, code, version)
        except UnknownConceptError as exc:
            if sys_url:
                err.print(f"[red]{exc}[/red]")
                raise typer.Exit(1) from None
            continue
        if c is not None:
            found.append(c)
    if not found:
        err.print(
            f"[red]Ukendt kode[/red] {code!r}"
            + (f" i {sys_url}" if sys_url else " i alle kodesystemer")
        )
        raise typer.Exit(1)
    if as_json:
        json.dump(
            [_concept_json(vocab, c) for c in found], sys.stdout, ensure_ascii=False, indent=2
        )
        sys.stdout.write("\n")
        return
    for c in found:
        _print_concept(vocab, c)


def _concept_json(vocab, c) -> dict:
    return {
        "iri": c.iri,
        "system": c.system,
        "version": c.version,
        "code": c.code,
        "display": c.display,
        "definition": c.definition,
        "status": c.status,
        "replacedBy": [r.code for r in vocab.replacement(c)],
        "path": [{"code": p.code, "display": p.display} for p in vocab.path_to_top(c)],
        "children": [{"code": k.code, "display": k.display} for k in vocab.children(c)],
        "versions": vocab.versions_of(c.system, c.code),
    }


def _print_concept(vocab, c) -> None:
    rel = vocab.release(c.system, c.version)
    out.print(f"[bold]{c.display.strip()}[/bold]  ({rel.scheme} {c.version}, {c.status})")
    out.print(f"  kode:    {c.code}\n  system:  {c.system}\n  IRI:     {c.iri}")
    if c.definition:
        out.print(f"  definition: {c.definition}")
    path = vocab.path_to_top(c)
    out.print("  sti:     " + " › ".join(p.display.strip() for p in path))
    for r in vocab.replacement(c):
        out.print(f"  erstattet af: {r.display.strip()} ({r.code})")
    kids = vocab.children(c)
    if kids:
        out.print("  underbegreber: " + ", ".join(k.display.strip() for k in kids))
    out.print("  findes i udgaverne: " + ", ".join(vocab.versions_of(c.system, c.code)))


@app.command()
def search(
    query: Annotated[str, typer.Argument(help="Søgetekst; stavefejl tolereres.")],
    system: Annotated[str | None, typer.Option(help="Kun dette skema (id eller URL).")] = None,
    status: Annotated[
        list[str] | None, typer.Option(help="Kun denne status (active, deprecated, retired).")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 10,
) -> None:
    """Søg i labels på dansk (store/små bogstaver, æøå/ae-oe-aa, bøjning, stavefejl)."""
    vocab = _vocab()
    sys_url = _resolve_system(vocab, system)
    hits = vocab.search(query, systems=[sys_url] if sys_url else None, status=status, limit=limit)
    if not hits:
        out.print("Ingen resultater.")
        raise typer.Exit(1)
    from rich.table import Table  # deferred for start-up time: ``serve`` starts without it

    table = Table()
    for col in ("score", "label", "skema", "kode", "status"):
        table.add_column(col, overflow="fold")
    for h in hits:
        c = h.concept
        table.add_row(
            f"{h.score:.2f}", c.display.strip(), vocab.scheme_of(c.system), c.code, c.status
        )
    out.print(table)


@app.command()
def schemes() -> None:
    """Vis alle skemaer og deres udgaver (nyeste først)."""
    vocab = _vocab()
    for s in vocab.schemes():
        versions = ", ".join(v.version for v in vocab.versions(s.system))
        count = sum(1 for _ in vocab.concepts(s.system))
        out.print(f"[bold]{s.scheme}[/bold]  {s.system}")
        out.print(f"  udgaver: {versions}  ({count} begreber i nyeste)")


@app.command()
def subsumes(
    code_a: str,
    code_b: str,
    system: Annotated[str, typer.Option(help="Skema-id eller system-URL.")] = "ffb",
    version: Annotated[str | None, typer.Option()] = None,
) -> None:
    """Test om A omfatter B (FHIR $subsumes): equivalent, subsumes, subsumed-by, not-subsumed."""
    vocab = _vocab()
    try:
        out.print(vocab.subsumes(_resolve_system(vocab, system), code_a, code_b, version))
    except UnknownConceptError as exc:
        err.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from None


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Adresse at lytte på.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port.")] = 8000,
    ontology: Annotated[
        Path | None, typer.Option(help="Ontologimappe (standard: projektets).")
    ] = None,
    workers: Annotated[int, typer.Option(min=1, max=64, help="Antal processer.")] = 1,
    log_level: Annotated[str, typer.Option(help="uvicorns log-niveau.")] = "info",
    data_dir: Annotated[
        Path | None,
        typer.Option(
            envvar="TERMSERVER_DATA",
            help="Datamappe: slår kuratering til (standard: ./termserver-data, hvis den findes).",
        ),
    ] = None,
    rate_limit: Annotated[
        float | None,
        typer.Option(min=0, help="Forespørgsler pr. sekund pr. klient (0: ingen grænse)."),
    ] = None,
    trusted_proxies: Annotated[
        str | None,
        typer.Option(help="Proxyer (IP/net, kommasepareret) hvis X-Forwarded-For troes."),
    ] = None,
    max_body_bytes: Annotated[
        int | None, typer.Option(min=1, help="Største request-body i bytes.")
    ] = None,
    log_format: Annotated[str | None, typer.Option(help="Logformat: json eller text.")] = None,
    fhir_dir: Annotated[
        list[Path] | None,
        typer.Option(help="Mappe med FHIR JSON (CodeSystem, ValueSet, ConceptMap); kan gentages."),
    ] = None,
    fhir_package: Annotated[
        list[Path] | None,
        typer.Option(help="FHIR npm-pakke (.tgz eller udpakket mappe) under /fhir; kan gentages."),
    ] = None,
    fhir_core: Annotated[
        bool,
        typer.Option("--fhir-core", help="Også FHIR's egne kodesystemer og værdisæt på /fhir."),
    ] = False,
) -> None:
    """Start serveren: FHIR-terminologi (/fhir), JSON-API (/api), dokumentation (/docs)."""
    import os

    import uvicorn

    if ontology is not None:
        os.environ["TERMSERVER_ONTOLOGY"] = str(ontology)
    out.print(
        f"termserver på http://{host}:{port}  (FHIR: /fhir, JSON: /api, dokumentation: /docs)"
    )
    if data_dir is None:
        from termserver.curation.config import DEFAULT_DATA_DIR

        # `termserver user add` creates the default data directory (its `current` release
        # pointer is a symlink): curation is then on.
        if (DEFAULT_DATA_DIR / "current").is_symlink():
            data_dir = DEFAULT_DATA_DIR
    if data_dir is not None:
        os.environ["TERMSERVER_DATA"] = str(data_dir)
        out.print(f"kuratering slået til: data i {data_dir} (/kuratering, /api/curation)")
    if fhir_dir:
        from termserver.fhir.overlay import FHIR_DIRS_ENV, load_fhir_dirs

        try:  # checked here so a bad file stops the start with its name, not a traceback
            load_fhir_dirs(fhir_dir)
        except SourceError as exc:
            err.print(f"[red]Kan ikke indlæse FHIR-ressourcer: {exc}[/red]")
            raise typer.Exit(1) from None
        os.environ[FHIR_DIRS_ENV] = os.pathsep.join(str(d.resolve()) for d in fhir_dir)
    from termserver.fhir.packages import FHIR_CORE_ENV, FHIR_PACKAGES_ENV, read_package

    for package in fhir_package or ():
        try:  # an unreadable package stops the start; an unusable resource in it is skipped
            read_package(package)
        except SourceError as exc:
            err.print(f"[red]Kan ikke indlæse FHIR-pakken: {exc}[/red]")
            raise typer.Exit(1) from None
    if fhir_package:
        os.environ[FHIR_PACKAGES_ENV] = os.pathsep.join(str(p.resolve()) for p in fhir_package)
    if fhir_core:
        os.environ[FHIR_CORE_ENV] = "1"
    # Through the environment, so every worker process builds its app with the same limits.
    from termserver import settings as s
    from termserver.api.observability import log_config

    for env, value in (
        (s.RATE_LIMIT_ENV, rate_limit),
        (s.TRUSTED_PROXIES_ENV, trusted_proxies),
        (s.MAX_BODY_ENV, max_body_bytes),
        (s.LOG_FORMAT_ENV, log_format),
    ):
        if value is not None:
            os.environ[env] = str(value)
    try:
        settings = s.Settings.from_env()
    except s.SettingsError as exc:
        err.print(f"[red]fejl i indstillingerne[/red] {exc}")
        raise typer.Exit(2) from None
    uvicorn.run(
        "termserver.curation.server:create_server_app" if data_dir else "termserver.api.main:app",
        factory=data_dir is not None,
        host=host,
        port=port,
        workers=workers,
        log_level=log_level,
        log_config=log_config(log_level, settings.log_format),
        access_log=False,
        # uvicorn trusts X-Forwarded-For from 127.0.0.1 unless told otherwise: one list for both.
        forwarded_allow_ips=",".join(str(net) for net in settings.trusted_proxies),
    )


@app.command("import-local-tools")
def import_local_tools(
    yaml_file: Annotated[
        Path,
        typer.Argument(help="Forskningsnoterne om lokale redskaber (local_tools.yaml)."),
    ] = Path("data/local-tools/local_tools.yaml"),
    out_dir: Annotated[Path, typer.Option("--out", help="Mappe til Turtle-filerne.")] = Path(
        "ontology/schemes"
    ),
) -> None:
    """Importér lokale redskaber (VUM 1.0, SEL § 50, Barnets lov, ICS, Forandringskompasset)."""
    from termserver.loading.local_tools import import_local_tools as run

    try:
        results = run(yaml_file, out_dir)
    except SourceError as exc:
        err.print(f"[red]fejl[/red] {exc}")
        raise typer.Exit(1) from None
    for r in results:
        state = "skrevet" if r.changed else "uændret"
        out.print(
            f"{r.source} → {r.target} ({r.scheme} {r.version}, {r.concepts} begreber, {state})"
        )


@app.command("import-mappings")
def import_mappings(
    yaml_file: Annotated[
        Path,
        typer.Argument(help="Forskningsnoterne om lokale redskaber (local_tools.yaml)."),
    ] = Path("data/local-tools/local_tools.yaml"),
    out_dir: Annotated[Path, typer.Option("--out", help="Mappe til mapping-filerne.")] = Path(
        "mappings"
    ),
    force: Annotated[
        bool, typer.Option("--force", help="Overskriv også filer, der er rettet i hånden.")
    ] = False,
) -> None:
    """Lav mapping-filer (YAML) ud fra local_tools.yaml, én gang; derefter rettes de i hånden."""
    from termserver.loading.local_tool_mappings import (
        mapping_sets_from_local_tools,
        write_mapping_sets,
    )
    from termserver.mappings import SCHEMA_FILE, write_json_schema

    try:
        sets = mapping_sets_from_local_tools(yaml_file, _vocab())
    except SourceError as exc:
        err.print(f"[red]fejl[/red] {exc}")
        raise typer.Exit(1) from None
    states = {"written": "skrevet", "unchanged": "uændret", "kept": "rettet i hånden, bevaret"}
    kept = False
    for r in write_mapping_sets(sets, out_dir, force=force):
        kept = kept or r.state == "kept"
        out.print(f"{r.path} ({r.rows} rækker, {r.proposed} kun foreslået, {states[r.state]})")
    schema = out_dir / SCHEMA_FILE
    out.print(f"{schema} ({'skrevet' if write_json_schema(schema) else 'uændret'})")
    if kept:
        err.print("Brug --force for at overskrive filer, der afviger fra local_tools.yaml.")


@app.command()
def translate(
    system: Annotated[str, typer.Argument(help="Skema-id (vum-1) eller system-URL.")],
    code: Annotated[str, typer.Argument(help="Koden, der skal oversættes.")],
    to: Annotated[
        str | None, typer.Option("--to", help="Kun resultater i dette skema (id eller URL).")
    ] = None,
    reverse: Annotated[
        bool, typer.Option("--reverse", help="Baglæns: koden er mål i mappingerne.")
    ] = False,
    as_of: Annotated[
        str | None,
        typer.Option("--as-of", help="Dato (ÅÅÅÅ-MM-DD): kun mappinger og skemaer gyldige da."),
    ] = None,
    max_steps: Annotated[
        int, typer.Option("--max-steps", min=1, max=4, help="Højst så mange led (via FFB).")
    ] = 2,
    all_paths: Annotated[
        bool, typer.Option("--all-paths", help="Vis alle veje, ikke kun den bedste pr. mål.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Svar som JSON.")] = False,
) -> None:
    """Oversæt en kode via mappingerne: direkte, baglæns eller i kæde gennem FFB."""
    from datetime import date

    from rich.markup import escape

    from termserver.mappings import short_name
    from termserver.translate import Translator

    day = None
    if as_of is not None:
        try:
            day = date.fromisoformat(as_of)
        except ValueError:
            err.print(f"[red]Ugyldig dato[/red] {as_of!r} (brug ÅÅÅÅ-MM-DD)")
            raise typer.Exit(2) from None
    vocab = _vocab()
    try:
        translator = Translator.from_directory(vocab)
        results = translator.translate(
            system,
            code,
            target_system=to,
            reverse=reverse,
            as_of=day,
            max_steps=max_steps,
            all_paths=all_paths,
        )
    except SourceError as exc:
        err.print(f"[red]fejl i mapping-fil[/red] {exc}")
        raise typer.Exit(1) from None
    except UnknownConceptError as exc:
        err.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from None
    if as_json:
        json.dump([t.to_dict() for t in results], sys.stdout, ensure_ascii=False, indent=2)
        sys.stdout.write("\n")
        return
    if not results:
        hint = "" if reverse else " (prøv --reverse, hvis koden er mål i mappingerne)"
        out.print(f"Ingen oversættelser{hint}.")
        raise typer.Exit(1)
    status = {True: "[yellow]foreslået[/yellow]", False: "[green]publiceret[/green]"}
    for t in results:
        conf = "ikke angivet" if t.confidence is None else f"{t.confidence:.1f}"
        out.print(
            f"[bold]{short_name(t.relation)}[/bold]  {escape(t.display or t.code)}  "
            f"({escape(t.scheme or t.system)} {escape(t.code)})  {status[t.proposed]}, "
            f"sikkerhed {conf}"
        )
        for i, s in enumerate(t.path, 1):
            m = s.mapping
            arrow = short_name(s.relation) + (" (baglæns)" if s.inverted else "")
            who = f"{m.status}, {m.author}, {m.date.isoformat()}"
            if m.source:
                who += f", kilde: {m.source}"
            if m.confidence is not None:
                who += f", sikkerhed {m.confidence:.1f}"
            step = f"{s.start_label} ({s.start[1]}) —{arrow}→ {s.end_label} ({s.end[1]})"
            out.print(f"    {i}. {escape(step)}")
            out.print(f"       {escape(f'{s.set_id}.yaml linje {m.line}: {who}')}")
            if m.reason:
                out.print(f"       begrundelse: {escape(m.reason)}")


from termserver.cli_diff import register as _register_diff  # noqa: E402

_register_diff(app)

from termserver.cli_mappings import register as _register_mappings  # noqa: E402

_register_mappings(app)

from termserver.cli_curation import register as _register_curation  # noqa: E402

_register_curation(app)

from termserver.cli_plans import register as _register_plans  # noqa: E402

_register_plans(app)

if __name__ == "__main__":
    app()
