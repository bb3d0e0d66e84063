"""SSSOM/TSV: our mapping sets written as SSSOM, and SSSOM files read back into a mapping set.

One mapping set becomes one SSSOM/TSV file: a ``#``-prefixed YAML metadata block (``curie_map``,
``mapping_set_id`` under ``https://w3id.org/ffb-termserver/mappings/``, title, license, creators,
subject and object source with their release) and one row per mapping. Concept ids are CURIEs
whose prefix is the scheme id (``vum-1:egenomsorg``, ``ffb:<uuid>``), each declared in the
``curie_map`` with the scheme's IRI base (:mod:`termserver.iris`), so every id expands to the
concept's resolvable IRI.

Provenance. SEMAPV (the SSSOM ``mapping_justification`` vocabulary) has no term for "stated in a
published crosswalk": a mapping that a publisher made by hand is ``semapv:ManualMappingCuration``
like one our curators propose, so the row keeps its own justification and says where it comes
from in ``author_label`` and ``see_also`` (the source URL). What SSSOM has no slot for is kept in
extension slots, declared in ``extension_definitions`` as SSSOM 1.1 asks: ``mapping_status``
(published | proposed), ``source`` (the citation as written), ``reason``, ``valid_from`` and
``valid_to`` (the validity period: SEL § 50 ends 2023-12-31) and ``confidence_word``.

Reading accepts what we write and SSSOM files from elsewhere whose ids are IRIs of our schemes.
A row without ``mapping_status`` is *proposed*: nothing read from a file is presented as
published unless the file says so and names a source. Every problem is reported at once, each
with file, line and column.
"""

from __future__ import annotations

import csv
import io
import math
import re
from collections.abc import Iterable
from datetime import date
from typing import Any
from urllib.parse import quote

import yaml

from termserver.errors import SourceError, UnknownConceptError
from termserver.iris import BASE, SKOS, XSD, scheme_iri, split_concept_iri
from termserver.mappings import (
    CONFIDENCE_WORDS,
    MANUAL_CURATION,
    PREDICATES,
    PROPOSED,
    PUBLISHED,
    STATUSES,
    Mapping,
    MappingFileError,
    MappingSet,
    mapping_set_yaml,
    parse_mapping_set,
    read_yaml_document,
    short_name,
)

SSSOM_VERSION = "1.1"
MAPPING_SET_BASE = BASE + "mappings/"
FILE_SUFFIX = ".sssom.tsv"
MAX_SSSOM_BYTES = 20_000_000
MAX_ROWS = 200_000

#: Prefixes every SSSOM reader knows; the spec forbids redefining them, so we never declare them.
BUILTIN_PREFIXES = {
    "owl": "http://www.w3.org/2002/07/owl#",
    "rdf": "http://www.w3.org/1999/02/22-rdf-syntax-ns#",
    "rdfs": "http://www.w3.org/2000/01/rdf-schema#",
    "semapv": "https://w3id.org/semapv/vocab/",
    "skos": SKOS,
    "sssom": "https://w3id.org/sssom/",
}
#: The project's base (scheme IRIs for subject_source/object_source) and its own vocabulary.
PROJECT_PREFIX = "ffbts"
TS_PREFIX = "ts"
TS_NS = BASE + "def#"

# Extension slots: (slot name, property, type hint). The slot names are not SSSOM slot names.
EXTENSIONS = (
    ("mapping_status", "ts:mappingStatus", "xsd:string"),
    ("source", "ts:mappingSource", "xsd:string"),
    ("reason", "ts:mappingReason", "xsd:string"),
    ("valid_from", "ts:validFrom", "xsd:date"),
    ("valid_to", "ts:validTo", "xsd:date"),
    ("confidence_word", "ts:confidenceWord", "xsd:string"),
)
_EXTENSION_NAMES = tuple(e[0] for e in EXTENSIONS)

