"""Read the local-tools research notes (``local_tools.yaml``) into one SKOS scheme per tool.

The YAML is compiled research (see ``data/local-tools/SOURCES.md``), not a code system anyone
publishes, so every scheme here gets a project IRI as its system URL
(``https://w3id.org/ffb-termserver/<scheme>``) and says that the project assigned its codes.

Scheme split. One scheme per tool whose items the YAML sources: ``vum-1``, ``sel-50``,
``barnets-lov`` (built from ``sel50.successor``), ``ics``, ``ics-dubu`` (the older DUBU-era
triangle: other sides and dimensions, so its own scheme, not a release of ``ics``),
``forandringskompas-misbrug`` and ``forandringskompas-plejetilbud``. Compass variants whose
dimensions were not retrieved (``items: []``) become nothing: an empty scheme would present an
unsourced list as if it existed.

VUM 2.0 has no scheme. The YAML lists its items as the FFB concepts themselves (official FFB
codes, each a *published* exactMatch to itself), so a consultant codes a VUM 2.0 udredning with
FFB (``urn:oid:1.2.208.176.2.22``). A ``vum-2`` copy of 81 FFB codes under a second system
would invite two codings for one thing; instead the reader checks that the YAML still says
"VUM 2.0 = FFB" (it fails if a VUM 2.0 item is not an FFB code) and ``vum-1`` points to FFB.
The ``fsiii`` entry is a cross-reference to KL's own FSIII code system, which is imported from
FHIR (``fsiii-20240530``), so it gets no scheme either. Mappings are not read here at all.

Codes. A YAML code ``prefix:slug`` becomes the concept code ``slug``; the prefix must be the
tool's (``vum1``, ``sel50``, ``ics``, ``icsv1``, ``fkm``, ``fkp``). An ``official_code: true``
item keeps its code as is. Concepts the YAML does not list as items get codes built the same way:
a scale is its stripped id (``samlet-vurdering``; ``skala-`` in front when that would start
with a digit, ``fk:1-10`` → ``skala-1-10``), a scale value is ``<scale>-<value>``
(``samlet-vurdering-a``, ``skala-1-10-7``), a grouping concept is a plain word (``temaer``).
Every such code is marked ``code_assigned``. Hierarchy: grouping concepts hold top-level items
where the tool has several kinds of item (VUM 1.0 themes and target groups; compass dimensions),
a scale holds its values, ICS sides hold their dimensions, and §§ 18/22 of Barnets lov hold the
screening outcomes and the three areas a børnefaglig undersøgelse covers.

Versions. The version id is the date of the edition the YAML's ``version`` text names, as ISO
``YYYY``, ``YYYY-MM`` or ``YYYY-MM-DD`` (``udateret`` for an undated guide); it is written in
:data:`_RULES` beside the words it is read from, and reading fails if those words are no longer in
the YAML, so a changed source cannot silently keep an old version id.

Labels. Each concept has a ``labelStatus`` property: ``sourced`` (label as in the cited source),
``uncertain`` (the YAML's ``label_status`` says it was inferred; the note says so too) or
``assigned`` (worded by this project: grouping concepts, scale steps, paragraph headings).

Errors are :class:`SourceError` with the file name and a path such as
``tools[3].items[2].label (line 57)``.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from termserver import iris
from termserver.errors import SourceError
from termserver.importer import ImportResult, atomic_write, scheme_file_name
from termserver.model import Concept, PropertyDef, PropertyValue, SchemeRelease, SchemeVersion
from termserver.rdf_scheme import write_turtle

_SLUG = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
_PROPERTY_DEFS = {
    "kind": PropertyDef(
        "kind", "string", description="Slags punkt i redskabet (theme, dimension, side, ...)."
    ),
    "labelStatus": PropertyDef(
        "labelStatus",
        "code",
        description="sourced: label fra kilden; uncertain: label udledt, ikke fundet i en kilde; "
        "assigned: label formuleret af termserver.",
    ),
    "numeric": PropertyDef("numeric", "integer", description="Skalaværdien som heltal."),
    "value": PropertyDef("value", "string", description="Skalaværdien, som redskabet skriver den."),
}
_ASSIGNED_CODES = (
    "Redskabet har ingen officielle koder: koderne er tildelt af termserver ud fra "
    "forskningsnoterne local_tools.yaml (se data/local-tools/SOURCES.md)."
)


@dataclass(frozen=True)
class _Rule:
    """How one YAML tool becomes a scheme: the decisions the YAML cannot make for us."""

    scheme: str
    prefix: str  # the prefix of the tool's item codes in the YAML
    version: str
    evidence: str  # the words in the YAML version text that ``version`` is read from
    remark: str
    title: str | None = None
    content: str = "complete"
    valid_from: str | None = None
    valid_to: str | None = None
    groups: tuple[tuple[str, str, str], ...] = ()  # (kind starts with, code, label)
    scale_label: str | None = None


_DIMENSIONS = (("dimension", "dimensioner", "Dimensioner"),)
_COMPASS_REMARK = (
    "Skala 1-10 pr. dimension; trinbeskrivelserne og fasernes navne er ikke fundet. "
    "Værdien er ikke et FFB-funktionsevneniveau og må ikke omregnes til det."
)
_RULES = {
    "vum1": _Rule(
        "vum-1",
        "vum1",
        "2012-01",
        "2. udg. januar 2012",
        "Afløst af VUM 2.0 (2020), hvis temaer og undertemaer er FFB-begreberne selv: VUM 2.0 "
        "har derfor intet eget skema her, brug FFB (urn:oid:1.2.208.176.2.22).",
        title="Voksenudredningsmetoden (VUM) 1.0",
        content="fragment",  # sub-themes not found; "ti temaer" vs eight unresolved
        groups=(
            ("theme", "temaer", "Temaer"),
            ("target group", "maalgrupper", "Målgrupper"),
        ),
        scale_label="Samlet vurdering (A-E)",
    ),
    "sel50": _Rule(
        "sel-50",
        "sel50",
        "2023-12-31",
        "31.12.2023",
        "Gældende til 31.12.2023; afløst af Barnets lov fra 1.1.2024 (skemaet barnets-lov).",
        valid_to="2023-12-31",
    ),
    "ics": _Rule(
        "ics",
        "ics",
        "2018",
        "2018",
        "Den ældre ICS-trekant fra DUBU-æraen er skemaet ics-dubu.",
    ),
    "ics_v1": _Rule(
        "ics-dubu",
        "icsv1",
        "2008",
        "1. udg. 2008",
        "Afløst af den reviderede ICS-trekant (skemaet ics). Udgaven er håndbogens 1. udgave "
        "(2008); hvilken udgave listen stammer fra, er usikkert.",
        content="fragment",  # may lack dimensions of the UK original
    ),
    "fk_misbrug": _Rule(
        "forandringskompas-misbrug",
        "fkm",
        "udateret",
        "undated",
        _COMPASS_REMARK,
        groups=_DIMENSIONS,
        scale_label="Skala 1-10",
    ),
    "fk_plejetilbud": _Rule(
        "forandringskompas-plejetilbud",
        "fkp",
        "2014-01",
        "januar 2014",
        _COMPASS_REMARK,
        groups=_DIMENSIONS,
        scale_label="Skala 1-10",
    ),
}
_BARNETS_LOV = _Rule(
    "barnets-lov",
    "",
    "2025-03-17",
    "17/03/2025",
    "Efterfølger for servicelovens § 50. Gyldig fra 1.1.2024 ifølge opgavebeskrivelsen; lovens "
    "ikrafttrædelsesbestemmelse er ikke læst. Paragraffernes labels er termservers korte "
    "overskrifter, ikke lovens ordlyd.",
    title="Barnets lov §§ 18-22: screening, afdækning og børnefaglig undersøgelse",
    valid_from="2024-01-01",
)
# Barnets lov §§ 18-22 as DOMAIN.md §4 summarises them from lovguiden.dk (LBK nr 282 af
# 17/03/2025). The YAML names the sections only in running text (``sel50.successor.sections``), so
# they are written out here, and reading checks that the YAML still names exactly these sections.
# Headings and screening outcomes are our wording ("assigned"); the § 22 areas are the law's words.
_SECTIONS: dict[int, tuple[str, str | None]] = {
    18: (
        "Screening",
        "Kommunen screener og vurderer, om problemet kræver ingen yderligere afdækning, en "
        "afdækning af et eller flere forhold (§ 19) eller en børnefaglig undersøgelse (§§ 20-22); "
        "der lægges vægt på sagens forhold og kompleksitet, herunder nedsat funktionsevne.",
    ),
    19: ("Afdækning", "Afdækning af afgrænsede forhold."),
    20: (
        "Børnefaglig undersøgelse: hvornår",
        "Hvornår kommunen skal træffe afgørelse om en børnefaglig undersøgelse (bl.a. alvorlig "
        "eller kompleks sag, overgreb eller mistanke herom); 4-måneders frist, med en foreløbig "
        "vurdering hvis fristen overskrides.",
    ),
    21: ("Søskende", None),
    22: (
        "Børnefaglig undersøgelse: indhold",
        "Undersøgelsen tilrettelægges ud fra en helhedsbetragtning og skal afdække udfordringer "
        "og ressourcer hos barnet eller den unge, familien og netværket, og munde ud i en "
        "begrundet stillingtagen til støtte efter §§ 32, 46 eller 47. De seks forhold fra SEL "
        "§ 50 står ikke i § 22 (som vist på lovguiden.dk); om vejledningen stadig anbefaler dem, "
        "er ikke afklaret.",
    ),
}
# (section, code, label, kind) of the concepts under a section.
_SECTION_PARTS = (
    (18, "screening-ingen-afdaekning", "Ingen yderligere afdækning", "screening outcome"),
    (18, "screening-afdaekning", "Afdækning af et eller flere forhold (§ 19)", "screening outcome"),
    (18, "screening-bfu", "Børnefaglig undersøgelse (§§ 20-22)", "screening outcome"),
    (22, "bfu-barnet-eller-den-unge", "Barnet eller den unge", "assessment area"),
    (22, "bfu-familien", "Familien", "assessment area"),
    (22, "bfu-netvaerket", "Netværket", "assessment area"),
)
# Tools deliberately left without a scheme, and why (see the module docstring).
_NOT_SCHEMES = {"vum2", "fsiii"}


def read_local_tools(path: str | Path) -> list[SchemeRelease]:
    """Read ``local_tools.yaml`` into one release per sourced tool, sorted by scheme id.

    Raises :class:`SourceError` naming the file and the place for malformed YAML, a missing or
    mistyped field, or a tool the module has no rule for.
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise SourceError(path.name, None, f"cannot read file: {exc.strerror}") from exc
    return _Reader(path.name, raw).read()


