"""The Danish changelog of a diff, as Markdown or plain text."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from termserver.diff.compare import as_release_diff
from termserver.diff.impact import Impact
from termserver.diff.records import (
    ADDED,
    CLASS_TITLES_DA,
    CLASSES,
    MAPPING_TITLES_DA,
    MOVED,
    PREFERRED,
    PROPERTY,
    REACTIVATED,
    REDEFINED,
    RELABELLED,
    REMOVED,
    RETIRED,
    ConceptChange,
    MappingDiff,
    Ref,
    ReleaseDiff,
    SchemeDiff,
    _count_codes,
    _jsonable,
)
from termserver.mappings import short_name

# --- changelog ----------------------------------------------------------------------------------

_KIND_VERBS_DA = {
    "active": "aktiv",
    "deprecated": "frarådet",
    "retired": "udgået",
}


def changelog_markdown(
    diff: SchemeDiff | ReleaseDiff, *, impact: Impact | None = None, max_chars: int = 240
) -> str:
    """A Danish changelog in Markdown: a summary table, then every change by class.

    Long definitions are cut at ``max_chars`` (0: never cut); whitespace-only label changes are
    listed apart from real renames.
    """
    rd = as_release_diff(diff)
    lines = [f"# Ændringer fra {rd.label_a} til {rd.label_b}", ""]
    changed = rd.changed_schemes()
    if not changed and rd.mappings.empty and not rd.schemes_added and not rd.schemes_removed:
        lines.append("Ingen ændringer.")
        return "\n".join(lines) + "\n"
    for label, items in (
        ("Nye skemaer", rd.schemes_added),
        ("Fjernede skemaer", rd.schemes_removed),
    ):
        if items:
            lines += [f"**{label}:** " + ", ".join(f"`{i}`" for i in items), ""]
    for sd in changed:
        lines += _scheme_markdown(sd, max_chars)
    if not rd.mappings.empty:
        lines += _mappings_markdown(rd.mappings)
    if impact is not None:
        lines += _impact_markdown(impact)
    return "\n".join(lines).rstrip() + "\n"


def _scheme_markdown(sd: SchemeDiff, max_chars: int) -> list[str]:
    counts = sd.counts()
    out = [
        f"## {sd.scheme} {sd.version_a} → {sd.version_b}",
        "",
        f"{sd.concepts_a} → {sd.concepts_b} begreber (`{sd.system}`).",
        "",
        "| ændring | antal begreber |",
        "|---|---:|",
    ]
    out += [f"| {CLASS_TITLES_DA[k]} | {counts[k]} |" for k in CLASSES if counts[k]]
    out.append("")
    for key, (a, b) in sd.metadata.items():
        out.append(f"- Skemaets `{key}`: {_md(a)} → {_md(b)}")
    if sd.metadata:
        out.append("")
    for kind in CLASSES:
        items = sd.of_kind(kind)
        if not items:
            continue
        out += [f"### {CLASS_TITLES_DA[kind]} ({counts[kind]})", ""]
        if kind == RELABELLED:
            real = [c for c in items if not c.whitespace_only]
            ws = [c for c in items if c.whitespace_only]
            out += [_line(c, max_chars) for c in real]
            if ws:
                if real:
                    out.append("")
                out.append(f"Kun mellemrum rettet ({len(ws)}):")
                out.append("")
                out += [f"- {_name(c)}: {_mdq(c.before)} → {_mdq(c.after)}" for c in ws]
        else:
            out += [_line(c, max_chars) for c in items]
        out.append("")
    return out


def _line(c: ConceptChange, max_chars: int) -> str:
    name = _name(c)
    if c.kind == ADDED:
        return f"- {name}"
    if c.kind == REMOVED:
        return f"- {name} (var {_KIND_VERBS_DA.get(c.before, c.before)})"
    if c.kind in (RETIRED, REACTIVATED):
        text = (
            f"- {name}: {_KIND_VERBS_DA.get(c.before, c.before)} → "
            f"{_KIND_VERBS_DA.get(c.after, c.after)}"
        )
        if c.replaced_by:
            text += "; erstattet af " + _refs(c.replaced_by)
        return text
    if c.kind == RELABELLED:
        what = "betegnelse" if c.label_type == PREFERRED else "alternative betegnelser"
        return f"- {name} [{c.language}, {what}]: {_mdq(c.before)} → {_mdq(c.after)}"
    if c.kind == REDEFINED:
        if c.before is None:
            return f"- {name}: definition tilføjet: {_mdq(_cut(c.after, max_chars))}"
        if c.after is None:
            return f"- {name}: definition fjernet (var {_mdq(_cut(c.before, max_chars))})"
        return (
            f"- {name}:  \n  før: {_mdq(_cut(c.before, max_chars))}  \n"
            f"  nu: {_mdq(_cut(c.after, max_chars))}"
        )
    if c.kind == MOVED:
        return f"- {name}: under {_refs(c.before)} → under {_refs(c.after)}"
    return f"- {name} `{c.property}`: {_mdq(c.before)} → {_mdq(c.after)}"


def _mappings_markdown(md: MappingDiff) -> list[str]:
    counts = md.counts()
    out = ["## Mappinger", ""]
    if md.sets_added:
        out.append("Nye mapping-sæt: " + ", ".join(f"`{s}`" for s in md.sets_added))
    if md.sets_removed:
        out.append("Fjernede mapping-sæt: " + ", ".join(f"`{s}`" for s in md.sets_removed))
    for kind, title in MAPPING_TITLES_DA.items():
        items = md.of_kind(kind)
        if not items:
            continue
        out += ["", f"### {title} ({counts[kind]})", ""]
        for c in items:
            row = c.after or c.before
            subject = row.subject_label or c.subject_code
            obj = row.object_label or c.object_code
            text = (
                f"- `{c.set_id}`: {_md(subject)} (`{c.subject_code}`) "
                f"{short_name(row.predicate)} {_md(obj)} (`{c.object_code}`), {row.status}"
            )
            if c.fields:
                text += "; " + ", ".join(
                    f"{k}: {_mdq(_jsonable(a))} → {_mdq(_jsonable(b))}"
                    for k, (a, b) in c.fields.items()
                )
            out.append(text)
    out.append("")
    return out


def _impact_markdown(imp: Impact) -> list[str]:
    out = ["## Konsekvenser", ""]
    if not (imp.mappings or imp.valuesets or imp.plans):
        return [*out, "Ingen mappinger, værdisæt eller planer bruger de ændrede begreber.", ""]
    if imp.mappings:
        out += [f"### Mappinger, der bruger ændrede begreber ({len(imp.mappings)})", ""]
        for m in imp.mappings:
            ends = "; ".join(
                f"`{code}` ({', '.join(_DA_KIND[k] for k in kinds)})"
                for (_, code), kinds in m.changed.items()
            )
            out.append(f"- `{m.set_id}` linje {m.mapping.line}: {ends}")
        out.append("")
    if imp.valuesets:
        out += [f"### Værdisæt ({len(imp.valuesets)})", ""]
        for v in imp.valuesets:
            parts = []
            if v.referenced:
                parts.append(f"definitionen nævner {len(v.referenced)} ændrede begreber")
            if v.members_changed:
                parts.append(f"{len(v.members_changed)} ændrede medlemmer")
            if v.members_added:
                parts.append(f"{len(v.members_added)} nye medlemmer")
            if v.members_removed:
                parts.append(f"{len(v.members_removed)} medlemmer færre")
            if v.errors:
                parts.append("kan ikke udfoldes: " + "; ".join(v.errors))
            out.append(f"- {v.name} (`{v.url}`): " + ", ".join(parts))
        out.append("")
    if imp.plans:
        out += [f"### Planer ({len(imp.plans)})", ""]
        for p in imp.plans:
            out.append(f"- {p.plan_id}: " + ", ".join(f"`{c}`" for c in p.codes))
        out.append("")
    return out


_DA_KIND = {
    ADDED: "ny",
    REMOVED: "fjernet",
    RETIRED: "udfaset",
    REACTIVATED: "genaktiveret",
    RELABELLED: "ny betegnelse",
    REDEFINED: "ny definition",
    MOVED: "flyttet",
    PROPERTY: "ændret egenskab",
}


def changelog_text(diff: SchemeDiff | ReleaseDiff, *, impact: Impact | None = None) -> str:
    """A short plain-text overview for a terminal: counts per class and one line per change."""
    rd = as_release_diff(diff)
    lines = [f"Ændringer fra {rd.label_a} til {rd.label_b}"]
    for sd in rd.changed_schemes():
        counts = sd.counts()
        lines.append(
            f"{sd.scheme} {sd.version_a} → {sd.version_b}: "
            f"{sd.concepts_a} → {sd.concepts_b} begreber"
        )
        for kind in CLASSES:
            if counts[kind]:
                lines.append(f"  {CLASS_TITLES_DA[kind]}: {counts[kind]}")
        ws = _count_codes(sd, RELABELLED, whitespace_only=True)
        if ws:
            lines.append(f"    heraf kun mellemrum rettet i betegnelsen: {ws}")
        for c in sd.changes:
            lines.append(f"    {_DA_KIND[c.kind]:16} {c.code}  {_short(c)}")
    for s in rd.schemes_added:
        lines.append(f"Nyt skema: {s}")
    for s in rd.schemes_removed:
        lines.append(f"Fjernet skema: {s}")
    if not rd.mappings.empty:
        counts = rd.mappings.counts()
        lines.append(
            "Mappinger: "
            + ", ".join(f"{MAPPING_TITLES_DA[k].lower()} {n}" for k, n in counts.items())
        )
        for c in rd.mappings.changes:
            lines.append(f"    {c.kind:8} {c.set_id}: {c.subject_code} → {c.object_code}")
    if len(lines) == 1:
        lines.append("Ingen ændringer.")
    if impact is not None:
        lines.append(
            f"Konsekvenser: {len(impact.mappings)} mappinger, {len(impact.valuesets)} værdisæt, "
            f"{len(impact.plans)} planer"
        )
        for v in impact.valuesets:
            lines.append(f"    værdisæt {v.name}")
        for m in impact.mappings:
            lines.append(f"    mapping {m.set_id} linje {m.mapping.line}")
        for p in impact.plans:
            lines.append(f"    plan {p.plan_id}: {len(p.codes)} ændrede begreber")
    return "\n".join(lines) + "\n"


def _short(c: ConceptChange) -> str:
    if c.kind == RELABELLED:
        return f"{_quote(c.before)} → {_quote(c.after)}"
    if c.kind == MOVED:
        return f"{c.display.strip()}: {_refs(c.before)} → {_refs(c.after)}"
    if c.kind in (RETIRED, REACTIVATED):
        return f"{c.display.strip()}: {c.before} → {c.after}"
    return c.display.strip()


def _name(c: ConceptChange) -> str:
    return f"**{_md(c.display.strip())}** (`{c.code}`)"


def _refs(refs: Sequence[Ref] | None) -> str:
    if not refs:
        return "(top)"
    return ", ".join(f"{r.display} (`{r.code}`)" for r in refs)


def _quote(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, tuple | list):
        return "[" + ", ".join(_quote(v) for v in value) + "]"
    return "«" + str(value).replace("\n", " ") + "»"


def _mdq(value: Any) -> str:
    return _md(_quote(value))


def _cut(text: str | None, max_chars: int) -> str | None:
    if text is None or not max_chars or len(text) <= max_chars:
        return text
    return text[: max_chars - 1].rstrip() + "…"


def _md(value: Any) -> str:
    """Markdown-safe inline text: labels come from official sources and may hold ``*`` or ``|``."""
    text = str(value)
    return re.sub(r"([\\`*_\[\]|<>])", r"\\\1", text)