_CORE_COLUMNS = (
    "subject_id",
    "subject_label",
    "predicate_id",
    "object_id",
    "object_label",
    "mapping_justification",
    "author_label",
    "mapping_date",
    "confidence",
    "comment",
    "see_also",
)
REQUIRED_COLUMNS = ("subject_id", "predicate_id", "object_id", "mapping_justification")
#: SSSOM row slots a file may carry that our model has no place for; read and left out.
_IGNORED_COLUMNS = frozenset(
    {
        "author_id",
        "reviewer_id",
        "reviewer_label",
        "creator_id",
        "creator_label",
        "subject_type",
        "object_type",
        "subject_source",
        "object_source",
        "subject_source_version",
        "object_source_version",
        "predicate_label",
        "predicate_type",
        "predicate_modifier",
        "mapping_provider",
        "mapping_source",
        "mapping_tool",
        "mapping_tool_id",
        "mapping_tool_version",
        "mapping_cardinality",
        "cardinality_scope",
        "publication_date",
        "review_date",
        "license",
        "similarity_score",
        "similarity_measure",
        "match_string",
        "subject_match_field",
        "object_match_field",
        "subject_preprocessing",
        "object_preprocessing",
        "curation_rule",
        "curation_rule_text",
        "issue_tracker_item",
        "record_id",
        "other",
        "subject_category",
        "object_category",
    }
)
#: Licenses our YAML names by SPDX id; SSSOM wants a license IRI.
_SPDX = "https://spdx.org/licenses/"
_LICENSE_IDS = ("MIT", "CC0-1.0", "CC-BY-4.0", "CC-BY-SA-4.0")
_JUSTIFICATION = re.compile(r"^semapv:[A-Za-z]+$")


def mapping_set_iri(set_id: str) -> str:
    """The ``mapping_set_id`` of a set: ``https://w3id.org/ffb-termserver/mappings/<id>.sssom.tsv``."""
    return MAPPING_SET_BASE + quote(set_id, safe="-._~") + FILE_SUFFIX


def scheme_prefix_iri(scheme_id: str) -> str:
    """The ``curie_map`` expansion of a scheme's prefix: the scheme IRI and a slash."""
    return scheme_iri(scheme_id) + "/"


def _curie(scheme_id: str, code: str) -> str:
    # The same escaping as iris.concept_iri, so the CURIE expands to exactly the concept IRI.
    return f"{scheme_id}:{quote(code, safe='-._~:@!$()*+,;=')}"


def _license_iri(text: str | None) -> str:
    if not text:
        return _SPDX + "MIT.html"  # the repository's license covers files that name none
    if re.match(r"^https?://\S+$", text):
        return text
    first = text.split()[0]
    for spdx in _LICENSE_IDS:
        if first == spdx:
            return f"{_SPDX}{spdx}.html"
    raise SourceError("license", None, f"{text!r} is neither an IRI nor one of {_LICENSE_IDS}")


def _license_text(iri: str | None) -> str | None:
    if iri and iri.startswith(_SPDX) and iri.endswith(".html"):
        return iri[len(_SPDX) : -len(".html")]
    return iri


# --- writing -------------------------------------------------------------------------------------


def export_sssom(ms: MappingSet, vocab) -> str:
    """The SSSOM/TSV text of one mapping set: metadata block, header, one row per mapping.

    Labels come from the row, else from the vocabulary. Raises :class:`SourceError` when a
    system of the set is not in the vocabulary (no scheme, so no CURIE prefix).
    """
    where = ms.source_file or ms.id
    schemes = {}
    for role in ("subject", "object"):
        system = getattr(ms, f"{role}_system")
        try:
            schemes[role] = getattr(ms, f"{role}_scheme") or vocab.scheme_of(system)
        except UnknownConceptError:
            raise SourceError(where, f"{role}_system", f"unknown code system {system!r}") from None
    rows = [_row(m, schemes, vocab) for m in ms.mappings]
    used_ext = [e for e in EXTENSIONS if any(r.get(e[0]) for r in rows)]
    columns = [c for c in _CORE_COLUMNS if c in REQUIRED_COLUMNS or any(r.get(c) for r in rows)]
    columns += [e[0] for e in used_ext]
    meta = _metadata(ms, schemes, vocab, used_ext)
    block = yaml.safe_dump(meta, sort_keys=False, allow_unicode=True, width=10_000)
    out = io.StringIO()
    out.write("".join(f"#{line}\n" for line in block.splitlines()))
    writer = csv.writer(out, delimiter="\t", lineterminator="\n", quoting=csv.QUOTE_MINIMAL)
    writer.writerow(columns)
    for r in rows:
        writer.writerow([r.get(c, "") for c in columns])
    return out.getvalue()