def import_local_tools(path: str | Path, out_dir: str | Path) -> list[ImportResult]:
    """Write one Turtle file per scheme into ``out_dir``; files that would not change are kept."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    results = []
    for release in read_local_tools(path):
        s = release.scheme
        data = write_turtle(release)
        target = out / scheme_file_name(s.scheme, s.version)
        changed = not target.exists() or target.read_bytes() != data
        if changed:
            atomic_write(target, data)
        results.append(
            ImportResult(str(path), target, s.scheme, s.version, len(release.concepts), changed)
        )
    return results


class _Reader:
    def __init__(self, source: str, raw: bytes) -> None:
        self.source = source
        self.raw = raw
        self.sha256 = hashlib.sha256(raw).hexdigest()

    # --- checked access, with errors that point into the file ------------------------------

    def fail(self, path: tuple, message: str) -> SourceError:
        return SourceError(self.source, self._location(path), message)

    def _location(self, path: tuple) -> str:
        dotted = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path).lstrip(".")
        # Line numbers come from a second, node-level parse, done only when there is an error.
        node = yaml.compose(self.raw, Loader=yaml.SafeLoader)
        for step in path:
            if isinstance(node, yaml.MappingNode):
                nxt = next((v for k, v in node.value if k.value == step), None)
            elif isinstance(node, yaml.SequenceNode) and isinstance(step, int):
                nxt = node.value[step] if step < len(node.value) else None
            else:
                nxt = None
            if nxt is None:
                break  # a missing key: point at the mapping that lacks it
            node = nxt
        return f"{dotted or '$'} (line {node.start_mark.line + 1})"

    def mapping(self, value: Any, path: tuple) -> dict:
        if not isinstance(value, dict):
            raise self.fail(path, f"must be a mapping, got {_kind(value)}")
        return value

    def seq(self, obj: dict, key: str, path: tuple) -> list:
        value = obj.get(key, [])
        if not isinstance(value, list):
            raise self.fail((*path, key), f"must be a list, got {_kind(value)}")
        return value

    def text(self, obj: dict, key: str, path: tuple, *, required: bool = True) -> str | None:
        value = obj.get(key)
        if value is None:
            if required:
                raise self.fail((*path, key), "required field is missing")
            return None
        if not isinstance(value, str):
            raise self.fail((*path, key), f"must be text, got {_kind(value)}")
        if not value.strip():
            raise self.fail((*path, key), "must not be empty")
        return value.strip()

    # --- the document ---------------------------------------------------------------------

    def read(self) -> list[SchemeRelease]:
        try:
            doc = yaml.safe_load(self.raw)
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else None
            raise SourceError(self.source, where, f"invalid YAML: {exc.problem}") from exc
        except yaml.YAMLError as exc:
            raise SourceError(self.source, None, f"invalid YAML: {exc}") from exc
        doc = self.mapping(doc, ())
        releases = []
        seen: set[str] = set()
        for i, tool in enumerate(self.seq(doc, "tools", ())):
            path = ("tools", i)
            tool = self.mapping(tool, path)
            tid = self.text(tool, "id", path)
            if tid in seen:
                raise self.fail((*path, "id"), f"tool {tid!r} occurs twice")
            seen.add(tid)
            items = self.seq(tool, "items", path)
            if tid == "vum2":
                self.check_vum2_is_ffb(items, path)
            if tid in _NOT_SCHEMES:
                continue
            rule = _RULES.get(tid)
            if rule is None:
                if not items:
                    continue  # a tool known by title only: nothing sourced to present
                raise self.fail((*path, "id"), f"no scheme rule for tool {tid!r}; add one")
            if not items:
                raise self.fail((*path, "items"), f"tool {tid!r} lists no items")
            releases.append(self.tool_release(tool, rule, path))
            if "successor" in tool:
                if tid != "sel50":
                    raise self.fail((*path, "successor"), "only sel50 has a known successor")
                releases.append(self.barnets_lov(tool, path))
        return sorted(releases, key=lambda r: r.scheme.scheme)

    def check_vum2_is_ffb(self, items: list, path: tuple) -> None:
        # The reason VUM 2.0 has no scheme of its own; if the notes ever disagree, stop.
        for j, item in enumerate(items):
            ipath = (*path, "items", j)
            item = self.mapping(item, ipath)
            code = self.text(item, "code", ipath)
            same = any(
                isinstance(m, dict)
                and m.get("ffb_code") == code
                and m.get("relation") == "exactMatch"
                and m.get("status") == "published"
                for m in item.get("mappings") or []
            )
            if item.get("official_code") is not True or not same:
                raise self.fail(
                    ipath, "VUM 2.0 item is not an FFB concept; VUM 2.0 would need its own scheme"
                )

    # --- one tool -------------------------------------------------------------------------

    def tool_release(self, tool: dict, rule: _Rule, path: tuple) -> SchemeRelease:
        version_text = self.text(tool, "version", path)
        if rule.evidence not in version_text:
            raise self.fail(
                (*path, "version"),
                f"version id {rule.version!r} is read from {rule.evidence!r}, which the version "
                "text no longer contains; update the rule",
            )
        name = self.text(tool, "name", path)
        sources = _split_sources(self.text(tool, "source", path))
        references = set(sources)
        for k, other in enumerate(self.seq(tool, "other_sources", path)):
            if not isinstance(other, str) or not other.strip():
                raise self.fail((*path, "other_sources", k), "must be non-empty text")
            references.add(other.strip())
        builder = _Builder(rule)
        items = self.seq(tool, "items", path)
        # All codes first: a parent may be listed after its child.
        codes = [
            self.item_code(self.mapping(it, (*path, "items", j)), rule, (*path, "items", j))
            for j, it in enumerate(items)
        ]
        group_used: set[str] = set()
        for j, item in enumerate(items):
            ipath = (*path, "items", j)
            code = codes[j]
            kind = self.text(item, "kind", ipath)
            official = item.get("official_code")
            if not isinstance(official, bool):
                raise self.fail((*ipath, "official_code"), "must be true or false")
            parent = self.text(item, "parent", ipath, required=False)
            if parent is not None:
                parent = _strip_prefix(parent, rule.prefix)
                if parent not in codes:
                    raise self.fail((*ipath, "parent"), f"parent {parent!r} is not an item")
                parents = (parent,)
            elif rule.groups:
                group = next((g for g in rule.groups if kind.startswith(g[0])), None)
                if group is None:
                    raise self.fail((*ipath, "kind"), f"no group for kind {kind!r}")
                group_used.add(group[1])
                parents = (group[1],)
            else:
                parents = ()
            label_status = self.text(item, "label_status", ipath, required=False)
            status = self.label_status(label_status, (*ipath, "label_status"))
            note = _join(
                f"Usikker label, ikke fundet i kilden: {label_status}"
                if status == "uncertain"
                else None,
                self.text(item, "note", ipath, required=False),
            )
            if code in builder.concepts:
                raise self.fail((*ipath, "code"), f"code {code!r} occurs twice")
            builder.add(
                code,
                self.text(item, "label", ipath),
                parents=parents,
                sources=sources,
                note=note,
                code_assigned=not official,
                kind=kind,
                label_status=status,
            )
        for kind_prefix, gcode, glabel in rule.groups:
            if gcode in group_used:
                builder.add(
                    gcode,
                    glabel,
                    sources=sources,
                    note=f"Grupperingsbegreb oprettet af termserver for punkter af slagsen "
                    f"'{kind_prefix}'; ikke et selvstændigt begreb i redskabet.",
                    kind="group",
                    label_status="assigned",
                    not_selectable=True,
                )
        scale = tool.get("scale")
        if scale is not None:
            references.update(
                self.scale(
                    builder, self.mapping(scale, (*path, "scale")), sources, (*path, "scale")
                )
            )
        description = _join(
            f"{name}. Udgave: {version_text}.",
            _ASSIGNED_CODES,
            rule.remark,
            self.text(tool, "note", path, required=False),
            *(f"Usikkert: {u}" for u in self.seq(tool, "uncertain", path)),
        )
        return builder.release(
            self, rule.title or name, description, self.text(tool, "publisher", path), references
        )

    def item_code(self, item: dict, rule: _Rule, ipath: tuple) -> str:
        code = self.text(item, "code", ipath)
        if item.get("official_code") is True:
            return code  # an official code of the tool is kept exactly
        prefix, sep, slug = code.partition(":")
        if not sep or prefix != rule.prefix:
            raise self.fail((*ipath, "code"), f"expected '{rule.prefix}:<slug>', got {code!r}")
        if not _SLUG.fullmatch(slug):
            raise self.fail((*ipath, "code"), f"{slug!r} is not a lowercase slug (a-z, 0-9, -)")
        return slug

    def label_status(self, text: str | None, path: tuple) -> str:
        if text is None or text.lower().startswith("sourced"):
            return "sourced"
        if text.lower().startswith("uncertain"):
            return "uncertain"
        raise self.fail(path, f"unknown label_status {text!r} (sourced ... or uncertain ...)")

    def scale(self, builder: _Builder, scale: dict, sources: tuple, path: tuple) -> set[str]:
        """Add a scale as a top concept with its values as children; return its references."""
        sid = self.text(scale, "id", path)
        slug = sid.partition(":")[2] or sid
        if not _SLUG.fullmatch(slug):
            raise self.fail((*path, "id"), f"{slug!r} is not a lowercase slug")
        code = slug if slug[0].isalpha() else f"skala-{slug}"
        scale_sources = []
        for k, s in enumerate(self.seq(scale, "sources", path)):
            if not isinstance(s, str) or not s.strip():
                raise self.fail((*path, "sources", k), "must be non-empty text")
            scale_sources.append(s.strip())
        own = tuple(scale_sources) or sources
        label = builder.rule.scale_label or code
        builder.add(
            code,
            label,
            sources=own,
            # ffb_mapping is kept as a caution (none published; do not convert), not a mapping.
            note=_join(
                *(
                    self.text(scale, k, path, required=False)
                    for k in ("description", "note", "context", "ffb_mapping")
                )
            ),
            kind="scale",
            label_status="assigned",
            not_selectable=True,
        )
        labels_note = self.text(scale, "labels", path, required=False)
        for k, v in enumerate(self.seq(scale, "values", path)):
            vpath = (*path, "values", k)
            v = self.mapping(v, vpath)
            value = v.get("value")
            if isinstance(value, bool) or not isinstance(value, str | int):
                raise self.fail((*vpath, "value"), "required text or integer value is missing")
            numeric = v.get("numeric", value if isinstance(value, int) else None)
            if numeric is not None and (isinstance(numeric, bool) or not isinstance(numeric, int)):
                raise self.fail((*vpath, "numeric"), "must be an integer")
            vslug = str(value).strip().lower()
            if not _SLUG.fullmatch(vslug):
                raise self.fail((*vpath, "value"), f"{value!r} gives no slug for a code")
            vlabel = self.text(v, "label", vpath, required=False)
            label_status = self.text(v, "label_status", vpath, required=False)
            status = (
                self.label_status(label_status, (*vpath, "label_status"))
                if vlabel is not None
                else "assigned"
            )
            builder.add(
                f"{code}-{vslug}",
                vlabel or f"Trin {value}",
                parents=(code,),
                sources=own,
                note=_join(
                    f"Usikker label, ikke fundet i kilden: {label_status}"
                    if status == "uncertain"
                    else None,
                    f"Kun værdien er kildebelagt; trinbeskrivelse ikke fundet ({labels_note})."
                    if vlabel is None
                    else None,
                ),
                kind="scale value",
                label_status=status,
                value=str(value),
                numeric=numeric,
            )
        return set(scale_sources)

    # --- Barnets lov, the successor of SEL § 50 -------------------------------------------

    def barnets_lov(self, tool: dict, path: tuple) -> SchemeRelease:
        spath = (*path, "successor")
        successor = self.mapping(tool["successor"], spath)
        rule = _BARNETS_LOV
        law = self.text(successor, "law", spath)
        if rule.evidence not in law:
            raise self.fail(
                (*spath, "law"), f"version id {rule.version!r} is read from {rule.evidence!r}"
            )
        sections = self.text(successor, "sections", spath)
        named = {int(n) for n in re.findall(r"§ (\d+)", sections)}
        if named != set(_SECTIONS):
            raise self.fail(
                (*spath, "sections"),
                f"names §§ {sorted(named)}, the scheme covers §§ {sorted(_SECTIONS)}",
            )
        urls = _expand_urls(_split_sources(self.text(successor, "source", spath)))

        def sources(section: int) -> tuple[str, ...]:
            return tuple(u for u in urls if u.endswith(f"/{section}")) or urls

        builder = _Builder(rule)
        for section, (heading, note) in _SECTIONS.items():
            builder.add(
                f"paragraf-{section}",
                f"§ {section} {heading}",
                sources=sources(section),
                note=note,
                kind="section",
                label_status="assigned",
            )
        for section, code, label, kind in _SECTION_PARTS:
            quoted = kind == "assessment area"  # the § 22 areas quote the law; outcomes paraphrase
            builder.add(
                code,
                label,
                parents=(f"paragraf-{section}",),
                sources=sources(section),
                note=f"Efter § {section}; "
                + ("lovens ord." if quoted else "formuleringen er termservers."),
                kind=kind,
                label_status="sourced" if quoted else "assigned",
            )
        description = _join(
            f"{law}. {rule.remark}",
            _ASSIGNED_CODES,
            f"Forskningsnoternes sammenfatning: {sections}",
        )
        return builder.release(self, rule.title or law, description, None, set(urls))


class _Builder:
    """Collects the concepts of one scheme and makes the release."""

    def __init__(self, rule: _Rule) -> None:
        self.rule = rule
        self.concepts: dict[str, Concept] = {}
        self.used_props: set[str] = set()

    def add(
        self,
        code: str,
        label: str,
        *,
        sources: tuple[str, ...],
        kind: str,
        label_status: str,
        parents: tuple[str, ...] = (),
        note: str | None = None,
        code_assigned: bool = True,
        not_selectable: bool = False,
        value: str | None = None,
        numeric: int | None = None,
    ) -> None:
        s = self.rule.scheme
        props = [
            PropertyValue("kind", "string", kind),
            PropertyValue("labelStatus", "code", label_status),
        ]
        if value is not None:
            props.append(PropertyValue("value", "string", value))
        if numeric is not None:
            props.append(PropertyValue("numeric", "integer", numeric))
        props.sort(key=lambda p: (p.code, str(p.value)))
        self.used_props.update(p.code for p in props)
        self.concepts[code] = Concept(
            scheme=s,
            system=iris.scheme_iri(s),
            version=self.rule.version,
            code=code,
            iri=iris.concept_iri(s, code),
            display=label,
            language="da",
            parents=tuple(sorted(parents)),
            not_selectable=not_selectable,
            properties=tuple(props),
            sources=tuple(sorted(set(sources))),
            note=note,
            code_assigned=code_assigned,
        )

    def release(
        self,
        reader: _Reader,
        title: str,
        description: str,
        publisher: str | None,
        references: set[str],
    ) -> SchemeRelease:
        r = self.rule
        concepts = tuple(sorted(self.concepts.values(), key=lambda c: c.code))
        scheme = SchemeVersion(
            scheme=r.scheme,
            system=iris.scheme_iri(r.scheme),
            version=r.version,
            iri=iris.scheme_version_iri(r.scheme, r.version),
            scheme_iri=iris.scheme_iri(r.scheme),
            name="".join(part.capitalize() for part in r.scheme.split("-")),
            title=title,
            description=description,
            hierarchy_meaning="grouped-by",
            content=r.content,
            publisher=publisher,
            source=reader.source,
            source_sha256=reader.sha256,
            property_defs=tuple(_PROPERTY_DEFS[p] for p in sorted(self.used_props)),
            references=tuple(sorted(references)),
            valid_from=r.valid_from,
            valid_to=r.valid_to,
            codes_assigned=all(c.code_assigned for c in concepts),
        )
        return SchemeRelease(scheme=scheme, concepts=concepts)


def _strip_prefix(code: str, prefix: str) -> str:
    head, sep, slug = code.partition(":")
    return slug if sep and head == prefix else code


def _split_sources(text: str) -> tuple[str, ...]:
    """Split a ``source`` field on the semicolons between citations (not those in brackets)."""
    parts, depth, current = [], 0, []
    for ch in text:
        depth += ch == "("
        depth -= ch == ")"
        if ch == ";" and depth <= 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
    parts.append("".join(current))
    return tuple(p.strip() for p in parts if p.strip())


def _expand_urls(parts: tuple[str, ...]) -> tuple[str, ...]:
    """Expand ``.../22`` shorthand against the previous full URL's directory."""
    out: list[str] = []
    for p in parts:
        if p.startswith(".../") and out:
            p = out[-1].rsplit("/", 1)[0] + p[3:]
        out.append(p)
    return tuple(out)


def _join(*parts: str | None) -> str | None:
    kept = [p for p in parts if p]
    return "\n".join(kept) if kept else None


def _kind(value: Any) -> str:
    if value is None:
        return "nothing"
    return {dict: "a mapping", list: "a list", str: "text", bool: "a boolean"}.get(
        type(value), "a number"
    )
