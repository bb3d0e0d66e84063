"""Turn the mapping entries of ``local_tools.yaml`` into mapping-set YAML files, once.

The research notes carry a ``mappings`` list per item (and a ``mapping`` per scale value): an
FFB code, a SKOS relation read "local item <relation> FFB concept", a status, a reason and
sometimes a confidence word. This module writes one mapping set per tool to ``mappings/``
(``vum-1--ffb.yaml`` ...). After that the files are the source of truth that methodology staff
edit, so :func:`write_mapping_sets` refuses to overwrite a file that differs from what it would
write unless asked to.

Subjects are resolved through the vocabulary snapshot only (never the scheme importer's
internals): an item code ``vum1:egenomsorg`` is the code ``egenomsorg`` of the scheme in
:data:`TOOL_SCHEMES`, a scale value is ``<scale slug>-<value>`` (``samlet-vurdering-a``), and an
official code (VUM 2.0, FSIII) is the code itself. A code the snapshot does not hold is an error.

What is left out, and why:
- VUM 2.0 has no scheme of its own: its items *are* FFB concepts, so its set maps FFB to FFB
  (``vum-2--ffb``, every row ``published``, as the notes say). It records the sourced statement;
  translation skips a concept mapped to itself.
- ``ics_v1`` (ICS DUBU 2008) has no mappings in the notes; no empty set is written.
- Forandringskompas scales (1-10) have no mapping in the notes and get none here: a compass
  score is progression, not FFB funktionsevneniveau (DOMAIN.md §6). Dimensions map to FFB.
- ``ffb_icf_crosswalk_proposed`` targets ICF, which this server does not hold, and uses code
  ranges (``d410-d429``) that are not codes; it stays in the notes.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import yaml

from termserver.errors import SourceError
from termserver.mappings import (
    CONFIDENCE_WORDS,
    MANUAL_CURATION,
    PREDICATES,
    PUBLISHED,
    STATUSES,
    Mapping,
    MappingSet,
    mapping_set_yaml,
)

FFB_SYSTEM = "urn:oid:1.2.208.176.2.22"
FSIII_SYSTEM = "urn:oid:1.2.208.176.2.21"
#: Local tool id in the notes → (scheme id of its subjects, YAML code prefix, title).
TOOL_SCHEMES: dict[str, tuple[str, str | None, str]] = {
    "vum1": ("vum-1", "vum1", "VUM 1.0 → FFB"),
    "vum2": ("ffb", None, "VUM 2.0 → FFB (VUM 2.0 bruger FFB-begreberne)"),
    "sel50": ("sel-50", "sel50", "Servicelovens § 50 → FFB"),
    "ics": ("ics", "ics", "ICS-trekanten (2018) → FFB"),
    "ics_v1": ("ics-dubu", "icsv1", "ICS-trekanten (DUBU 2008) → FFB"),
    "fk_misbrug": ("forandringskompas-misbrug", "fkm", "Forandringskompas, misbrug → FFB"),
    "fk_plejetilbud": (
        "forandringskompas-plejetilbud",
        "fkp",
        "Forandringskompas, plejetilbud for udsatte → FFB",
    ),
    "fsiii": ("fsiii", None, "FSIII → FFB (label-identiske tilstande og funktionsevneskala)"),
}
RESEARCH_AUTHOR = "termserver research notes, DOMAIN.md"
LICENSE = "MIT (as the termserver repository)"
_HEADER = (
    "Mapping set generated once from data/local-tools/local_tools.yaml by\n"
    "`termserver import-mappings`; from now on this file is the source: edit it by hand.\n"
    "Rows read 'subject <predicate> object' (broadMatch = the FFB concept is broader).\n"
    "status: published = stated in a published source; proposed = a person's judgement.\n"
    "Format: mapping-set.schema.json (checked on load)."
)


@dataclass(frozen=True)
class WriteResult:
    """What :func:`write_mapping_sets` did with one set."""

    set_id: str
    path: Path
    rows: int
    proposed: int
    state: str  # written | unchanged | kept (differs; not overwritten)


def mapping_sets_from_local_tools(yaml_path: str | Path, vocab=None) -> list[MappingSet]:
    """One :class:`MappingSet` per tool with mappings; codes are checked against ``vocab``.

    ``vocab`` defaults to the repository's snapshot (:func:`termserver.content.load_vocabulary`).
    """
    if vocab is None:
        from termserver.content import load_vocabulary

        vocab = load_vocabulary()
    path = Path(yaml_path)
    name = path.name
    try:
        notes = yaml.safe_load(path.read_text("utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise SourceError(name, None, f"cannot read the notes: {exc}") from exc
    if not isinstance(notes, dict) or not isinstance(notes.get("tools"), list):
        raise SourceError(name, "tools", "expected a mapping with a 'tools' list")
    meta = notes.get("meta") or {}
    made = _date(meta.get("generated"), name, "meta.generated")
    sets = []
    for t, tool in enumerate(notes["tools"]):
        where = f"tools[{t}]"
        if not isinstance(tool, dict):
            raise SourceError(name, where, "a tool must be a mapping")
        if tool.get("id") not in TOOL_SCHEMES:
            if _has_mappings(tool):
                raise SourceError(name, where, f"tool {tool.get('id')!r} has mappings: add it")
            continue  # compass variants known by title only: no items, nothing to map
        rows = list(_rows(tool, vocab, made, name, where))
        if not rows:
            continue
        scheme, _prefix, title = TOOL_SCHEMES[tool["id"]]
        subject_system = FFB_SYSTEM if scheme == "ffb" else vocab.system_of(scheme)
        sets.append(
            MappingSet(
                id=f"{'vum-2' if tool['id'] == 'vum2' else scheme}--ffb",
                title=title,
                subject_system=subject_system,
                object_system=FFB_SYSTEM,
                mappings=tuple(rows),
                subject_scheme=scheme,
                object_scheme="ffb",
                description=_description(tool),
                license=LICENSE,
                creators=(RESEARCH_AUTHOR,),
                version=made.isoformat(),
            )
        )
    return sets


def _has_mappings(tool: dict) -> bool:
    items = tool.get("items") or []
    values = (tool.get("scale") or {}).get("values") or []
    return any(i.get("mappings") for i in items) or any(v.get("mapping") for v in values)


def _description(tool: dict) -> str:
    parts = [f"{tool.get('name')}."]
    if tool.get("version"):
        parts.append(f"Udgave: {tool['version']}.")
    if tool.get("source"):
        parts.append(f"Kilde: {tool['source']}.")
    if tool["id"] == "vum2":
        parts.append(
            "VUM 2.0 har intet eget skema: dens temaer og undertemaer er FFB-begreberne selv, så "
            "hver række er et FFB-begreb = sig selv, publiceret af Socialstyrelsen/KL."
        )
    return " ".join(parts)


def _rows(tool: dict, vocab, made: date, name: str, where: str):
    scheme, prefix, _title = TOOL_SCHEMES[tool["id"]]
    system = FFB_SYSTEM if scheme == "ffb" else vocab.system_of(scheme)
    for i, item in enumerate(tool.get("items") or []):
        iwhere = f"{where}.items[{i}]"
        code = str(item.get("code"))
        if not item.get("official_code"):
            got, _, slug = code.partition(":")
            if got != prefix:
                raise SourceError(name, f"{iwhere}.code", f"expected prefix {prefix!r}: {code}")
            code = slug
        for k, entry in enumerate(item.get("mappings") or []):
            yield _row(
                tool,
                system,
                code,
                item.get("label"),
                entry,
                vocab,
                made,
                name,
                f"{iwhere}.mappings[{k}]",
                comment=item.get("note"),
            )
    scale = tool.get("scale")
    if isinstance(scale, dict):
        slug = str(scale.get("id", "")).partition(":")[2] or str(scale.get("id", ""))
        slug = slug if slug[:1].isalpha() else f"skala-{slug}"
        for v, value in enumerate(scale.get("values") or []):
            entry = value.get("mapping") if isinstance(value, dict) else None
            if not entry:
                continue
            vwhere = f"{where}.scale.values[{v}]"
            code = value.get("fsiii_code") or f"{slug}-{str(value.get('value')).lower()}"
            yield _row(tool, system, code, value.get("label"), entry, vocab, made, name, vwhere)


def _row(
    tool: dict,
    system: str,
    code: str,
    label: str | None,
    entry: Any,
    vocab,
    made: date,
    name: str,
    where: str,
    comment: str | None = None,
) -> Mapping:
    if not isinstance(entry, dict):
        raise SourceError(name, where, "a mapping entry must be a mapping")
    subject = vocab.get(system, code)
    if subject is None:
        raise SourceError(name, where, f"{code!r} is not a code of {system} in the snapshot")
    target = vocab.get(FFB_SYSTEM, str(entry.get("ffb_code")))
    if target is None:
        raise SourceError(name, f"{where}.ffb_code", f"unknown FFB code {entry.get('ffb_code')!r}")
    predicate = f"skos:{entry.get('relation')}"
    if predicate not in PREDICATES:
        raise SourceError(name, f"{where}.relation", f"not a SKOS relation: {entry['relation']!r}")
    status = entry.get("status")
    if status not in STATUSES:
        raise SourceError(name, f"{where}.status", f"status must be one of {STATUSES}")
    word = entry.get("confidence")
    if word is not None and word not in CONFIDENCE_WORDS:
        raise SourceError(name, f"{where}.confidence", f"unknown confidence word {word!r}")
    published = status == PUBLISHED
    return Mapping(
        subject_system=system,
        subject_code=code,
        predicate=predicate,
        object_system=FFB_SYSTEM,
        object_code=target.code,
        status=status,
        # A published row names who published it; a proposed one the research that proposed it.
        author=str(tool.get("publisher")) if published else RESEARCH_AUTHOR,
        date=made,
        justification=MANUAL_CURATION,
        source=_first_source(tool) if published else None,
        confidence=CONFIDENCE_WORDS[word] if word else None,
        confidence_word=word,
        reason=entry.get("reason"),
        comment=comment,
        subject_label=subject.display.strip() or label,
        object_label=target.display.strip(),
    )


def _first_source(tool: dict) -> str:
    """The tool's first cited source (the notes separate several with ';')."""
    text = str(tool.get("source") or "").strip()
    return text.split(" ; ")[0].strip() if text else "local_tools.yaml"


def _date(value: Any, name: str, where: str) -> date:
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise SourceError(name, where, f"not a date: {value!r}") from None


def write_mapping_sets(
    sets: list[MappingSet], out_dir: str | Path, *, force: bool = False
) -> list[WriteResult]:
    """Write each set to ``<out_dir>/<id>.yaml``; keep a hand-edited file unless ``force``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    results = []
    for ms in sets:
        target = out / f"{ms.id}.yaml"
        text = mapping_set_yaml(ms, _HEADER)
        if target.exists() and target.read_text("utf-8") == text:
            state = "unchanged"
        elif target.exists() and not force:
            state = "kept"
        else:
            tmp = target.with_suffix(".yaml.tmp")
            tmp.write_text(text, encoding="utf-8")
            os.replace(tmp, target)
            state = "written"
        results.append(WriteResult(ms.id, target, len(ms.mappings), ms.proposed_count, state))
    return results