def _metadata(ms: MappingSet, schemes: dict, vocab, used_ext: list) -> dict[str, Any]:
    curie_map = {s: scheme_prefix_iri(s) for s in dict.fromkeys(schemes.values())}
    curie_map[PROJECT_PREFIX] = BASE
    if used_ext:
        curie_map[TS_PREFIX] = TS_NS
        curie_map["xsd"] = XSD
    meta: dict[str, Any] = {
        "curie_map": curie_map,
        "mapping_set_id": mapping_set_iri(ms.id),
        "sssom_version": SSSOM_VERSION,
    }
    if ms.version:
        meta["mapping_set_version"] = ms.version
    meta["mapping_set_title"] = ms.title
    if ms.description:
        meta["mapping_set_description"] = ms.description
    meta["license"] = _license_iri(ms.license)
    if ms.creators:
        meta["creator_label"] = list(ms.creators)
    for role in ("subject", "object"):
        system = getattr(ms, f"{role}_system")
        meta[f"{role}_source"] = f"{PROJECT_PREFIX}:{schemes[role]}"
        meta[f"{role}_source_version"] = vocab.default_version(system)
    if used_ext:
        meta["extension_definitions"] = [
            {"slot_name": name, "property": prop, "type_hint": hint}
            for name, prop, hint in used_ext
        ]
    return meta


def _row(m: Mapping, schemes: dict, vocab) -> dict[str, str]:
    def label(system: str, code: str, given: str | None) -> str:
        if given:
            return given
        concept = vocab.get(system, code)
        return concept.display.strip() if concept is not None else ""

    source = m.source or ""
    row = {
        "subject_id": _curie(schemes["subject"], m.subject_code),
        "subject_label": label(m.subject_system, m.subject_code, m.subject_label),
        "predicate_id": m.predicate,
        "object_id": _curie(schemes["object"], m.object_code),
        "object_label": label(m.object_system, m.object_code, m.object_label),
        "mapping_justification": m.justification,
        # author_label is multivalued in SSSOM/TSV ('|'-separated); one author is one value.
        "author_label": m.author.replace("|", "/"),
        "mapping_date": m.date.isoformat(),
        "confidence": "" if m.confidence is None else f"{m.confidence:g}",
        "comment": m.comment or "",
        "see_also": source if re.match(r"^https?://[^\s|]+$", source) else "",
        "mapping_status": m.status,
        "source": source,
        "reason": m.reason or "",
        "valid_from": m.valid_from.isoformat() if m.valid_from else "",
        "valid_to": m.valid_to.isoformat() if m.valid_to else "",
        "confidence_word": m.confidence_word or "",
    }
    return row


def sssom_file_name(set_id: str) -> str:
    """``vum-1--ffb`` → ``vum-1--ffb.sssom.tsv``."""
    return set_id + FILE_SUFFIX


# --- reading -------------------------------------------------------------------------------------


