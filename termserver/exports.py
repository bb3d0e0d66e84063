"""Exports of a release: Turtle, JSON-LD, FHIR JSON, SSSOM/TSV, CSV and XLSX.

A release is either one scheme version or the snapshot (the newest release of every scheme).
Each format is one writer function registered in :data:`EXPORTERS`; the RDF and FHIR writers
reuse the serialisers the server itself answers with (``rdf_scheme``, ``fhir.resources``,
``fhir.valueset_ops``, ``fhir.conceptmap_ops``, ``sssom``), so an export and a live answer
never differ.

CSV and XLSX are for methodology staff working in spreadsheets: one row per concept, and every
cell that a spreadsheet would run as a formula (starting with ``= + - @``, tab or carriage
return) gets a leading apostrophe.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from termserver.errors import TermserverError
from termserver.fhir.conceptmap_ops import conceptmap_resource
from termserver.fhir.resources import codesystem_id, codesystem_resource
from termserver.fhir.valueset_ops import valueset_resource
from termserver.importer import atomic_write
from termserver.mappings import MappingSet
from termserver.model import Concept, SchemeRelease, SchemeVersion, language_matches
from termserver.rdf_scheme import release_to_graph, write_turtle
from termserver.valuesets import ValueSetDef
from termserver.vocabulary import Vocabulary

#: Columns of the CSV and XLSX exports, in order.
COLUMNS = (
    "system",
    "version",
    "code",
    "display_da",
    "display_en",
    "definition",
    "parents",
    "parent_displays",
    "status",
    "replaced_by",
)
#: Separator inside a cell holding several codes or labels.
LIST_SEPARATOR = "; "
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_SHEET_FORBIDDEN = str.maketrans({c: "_" for c in "[]:*?/\\"})


class ExportError(TermserverError):
    """An export that cannot be made (unknown format, output path that is not a folder)."""


@dataclass(frozen=True)
class ExportContent:
    """What an export reads: the vocabulary, which releases, and the definitions around them."""

    vocab: Vocabulary
    releases: tuple[SchemeVersion, ...]
    valuesets: tuple[ValueSetDef, ...] = ()
    mapping_sets: tuple[MappingSet, ...] = ()
    #: True when the whole snapshot is exported (then every value set and mapping set goes out).
    whole_snapshot: bool = field(default=False)

    def release(self, meta: SchemeVersion) -> SchemeRelease:
        return SchemeRelease(meta, tuple(self.vocab.concepts(meta.system, meta.version)))


def select_content(
    vocab: Vocabulary,
    *,
    scheme: str | None = None,
    version: str | None = None,
    valuesets: Iterable[ValueSetDef] = (),
    mapping_sets: Iterable[MappingSet] = (),
) -> ExportContent:
    """One scheme release (``scheme`` as id or system URL, ``version`` default newest) or, with
    no scheme, the newest release of every scheme. Raises ``UnknownConceptError`` for an unknown
    scheme or version, naming the ones held."""
    if scheme is None:
        if version is not None:
            raise ExportError("--version kræver --scheme (en udgave hører til ét skema)")
        releases = tuple(vocab.schemes())
    else:
        system = scheme if scheme in vocab.systems() else vocab.system_of(scheme)
        releases = (vocab.release(system, version),)
    return ExportContent(
        vocab=vocab,
        releases=releases,
        valuesets=tuple(valuesets),
        mapping_sets=tuple(mapping_sets),
        whole_snapshot=scheme is None,
    )


# --- the writers ------------------------------------------------------------------------------


def _stem(meta: SchemeVersion) -> str:
    return f"{meta.scheme}-{meta.version}"


def export_turtle(content: ExportContent, out_dir: Path) -> list[Path]:
    """One Turtle file per release, in the same form as ``ontology/schemes``."""
    paths = []
    for meta in content.releases:
        paths.append(_write(out_dir / f"{_stem(meta)}.ttl", write_turtle(content.release(meta))))
    return paths


def export_jsonld(content: ExportContent, out_dir: Path) -> list[Path]:
    """One JSON-LD file per release: the same triples as the Turtle export."""
    paths = []
    for meta in content.releases:
        graph = release_to_graph(content.release(meta))
        data = graph.serialize(format="json-ld", encoding="utf-8", indent=1)
        paths.append(_write(out_dir / f"{_stem(meta)}.jsonld", data))
    return paths


def export_fhir(content: ExportContent, out_dir: Path) -> list[Path]:
    """FHIR R4 JSON: a CodeSystem per release, the ValueSets that draw on the exported systems
    and the ConceptMaps of the mapping sets that touch them (everything, for the snapshot)."""
    systems = {m.system for m in content.releases}
    by_url = {vs.url: vs for vs in content.valuesets}
    paths = []
    for meta in content.releases:
        res = codesystem_resource(content.vocab, meta)
        paths.append(_write_json(out_dir / f"CodeSystem-{codesystem_id(meta)}.json", res))
    for vs in content.valuesets:
        if content.whole_snapshot or systems & _valueset_systems(vs, by_url):
            res = valueset_resource(vs)
            paths.append(_write_json(out_dir / f"ValueSet-{res['id']}.json", res))
    for ms in content.mapping_sets:
        if content.whole_snapshot or systems & {ms.subject_system, ms.object_system}:
            res = conceptmap_resource(ms, content.vocab)
            paths.append(_write_json(out_dir / f"ConceptMap-{res['id']}.json", res))
    return paths


def export_csv(content: ExportContent, out_dir: Path) -> list[Path]:
    """One CSV file per release (UTF-8 with BOM, so spreadsheet programs read æøå right)."""
    paths = []
    for meta in content.releases:
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\r\n")
        writer.writerow(COLUMNS)
        writer.writerows(concept_rows(content.vocab, meta))
        paths.append(_write(out_dir / f"{_stem(meta)}.csv", buf.getvalue().encode("utf-8-sig")))
    return paths


def export_xlsx(content: ExportContent, out_dir: Path) -> list[Path]:
    """One workbook, a sheet per scheme, frozen header row and an autofilter on every sheet."""
    from openpyxl import Workbook
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    wb = Workbook()
    wb.remove(wb.active)
    wb.properties.creator = "termserver"
    wb.properties.title = "Begreber"
    used: set[str] = set()
    widths = {"code": 38, "display_da": 40, "display_en": 30, "definition": 80, "parents": 38}
    for meta in content.releases:
        ws = wb.create_sheet(_sheet_title(meta, used))
        ws.append(list(COLUMNS))
        for cell in ws[1]:
            cell.font = Font(bold=True)
        for row in concept_rows(content.vocab, meta):
            ws.append(row)
            # openpyxl reads a leading "=" as a formula; the row is already neutralised, but the
            # type is pinned to string as well so nothing in a cell is ever evaluated.
            for cell in ws[ws.max_row]:
                if isinstance(cell.value, str):
                    cell.data_type = "s"
        ws.freeze_panes = "A2"
        last = get_column_letter(len(COLUMNS))
        ws.auto_filter.ref = f"A1:{last}{ws.max_row}"
        for i, name in enumerate(COLUMNS, 1):
            ws.column_dimensions[get_column_letter(i)].width = widths.get(name, 18)
    single = len(content.releases) == 1
    name = f"{_stem(content.releases[0])}.xlsx" if single else "begreber.xlsx"
    buf = io.BytesIO()
    wb.save(buf)
    return [_write(out_dir / name, buf.getvalue())]


def export_sssom(content: ExportContent, out_dir: Path) -> list[Path]:
    """SSSOM/TSV, one file per mapping set touching the exported schemes, written by
    :func:`termserver.sssom.export_sssom` (the one SSSOM writer)."""
    from termserver.sssom import export_sssom as sssom_text
    from termserver.sssom import sssom_file_name

    systems = {m.system for m in content.releases}
    paths = []
    for ms in content.mapping_sets:
        if content.whole_snapshot or systems & {ms.subject_system, ms.object_system}:
            data = sssom_text(ms, content.vocab).encode("utf-8")
            paths.append(_write(out_dir / sssom_file_name(ms.id), data))
    return paths


Exporter = Callable[[ExportContent, Path], list[Path]]

#: Export formats by name: the one table the CLI, the API and the release workflow use.
EXPORTERS: dict[str, Exporter] = {
    "ttl": export_turtle,
    "jsonld": export_jsonld,
    "fhir": export_fhir,
    "csv": export_csv,
    "xlsx": export_xlsx,
    "sssom": export_sssom,
}


def export(content: ExportContent, fmt: str, out_dir: str | Path) -> list[Path]:
    """Write ``content`` in format ``fmt`` under ``out_dir`` (created if missing); return the
    files written. Each file is written atomically, so a failed export leaves no half file."""
    writer = EXPORTERS.get(fmt)
    if writer is None:
        raise ExportError(f"ukendt format {fmt!r}; kendte: {', '.join(EXPORTERS)}")
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise ExportError(f"{out} findes og er ikke en mappe")
    created = not out.exists()
    out.mkdir(parents=True, exist_ok=True)
    try:
        return writer(content, out)
    except ExportError:
        if created and not any(out.iterdir()):
            out.rmdir()  # leave no empty folder behind a refused export
        raise


# --- rows ---------------------------------------------------------------------------------------


def concept_rows(vocab: Vocabulary, meta: SchemeVersion) -> list[list[str]]:
    """One row per concept of a release, in :data:`COLUMNS` order, safe against formula
    injection."""
    concepts = {c.code: c for c in vocab.concepts(meta.system, meta.version)}
    rows = []
    for c in concepts.values():
        parents = [concepts[p] for p in c.parents if p in concepts]
        row = [
            c.system,
            c.version,
            c.code,
            _label(c, "da") or "",
            _label(c, "en") or "",
            c.definition or "",
            LIST_SEPARATOR.join(c.parents),
            LIST_SEPARATOR.join(p.display for p in parents),
            c.status,
            LIST_SEPARATOR.join(c.replaced_by),
        ]
        rows.append([safe_cell(v) for v in row])
    return rows


def safe_cell(value: str) -> str:
    """The value with a leading apostrophe if a spreadsheet would take it for a formula."""
    return "'" + value if value.startswith(_FORMULA_START) else value


def _label(c: Concept, language: str) -> str | None:
    """The label in exactly this language, or None (no fallback to another language)."""
    if language_matches(c.language, language):
        return c.display
    for d in c.designations:
        if d.language and d.use_code is None and language_matches(d.language, language):
            return d.value
    return None


def _sheet_title(meta: SchemeVersion, used: set[str]) -> str:
    # Excel allows 31 characters and no []:*?/\ in a sheet name.
    title = meta.scheme.translate(_SHEET_FORBIDDEN)[:31]
    if title in used:
        title = f"{meta.scheme}-{meta.version}".translate(_SHEET_FORBIDDEN)[:31]
    n = 2
    base = title
    while title in used:
        suffix = f"~{n}"
        title = base[: 31 - len(suffix)] + suffix
        n += 1
    used.add(title)
    return title


def _valueset_systems(
    vs: ValueSetDef, by_url: dict[str, ValueSetDef], seen: frozenset[str] = frozenset()
) -> set[str]:
    """The code systems a value set draws on, through its imports (KLConditionCodes imports the
    FFB and FSIII sets and names no system itself)."""
    systems: set[str] = set()
    for key in ("include", "exclude"):
        for part in vs.compose.get(key, ()) or ():
            if not isinstance(part, dict):
                continue
            if isinstance(part.get("system"), str):
                systems.add(part["system"])
            for canonical in part.get("valueSet", ()) or ():
                url = str(canonical).partition("|")[0]
                if url in by_url and url not in seen:
                    systems |= _valueset_systems(by_url[url], by_url, seen | {vs.url})
    return systems


def _write(path: Path, data: bytes) -> Path:
    atomic_write(path, data)
    return path


def _write_json(path: Path, doc: dict[str, Any]) -> Path:
    data = json.dumps(doc, ensure_ascii=False, indent=2).encode("utf-8") + b"\n"
    return _write(path, data)