def read_sssom(raw: str | bytes, name: str, vocab, *, set_id: str) -> MappingSet:
    """A mapping set from SSSOM/TSV text; ``name`` is used in messages, ``set_id`` becomes its id.

    Raises :class:`MappingFileError` listing every problem (``name: line N, column C: ...``):
    missing columns, unknown prefixes or ids outside our schemes, predicates that are not SKOS
    mapping relations, bad justifications, confidences and dates, rows that mix systems,
    duplicate rows. Whether the codes exist is :func:`termserver.mappings.check_mapping_set`'s
    job, as for YAML.
    """
    if isinstance(raw, bytes):
        if len(raw) > MAX_SSSOM_BYTES:
            raise SourceError(name, None, f"file is larger than {MAX_SSSOM_BYTES} bytes")
        try:
            raw = raw.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise SourceError(name, None, f"not UTF-8 text: {exc.reason}") from None
    elif len(raw) > MAX_SSSOM_BYTES:
        raise SourceError(name, None, f"file is larger than {MAX_SSSOM_BYTES} characters")
    # newline="" splits lines as the csv module counts them (\r\n is one line ending).
    lines = io.StringIO(raw, newline="").readlines()
    n_meta = 0
    while n_meta < len(lines) and lines[n_meta].startswith("#"):
        n_meta += 1
    meta = _read_metadata(lines[:n_meta], name)
    reader = _Reader(name, meta, vocab)
    if n_meta == len(lines):
        raise SourceError(name, f"line {n_meta + 1}", "no header row (subject_id, predicate_id...)")
    reader.read_table("".join(lines[n_meta:]), first_line=n_meta + 1)
    return reader.build(set_id)


def _read_metadata(lines: list[str], name: str) -> dict[str, Any]:
    if not any(line.strip("#").strip() for line in lines):
        return {}
    # Strip the leading '#'s but keep every line, so YAML line numbers are file line numbers.
    text = "".join(line.lstrip("#") if line.strip("#").strip() else "\n" for line in lines)
    doc, where = read_yaml_document(text, name)
    if not isinstance(doc, dict):
        raise SourceError(name, "line 1", "the metadata block must be a YAML mapping (key: value)")
    curie_map = doc.get("curie_map", {})
    if not isinstance(curie_map, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in curie_map.items()
    ):
        raise SourceError(name, f"line {where(('curie_map',))}, curie_map", "must map prefix: IRI")
    return doc


class _Reader:
    """Reads the table under a metadata block, collecting every problem."""

    def __init__(self, name: str, meta: dict[str, Any], vocab) -> None:
        self.name = name
        self.meta = meta
        self.vocab = vocab
        self.prefixes = {**BUILTIN_PREFIXES, **meta.get("curie_map", {})}
        self.problems: list[SourceError] = []
        self.rows: list[Mapping] = []
        self.systems: dict[str, tuple[str, str, int]] = {}  # role -> (system, scheme, first line)
        ext = meta.get("extension_definitions") or []
        self.extensions = {
            e.get("slot_name") for e in ext if isinstance(e, dict) and e.get("property")
        }

    def fail(self, line: int, column: str | None, message: str) -> None:
        where = f"line {line}, column {column}" if column else f"line {line}"
        self.problems.append(SourceError(self.name, where, message))

    def read_table(self, text: str, first_line: int) -> None:
        reader = csv.reader(io.StringIO(text, newline=""), delimiter="\t", strict=True)
        try:
            header = next(reader)
        except (StopIteration, csv.Error):
            header = []
        header_line = first_line
        header = [h.strip() for h in header]
        missing = [c for c in REQUIRED_COLUMNS if c not in header]
        if missing:
            self.fail(header_line, None, "missing column(s): " + ", ".join(missing))
        for col in header:
            known = (
                col in _CORE_COLUMNS or col in _IGNORED_COLUMNS or col in _EXTENSION_NAMES
            ) and (col not in _EXTENSION_NAMES or col in self.extensions)
            if not known:
                self.fail(
                    header_line,
                    col or "(tom)",
                    "unknown column: not an SSSOM slot and not declared in extension_definitions",
                )
        dup = {c for c in header if header.count(c) > 1}
        if dup:
            self.fail(header_line, None, "column(s) given twice: " + ", ".join(sorted(dup)))
        if self.problems:
            raise MappingFileError(self.problems)
        seen: dict[tuple, int] = {}
        try:
            for fields in reader:
                line = first_line + reader.line_num - 1
                if not any(f.strip() for f in fields):
                    continue
                if len(self.rows) + len(self.problems) >= MAX_ROWS:
                    self.fail(line, None, f"more than {MAX_ROWS} rows")
                    break
                if len(fields) != len(header):
                    self.fail(line, None, f"{len(fields)} fields, the header has {len(header)}")
                    continue
                m = self._mapping(dict(zip(header, fields, strict=True)), line)
                if m is None:
                    continue
                key = (m.subject, m.predicate, m.object)
                if key in seen:
                    self.fail(line, None, f"the same mapping as line {seen[key]}")
                    continue
                seen[key] = line
                self.rows.append(m)
        except csv.Error as exc:
            self.fail(first_line + reader.line_num - 1, None, f"unreadable TSV: {exc}")

    def _entity(self, value: str, line: int, column: str) -> tuple[str, str, str] | None:
        """``(system, scheme, code)`` of a CURIE or IRI of one of our schemes."""
        value = value.strip()
        if not value:
            self.fail(line, column, "empty")
            return None
        iri = self._expand(value, line, column)
        if iri is None:
            return None
        split = split_concept_iri(iri)
        if split is None:
            self.fail(line, column, f"{value!r} is not a concept of a termserver scheme")
            return None
        scheme, code = split
        try:
            system = self.vocab.system_of(scheme)
        except UnknownConceptError:
            self.fail(line, column, f"unknown scheme {scheme!r} (from {value!r})")
            return None
        return system, scheme, code

    def _expand(self, value: str, line: int, column: str) -> str | None:
        if value.startswith("<") and value.endswith(">"):
            return value[1:-1]
        if re.match(r"^https?://", value):
            return value
        prefix, sep, local = value.partition(":")
        if not sep:
            self.fail(line, column, f"{value!r} is not a CURIE (prefix:code) or IRI")
            return None
        if prefix not in self.prefixes:
            self.fail(line, column, f"prefix {prefix!r} is not in the curie_map")
            return None
        return self.prefixes[prefix] + local

    def _mapping(self, r: dict[str, str], line: int) -> Mapping | None:
        before = len(self.problems)
        subject = self._entity(r.get("subject_id", ""), line, "subject_id")
        obj = self._entity(r.get("object_id", ""), line, "object_id")
        for role, ent in (("subject", subject), ("object", obj)):
            if ent is None:
                continue
            first = self.systems.setdefault(role, (ent[0], ent[1], line))
            if first[0] != ent[0]:
                self.fail(
                    line,
                    f"{role}_id",
                    f"scheme {ent[1]!r} differs from {first[1]!r} (line {first[2]}): "
                    "one mapping set maps one scheme to one scheme",
                )
        predicate = self._predicate(r.get("predicate_id", "").strip(), line)
        justification = r.get("mapping_justification", "").strip()
        if not _JUSTIFICATION.match(justification):
            self.fail(
                line,
                "mapping_justification",
                f"{justification!r} is not a SEMAPV term (e.g. {MANUAL_CURATION})",
            )
        confidence = self._confidence(r.get("confidence", "").strip(), line)
        word = r.get("confidence_word", "").strip() or None
        if word is not None and word not in CONFIDENCE_WORDS:
            self.fail(line, "confidence_word", f"{word!r} is not one of {list(CONFIDENCE_WORDS)}")
        day = self._date(r.get("mapping_date", "").strip(), line, "mapping_date", set_level=True)
        valid_from = self._date(r.get("valid_from", "").strip(), line, "valid_from")
        valid_to = self._date(r.get("valid_to", "").strip(), line, "valid_to")
        if valid_from and valid_to and valid_from > valid_to:
            self.fail(line, "valid_to", "valid_to is before valid_from")
        author = r.get("author_label", "").strip() or " / ".join(self._creators())
        if not author:
            self.fail(line, "author_label", "no author_label and no creator_label for the set")
        status = r.get("mapping_status", "").strip() or PROPOSED
        if status not in STATUSES:
            self.fail(line, "mapping_status", f"{status!r} is not one of {list(STATUSES)}")
        see_also = r.get("see_also", "").strip()
        source = r.get("source", "").strip() or see_also.replace("|", " ; ") or None
        if status == PUBLISHED and not source:
            self.fail(line, "mapping_status", "published needs a source (source or see_also)")
        reason = r.get("reason", "").strip() or None
        if status == PROPOSED and reason is None:
            reason = f"Imported from SSSOM ({self.name}); justification {justification}."
        if len(self.problems) > before or subject is None or obj is None or predicate is None:
            return None
        assert day is not None
        return Mapping(
            subject_system=subject[0],
            subject_code=subject[2],
            predicate=predicate,
            object_system=obj[0],
            object_code=obj[2],
            status=status,
            author=author,
            date=day,
            justification=justification,
            source=source if status == PUBLISHED or r.get("source", "").strip() else None,
            confidence=CONFIDENCE_WORDS[word] if word and confidence is None else confidence,
            confidence_word=word,
            reason=reason,
            comment=r.get("comment", "").strip() or None,
            subject_label=r.get("subject_label", "").strip() or None,
            object_label=r.get("object_label", "").strip() or None,
            valid_from=valid_from,
            valid_to=valid_to,
            line=line,
        )

    def _predicate(self, value: str, line: int) -> str | None:
        iri = value
        if not re.match(r"^https?://", value) and ":" in value:
            prefix, _, local = value.partition(":")
            iri = self.prefixes.get(prefix, "") + local if prefix in self.prefixes else value
        for p in PREDICATES:
            if iri == SKOS + short_name(p):
                return p
        allowed = ", ".join(PREDICATES)
        self.fail(line, "predicate_id", f"{value!r} is not a supported predicate ({allowed})")
        return None

    def _confidence(self, value: str, line: int) -> float | None:
        if not value:
            return None
        try:
            number = float(value)
        except ValueError:
            number = math.nan
        if not (math.isfinite(number) and 0 <= number <= 1):
            self.fail(line, "confidence", f"{value!r} is not a number from 0 to 1")
            return None
        return number

    def _date(self, value: str, line: int, column: str, *, set_level: bool = False) -> date | None:
        if not value and set_level:
            value = str(self.meta.get("mapping_date") or "")
            if not value:
                self.fail(line, column, "no mapping_date in the row or the metadata")
                return None
        if not value:
            return None
        try:
            return date.fromisoformat(value)
        except ValueError:
            self.fail(line, column, f"{value!r} is not a date (YYYY-MM-DD)")
            return None

    def _creators(self) -> list[str]:
        creators = self.meta.get("creator_label") or []
        if isinstance(creators, str):
            creators = [creators]
        return [str(c) for c in creators]

    def build(self, set_id: str) -> MappingSet:
        if not self.rows and not self.problems:
            self.problems.append(SourceError(self.name, None, "no mapping rows"))
        if self.problems:
            raise MappingFileError(self.problems)
        subject_system, subject_scheme, _ = self.systems["subject"]
        object_system, object_scheme, _ = self.systems["object"]
        title = self.meta.get("mapping_set_title") or f"{subject_scheme} → {object_scheme}"
        ms = MappingSet(
            id=set_id,
            title=str(title),
            subject_system=subject_system,
            object_system=object_system,
            mappings=tuple(self.rows),
            subject_scheme=subject_scheme,
            object_scheme=object_scheme,
            description=_text(self.meta.get("mapping_set_description")),
            license=_license_text(_text(self.meta.get("license"))),
            creators=tuple(self._creators()),
            version=_text(self.meta.get("mapping_set_version")),
            source_file=self.name,
        )
        # The YAML schema is the last word on what a mapping set may hold: a set that would
        # not load from mappings/ is refused here, not after it has been written.
        parse_mapping_set(mapping_set_yaml(ms), f"{set_id}.yaml", expected_id=set_id)
        return ms


def _text(value: Any) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def export_all(sets: Iterable[MappingSet], vocab) -> dict[str, str]:
    """``{file name: SSSOM text}`` for several sets."""
    return {sssom_file_name(ms.id): export_sssom(ms, vocab) for ms in sets}
