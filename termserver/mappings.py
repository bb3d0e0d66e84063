"""Mapping sets: SKOS mappings between schemes, with SSSOM-style provenance, read from YAML.

One YAML file in ``mappings/`` holds one mapping set (``vum-1--ffb.yaml``): who made it, which
scheme maps to which, and one row per mapping. The files are edited by methodology staff, so the
reader is strict and exact about where a file is wrong: every error names the file, the line and
the field (``vum-1--ffb.yaml: line 40, mappings[3].predicate: 'sameAs' is not one of ...``).

Relation convention (as in ``local_tools.yaml``): a row reads "subject <predicate> object".
``broadMatch`` says the object is broader than the subject; ``narrowMatch`` that it is narrower.

Provenance follows SSSOM: ``justification`` is a SEMAPV term (``semapv:ManualMappingCuration``:
a person made the mapping by hand). SEMAPV has no term for "stated in a published crosswalk", so
a *published* row gives its ``source`` (required), and a *proposed* row its ``author`` and
``reason`` (required); ``status`` keeps the two apart everywhere a mapping is shown.

The format is published as a JSON Schema generated here (:func:`mapping_set_json_schema`,
committed as ``mappings/mapping-set.schema.json``), and every file is validated against it.
Checks that need the vocabulary (do the codes exist?) are in :func:`check_mapping_set`.
"""

from __future__ import annotations

import difflib
import json
import math
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from termserver.errors import SourceError, UnknownConceptError
from termserver.iris import BASE

SKOS_NS = "http://www.w3.org/2004/02/skos/core#"
EXACT = "skos:exactMatch"
CLOSE = "skos:closeMatch"
BROAD = "skos:broadMatch"
NARROW = "skos:narrowMatch"
RELATED = "skos:relatedMatch"
#: The SKOS mapping relations, strongest first.
PREDICATES = (EXACT, CLOSE, BROAD, NARROW, RELATED)
_INVERSE = {EXACT: EXACT, CLOSE: CLOSE, BROAD: NARROW, NARROW: BROAD, RELATED: RELATED}

PUBLISHED = "published"
PROPOSED = "proposed"
STATUSES = (PUBLISHED, PROPOSED)

#: SSSOM justification for a mapping made by a person (SEMAPV).
MANUAL_CURATION = "semapv:ManualMappingCuration"
#: The words the research notes use for confidence, and the number each stands for.
CONFIDENCE_WORDS = {"low": 0.3, "medium": 0.6, "high": 0.9}

SCHEMA_FILE = "mapping-set.schema.json"
SCHEMA_ID = BASE + "mappings/" + SCHEMA_FILE
MAPPINGS_ENV_VAR = "TERMSERVER_MAPPINGS"
MAX_FILE_BYTES = 2_000_000
_MAX_DEPTH = 12  # a mapping file is four levels deep; anything far deeper is not one
_DATE_PATTERN = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"


def short_name(predicate: str) -> str:
    """``skos:closeMatch`` → ``closeMatch``."""
    return predicate.partition(":")[2] or predicate


def predicate_iri(predicate: str) -> str:
    """``skos:closeMatch`` → the full SKOS IRI."""
    return SKOS_NS + short_name(predicate)


def inverse(predicate: str) -> str:
    """The relation read the other way: broad ↔ narrow; exact, close and related are symmetric."""
    return _INVERSE[predicate]


@dataclass(frozen=True, slots=True)
class Mapping:
    """One row: subject (system, code) <predicate> object (system, code), with provenance."""

    subject_system: str
    subject_code: str
    predicate: str  # one of PREDICATES (``skos:closeMatch``)
    object_system: str
    object_code: str
    status: str  # published | proposed
    author: str
    date: date
    justification: str = MANUAL_CURATION
    #: The published source (citation or URL); required when status is published.
    source: str | None = None
    confidence: float | None = None
    #: The confidence as the file words it (``low``), kept so a rewrite does not change it.
    confidence_word: str | None = None
    reason: str | None = None
    comment: str | None = None
    subject_label: str | None = None
    object_label: str | None = None
    valid_from: date | None = None
    valid_to: date | None = None
    line: int | None = field(default=None, compare=False)

    @property
    def subject(self) -> tuple[str, str]:
        """``(system, code)`` of the subject."""
        return self.subject_system, self.subject_code

    @property
    def object(self) -> tuple[str, str]:
        """``(system, code)`` of the object."""
        return self.object_system, self.object_code

    @property
    def proposed(self) -> bool:
        """True unless the mapping is stated in a published source."""
        return self.status != PUBLISHED

    def valid_on(self, day: date | None) -> bool:
        """True when ``day`` is inside the validity period (or no day or period is given)."""
        if day is None:
            return True
        if self.valid_from is not None and day < self.valid_from:
            return False
        return not (self.valid_to is not None and day > self.valid_to)

    def provenance(self) -> dict[str, Any]:
        """The SSSOM-style provenance of this row, for JSON answers."""
        out: dict[str, Any] = {
            "status": self.status,
            "justification": self.justification,
            "author": self.author,
            "date": self.date.isoformat(),
        }
        for key in ("source", "confidence", "reason", "comment"):
            value = getattr(self, key)
            if value is not None:
                out[key] = value
        if self.valid_from:
            out["valid_from"] = self.valid_from.isoformat()
        if self.valid_to:
            out["valid_to"] = self.valid_to.isoformat()
        return out


@dataclass(frozen=True, slots=True)
class MappingSet:
    """One mapping set (one YAML file, one FHIR ConceptMap): subject scheme → object scheme."""

    id: str
    title: str
    subject_system: str
    object_system: str
    mappings: tuple[Mapping, ...]
    subject_scheme: str | None = None
    object_scheme: str | None = None
    description: str | None = None
    license: str | None = None
    creators: tuple[str, ...] = ()
    version: str | None = None
    #: The file the set was read from (for messages), if any.
    source_file: str | None = field(default=None, compare=False)

    @property
    def proposed_count(self) -> int:
        """How many rows are only proposed."""
        return sum(1 for m in self.mappings if m.proposed)


@dataclass(frozen=True, slots=True)
class MappingProblem:
    """Something wrong with a mapping set against the vocabulary."""

    severity: str  # error | warning
    source: str
    location: str | None
    message: str
    #: A rule id for QA reports (``mapping-unknown-code``).
    rule: str = "mapping-invalid"

    def __str__(self) -> str:
        where = f"{self.source}: {self.location}" if self.location else self.source
        return f"{self.severity}: {where}: {self.message}"


class MappingFileError(SourceError):
    """A mapping file that cannot be used; ``problems`` lists every error found, first first."""

    def __init__(self, problems: list[SourceError]) -> None:
        first = problems[0]
        more = f" (and {len(problems) - 1} more problems)" if len(problems) > 1 else ""
        super().__init__(first.source, first.location, first.message + more)
        self.problems = problems


# --- the published format --------------------------------------------------------------------


def mapping_set_json_schema() -> dict[str, Any]:
    """The JSON Schema of a mapping YAML file, generated from this module's vocabulary.

    The row properties are the :class:`Mapping` fields a person writes (the systems come from
    the set); ``tests/test_mappings.py`` checks that the two stay in step.
    """
    text = {"type": "string", "minLength": 1}
    day = {"type": "string", "format": "date", "pattern": _DATE_PATTERN}
    predicates = [short_name(p) for p in PREDICATES] + list(PREDICATES)
    row = {
        "type": "object",
        "additionalProperties": False,
        "required": ["subject", "predicate", "object", "status", "author", "date"],
        "properties": {
            "subject": {**text, "description": "Code of the subject in the set's subject system."},
            "subject_label": {**text, "description": "Label of the subject, for readers."},
            "predicate": {
                "enum": predicates,
                "description": "SKOS mapping relation, read 'subject <predicate> object': "
                "broadMatch = the object is broader than the subject.",
            },
            "object": {**text, "description": "Code of the object in the set's object system."},
            "object_label": {**text, "description": "Label of the object, for readers."},
            "status": {
                "enum": list(STATUSES),
                "description": "published = stated in a published source (give 'source'); "
                "proposed = a person's judgement (give 'author' and 'reason').",
            },
            "justification": {
                "type": "string",
                "pattern": "^semapv:[A-Za-z]+$",
                "default": MANUAL_CURATION,
                "description": "SSSOM mapping_justification (a SEMAPV term).",
            },
            "author": {**text, "description": "Who made the mapping (person, team or source)."},
            "source": {**text, "description": "The published source: citation or URL."},
            "date": {**day, "description": "When the mapping was made or last reviewed."},
            "confidence": {
                "anyOf": [
                    {"type": "number", "minimum": 0, "maximum": 1},
                    {"enum": list(CONFIDENCE_WORDS)},
                ],
                "description": "0..1, or a word: "
                + ", ".join(f"{w} = {v}" for w, v in CONFIDENCE_WORDS.items())
                + ".",
            },
            "reason": {**text, "description": "Why the relation holds."},
            "comment": {**text, "description": "Anything else a reader should know."},
            "valid_from": {**day, "description": "First day the mapping applies (law, practice)."},
            "valid_to": {**day, "description": "Last day the mapping applies."},
        },
        "allOf": [
            {
                "if": {"properties": {"status": {"const": PUBLISHED}}, "required": ["status"]},
                "then": {"required": ["source"]},
            },
            {
                "if": {"properties": {"status": {"const": PROPOSED}}, "required": ["status"]},
                "then": {"required": ["reason"]},
            },
        ],
    }
    system = {
        "type": "string",
        "pattern": "^(https?://|urn:)[^\\s]+$",
        "description": "FHIR code system URL.",
    }
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "termserver mapping set",
        "description": "One mapping set (one FHIR ConceptMap) between two code systems, with "
        "SSSOM-style provenance per row. File name: <id>.yaml in mappings/.",
        "type": "object",
        "additionalProperties": False,
        "required": ["id", "title", "subject_system", "object_system", "mappings"],
        "properties": {
            "id": {
                "type": "string",
                "pattern": "^[a-z0-9]+(-[a-z0-9]+)*(--[a-z0-9]+(-[a-z0-9]+)*)?$",
                "maxLength": 64,
                "description": "The set id; equals the file name without .yaml.",
            },
            "title": text,
            "description": text,
            "version": text,
            "license": text,
            "creators": {"type": "array", "items": text},
            "subject_scheme": {**text, "description": "Scheme id of the subjects (vum-1)."},
            "subject_system": system,
            "object_scheme": {**text, "description": "Scheme id of the objects (ffb)."},
            "object_system": system,
            "mappings": {"type": "array", "items": row},
        },
    }


def write_json_schema(path: str | Path) -> bool:
    """Write the schema file; return True when it changed."""
    path = Path(path)
    data = schema_text()
    if path.exists() and path.read_text("utf-8") == data:
        return False
    path.write_text(data, encoding="utf-8")
    return True


def schema_text() -> str:
    """The schema as committed: indented JSON with a final newline."""
    return json.dumps(mapping_set_json_schema(), ensure_ascii=False, indent=2) + "\n"


@lru_cache(maxsize=1)
def _validator():
    from jsonschema import Draft202012Validator, FormatChecker

    schema = mapping_set_json_schema()
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, format_checker=FormatChecker())


def mappings_dir() -> Path:
    """The mappings directory: $TERMSERVER_MAPPINGS, the repository's, or the installed copy."""
    override = os.environ.get(MAPPINGS_ENV_VAR)
    if override:
        return Path(override)
    here = Path(__file__).resolve().parent
    for candidate in (here.parent / "mappings", here / "_content" / "mappings"):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"no mappings directory next to {here}; set {MAPPINGS_ENV_VAR}")


# --- reading -----------------------------------------------------------------------------------


class _Loader(yaml.SafeLoader):
    """SafeLoader that refuses aliases: a mapping file never needs them, and they are how a
    small file expands into billions of nodes ("billion laughs")."""

    def compose_node(self, parent, index):  # type: ignore[override]
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise _Refused(event.start_mark, "YAML aliases (*name) are not allowed here")
        return super().compose_node(parent, index)


class _Refused(Exception):
    def __init__(self, mark, message: str) -> None:
        super().__init__(message)
        self.mark = mark
        self.message = message


_DocPath = tuple  # a path into the document: keys and list indexes


def _where(path: _DocPath) -> str:
    return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path).lstrip(".")


def _line(lines: dict[_DocPath, int], path: _DocPath) -> int:
    """The line of ``path``, or of its nearest ancestor when the field is missing."""
    probe = path
    while probe and probe not in lines:
        probe = probe[:-1]
    return lines.get(probe, 1)


def _location(lines: dict[_DocPath, int], path: _DocPath) -> str:
    line = _line(lines, path)
    return f"line {line}, {_where(path)}" if path else f"line {line}"


def load_mapping_set(path: str | Path, *, source_name: str | None = None) -> MappingSet:
    """Read and validate one mapping YAML file; raise :class:`MappingFileError` if it is wrong."""
    path = Path(path)
    name = source_name or path.name
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise SourceError(name, None, f"cannot read file: {exc.strerror}") from exc
    return parse_mapping_set(raw, name, expected_id=path.stem)


def parse_mapping_set(raw: bytes | str, name: str, *, expected_id: str | None = None) -> MappingSet:
    """Parse mapping-set YAML text; ``name`` is used in error messages."""
    if isinstance(raw, str):
        raw = raw.encode("utf-8")
    if len(raw) > MAX_FILE_BYTES:
        raise SourceError(name, None, f"file is larger than {MAX_FILE_BYTES} bytes")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SourceError(name, None, f"not UTF-8 text: {exc.reason}") from exc
    doc, lines = _parse_yaml(text, name)
    errors = _schema_errors(doc, lines, name)
    if errors:
        raise MappingFileError(errors)
    return _build(doc, lines, name, expected_id)


def read_yaml_document(text: str, name: str) -> tuple[Any, Callable[[tuple], int]]:
    """Plain data from YAML text, read as strictly as a mapping file (no aliases, no tags,
    bounded depth), and a function giving the line of a key path (``("curie_map",)`` → 3)."""
    doc, lines = _parse_yaml(text, name)
    return doc, lambda path: _line(lines, tuple(path))


def _parse_yaml(text: str, name: str) -> tuple[Any, dict[_DocPath, int]]:
    try:
        # The reader refuses control characters as soon as it is built.
        loader = _Loader(text)
    except yaml.YAMLError as exc:
        raise SourceError(name, None, f"invalid YAML: {exc}") from None
    try:
        node = loader.get_single_node()
        if node is None:
            raise SourceError(name, "line 1", "the file is empty")
        lines: dict[_DocPath, int] = {}
        return _to_python(node, (), lines, loader, name), lines
    except _Refused as exc:
        raise SourceError(name, f"line {exc.mark.line + 1}", exc.message) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else None
        raise SourceError(name, where, f"invalid YAML: {exc.problem or exc}") from None
    except yaml.YAMLError as exc:
        raise SourceError(name, None, f"invalid YAML: {exc}") from None
    except RecursionError:
        raise SourceError(name, None, "YAML nested too deeply") from None
    finally:
        loader.dispose()


def _to_python(node: yaml.Node, path: _DocPath, lines: dict, loader: _Loader, name: str) -> Any:
    """Plain Python data from a node, recording the line of every key and list item."""
    if len(path) > _MAX_DEPTH:
        raise SourceError(name, f"line {node.start_mark.line + 1}", "YAML nested too deeply")
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            line = key_node.start_mark.line + 1
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag.endswith(":merge"):
                raise SourceError(name, f"line {line}", "keys must be plain text")
            key = str(key_node.value)
            if key in out:
                raise SourceError(name, f"line {line}, {_where((*path, key))}", "duplicate key")
            lines[(*path, key)] = line
            out[key] = _to_python(value_node, (*path, key), lines, loader, name)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [
            _to_python(item, (*path, i), lines, loader, name) for i, item in enumerate(node.value)
        ]
    try:
        value = loader.construct_object(node)
    except (ValueError, yaml.constructor.ConstructorError) as exc:
        if node.tag.endswith(":timestamp"):
            return node.value  # 2024-13-45: keep the text, the schema names it as a bad date
        line = node.start_mark.line + 1
        raise SourceError(
            name, f"line {line}, {_where(path)}", f"unreadable value: {exc}"
        ) from None
    if isinstance(value, date):
        return value.isoformat()  # JSON Schema sees dates as strings, as staff wrote them
    if isinstance(value, bytes):
        return repr(value)
    if isinstance(value, float) and not math.isfinite(value):
        line = node.start_mark.line + 1
        raise SourceError(name, f"line {line}, {_where(path)}", "must be a finite number")
    return value


def _schema_errors(doc: Any, lines: dict[_DocPath, int], name: str) -> list[SourceError]:
    errors = list(_validator().iter_errors(doc))
    # A misspelt key ("reasn") also leaves a required field missing; say it once, at the typo.
    typos: dict[tuple, dict[str, str]] = {}
    for error in errors:
        if error.validator == "additionalProperties" and isinstance(error.instance, dict):
            allowed = list(error.schema.get("properties", {}))
            for key in error.instance:
                if key not in allowed:
                    close = difflib.get_close_matches(key, allowed, n=1)
                    if close:
                        typos.setdefault(tuple(error.absolute_path), {})[close[0]] = key
    found = []
    for error in errors:
        path = tuple(error.absolute_path)
        message = error.message
        if error.validator == "required" and isinstance(error.instance, dict):
            missing = [p for p in error.validator_value if p not in error.instance]
            if missing and missing[0] in typos.get(path, {}):
                continue
            if missing:
                path = (*path, missing[0])
                message = "required field is missing"
        elif error.validator == "additionalProperties" and isinstance(error.instance, dict):
            allowed = error.schema.get("properties", {})
            extra = sorted(k for k in error.instance if k not in allowed)
            if extra:
                path = (*path, extra[0])
                meant = {v: k for k, v in typos.get(path[:-1], {}).items()}.get(extra[0])
                hint = f"did you mean {meant!r}?" if meant else f"allowed: {', '.join(allowed)}"
                message = f"unknown field {extra[0]!r} ({hint})"
        elif error.validator == "anyOf" and path and path[-1] == "confidence":
            message = f"{error.instance!r} is not a number from 0 to 1 or one of " + ", ".join(
                CONFIDENCE_WORDS
            )
        elif error.validator in ("format", "pattern") and "date" in str(path[-1:]):
            message = f"{error.instance!r} is not a date (YYYY-MM-DD)"
        elif error.validator == "type" and error.validator_value == "array":
            message = f"must be a list, got {_kind(error.instance)}"
        elif error.validator == "type" and error.validator_value == "object":
            message = f"must be a mapping (key: value), got {_kind(error.instance)}"
        err = SourceError(name, _location(lines, path), message)
        found.append((_line(lines, path), _where(path), err))
    # One error per field, in file order: a bad date fails both format and pattern.
    seen: set[str] = set()
    out = []
    for _n, where, err in sorted(found, key=lambda t: (t[0], t[1])):
        if where not in seen:
            seen.add(where)
            out.append(err)
    return out


def _kind(value: Any) -> str:
    if value is None:
        return "nothing"
    return {dict: "a mapping", list: "a list", str: "text", bool: "true/false"}.get(
        type(value), type(value).__name__
    )


def _build(doc: dict, lines: dict, name: str, expected_id: str | None) -> MappingSet:
    """The model from a schema-valid document, plus the checks a schema cannot express."""
    problems: list[SourceError] = []

    def fail(path: _DocPath, message: str) -> None:
        problems.append(SourceError(name, _location(lines, path), message))

    if expected_id is not None and doc["id"] != expected_id:
        fail(("id",), f"id {doc['id']!r} must equal the file name ({expected_id}.yaml)")
    rows: list[Mapping] = []
    seen: dict[tuple, int] = {}
    for i, r in enumerate(doc["mappings"]):
        predicate = r["predicate"] if ":" in r["predicate"] else "skos:" + r["predicate"]
        conf = r.get("confidence")
        word = conf if isinstance(conf, str) else None
        m = Mapping(
            subject_system=doc["subject_system"],
            subject_code=r["subject"],
            predicate=predicate,
            object_system=doc["object_system"],
            object_code=r["object"],
            status=r["status"],
            author=r["author"],
            date=date.fromisoformat(r["date"]),
            justification=r.get("justification", MANUAL_CURATION),
            source=r.get("source"),
            confidence=CONFIDENCE_WORDS[word] if word else (None if conf is None else float(conf)),
            confidence_word=word,
            reason=r.get("reason"),
            comment=r.get("comment"),
            subject_label=r.get("subject_label"),
            object_label=r.get("object_label"),
            valid_from=date.fromisoformat(r["valid_from"]) if r.get("valid_from") else None,
            valid_to=date.fromisoformat(r["valid_to"]) if r.get("valid_to") else None,
            line=lines.get(("mappings", i)),
        )
        if m.valid_from and m.valid_to and m.valid_from > m.valid_to:
            fail(("mappings", i, "valid_to"), "valid_to is before valid_from")
        key = (m.subject_code, m.predicate, m.object_code)
        if key in seen:
            fail(("mappings", i), f"the same mapping as mappings[{seen[key]}]")
        seen.setdefault(key, i)
        rows.append(m)
    if problems:
        raise MappingFileError(problems)
    return MappingSet(
        id=doc["id"],
        title=doc["title"],
        subject_system=doc["subject_system"],
        object_system=doc["object_system"],
        mappings=tuple(rows),
        subject_scheme=doc.get("subject_scheme"),
        object_scheme=doc.get("object_scheme"),
        description=doc.get("description"),
        license=doc.get("license"),
        creators=tuple(doc.get("creators", ())),
        version=doc.get("version"),
        source_file=name,
    )


def load_mapping_sets(directory: str | Path | None = None) -> list[MappingSet]:
    """Every ``*.yaml`` mapping set in ``directory`` (default: :func:`mappings_dir`), by id.

    Raises :class:`MappingFileError` listing the problems of every bad file at once.
    """
    base = Path(directory) if directory is not None else mappings_dir()
    sets: list[MappingSet] = []
    problems: list[SourceError] = []
    # Every file is read even after a bad one: a curator fixes all problems in one round.
    for path in sorted(base.glob("*.yaml")):
        try:
            sets.append(load_mapping_set(path))
        except MappingFileError as exc:
            problems.extend(exc.problems)
        except SourceError as exc:
            problems.append(exc)
    ids: dict[str, str] = {}
    for ms in sets:
        if ms.id in ids:
            problems.append(
                SourceError(ms.source_file or ms.id, None, f"set id {ms.id!r} is used twice")
            )
        ids[ms.id] = ms.source_file or ""
    if problems:
        raise MappingFileError(problems)
    return sets


# --- writing -----------------------------------------------------------------------------------

_ROW_KEYS = (
    "subject", "subject_label", "predicate", "object", "object_label", "status", "author",
    "source", "date", "confidence", "justification", "reason", "comment", "valid_from",
    "valid_to",
)  # fmt: skip


def mapping_set_document(ms: MappingSet) -> dict[str, Any]:
    """The YAML document of a set (plain data in the file's key order)."""
    doc: dict[str, Any] = {"id": ms.id, "title": ms.title}
    for key in ("description", "version", "license"):
        if getattr(ms, key):
            doc[key] = getattr(ms, key)
    if ms.creators:
        doc["creators"] = list(ms.creators)
    for key in ("subject_scheme", "subject_system", "object_scheme", "object_system"):
        if getattr(ms, key):
            doc[key] = getattr(ms, key)
    rows = []
    for m in ms.mappings:
        row: dict[str, Any] = {
            "subject": m.subject_code,
            "subject_label": m.subject_label,
            "predicate": short_name(m.predicate),
            "object": m.object_code,
            "object_label": m.object_label,
            "status": m.status,
            "author": m.author,
            "source": m.source,
            "date": m.date.isoformat(),
            "confidence": m.confidence_word or m.confidence,
            "justification": None if m.justification == MANUAL_CURATION else m.justification,
            "reason": m.reason,
            "comment": m.comment,
            "valid_from": m.valid_from.isoformat() if m.valid_from else None,
            "valid_to": m.valid_to.isoformat() if m.valid_to else None,
        }
        rows.append({k: row[k] for k in _ROW_KEYS if row[k] is not None})
    doc["mappings"] = rows
    return doc


def mapping_set_yaml(ms: MappingSet, header: str = "") -> str:
    """The YAML text of a set, readable by :func:`parse_mapping_set`; ``header`` is a comment."""
    body = yaml.safe_dump(
        mapping_set_document(ms), sort_keys=False, allow_unicode=True, width=100, indent=2
    )
    comment = "".join(f"# {line}".rstrip() + "\n" for line in header.splitlines())
    schema_hint = f"# yaml-language-server: $schema={SCHEMA_FILE}\n"
    return schema_hint + comment + body


# --- checks against the vocabulary -------------------------------------------------------------


def check_mapping_set(ms: MappingSet, vocab, scales=None) -> list[MappingProblem]:
    """Problems of a set against a vocabulary: unknown systems or codes (a subject not in its
    scheme), wrong scheme ids, labels that differ from the vocabulary's, retired concepts, and
    scores mapped across constructs (:mod:`termserver.scales`: a compass score is never an FFB
    funktionsevneniveau; map the dimension, keep the score).

    Errors make the set unusable for translation; warnings are for the curator. ``scales`` is a
    :class:`~termserver.scales.ScaleIndex` to reuse over many sets.
    """
    from termserver.scales import ScaleIndex, crosswalk_problem

    if scales is None:
        scales = ScaleIndex(vocab)
    src = ms.source_file or ms.id
    out: list[MappingProblem] = []

    def add(severity: str, rule: str, where: str | None, message: str) -> None:
        out.append(MappingProblem(severity, src, where, message, rule))

    known = set(vocab.systems())
    for role in ("subject", "object"):
        system = getattr(ms, f"{role}_system")
        scheme = getattr(ms, f"{role}_scheme")
        if system not in known:
            add(
                "error",
                "mapping-unknown-system",
                f"{role}_system",
                f"unknown code system {system!r}",
            )
        elif scheme is not None:
            try:
                expected = vocab.system_of(scheme)
            except UnknownConceptError:
                add(
                    "error",
                    "mapping-unknown-scheme",
                    f"{role}_scheme",
                    f"unknown scheme {scheme!r}",
                )
            else:
                if expected != system:
                    add(
                        "error",
                        "mapping-unknown-scheme",
                        f"{role}_scheme",
                        f"scheme {scheme!r} has system {expected}",
                    )
    for i, m in enumerate(ms.mappings):
        where = f"line {m.line}, mappings[{i}]" if m.line else f"mappings[{i}]"
        points = {}
        for role, system, code, label in (
            ("subject", m.subject_system, m.subject_code, m.subject_label),
            ("object", m.object_system, m.object_code, m.object_label),
        ):
            if system not in known:
                continue
            concept = vocab.get(system, code)
            if concept is None:
                others = vocab.versions_of(system, code)
                hint = f" (only in version {', '.join(others)})" if others else ""
                text = f"unknown code {code!r} in {system}{hint}"
                if role == "subject":
                    rule = "mapping-subject-not-in-scheme"
                    text += f": the subject is not in its scheme ({vocab.scheme_of(system)})"
                else:
                    rule = "mapping-unknown-code"
                add("error", rule, f"{where}.{role}", text)
                continue
            points[role] = scales.point(system, code)
            if not concept.active:
                repl = ", ".join(
                    f"{r.display.strip()} ({r.code})" for r in vocab.replacement(concept)
                )
                hint = f"; replaced by {repl}" if repl else ""
                add(
                    "warning",
                    "mapping-retired-concept",
                    f"{where}.{role}",
                    f"{code!r} is {concept.status} in {system}{hint}",
                )
            if label is not None and label.strip() != concept.display.strip():
                add(
                    "warning",
                    "mapping-label-differs",
                    f"{where}.{role}_label",
                    f"label {label!r} differs from the vocabulary's {concept.display!r}",
                )
        if len(points) == 2:
            why = crosswalk_problem(points["subject"], points["object"])
            if why:
                add("error", "mapping-score-across-constructs", f"{where}.object", why)
            elif (
                points["subject"] is not None
                and points["object"] is not None
                and points["subject"].scale != points["object"].scale
                and m.predicate == EXACT
                and m.proposed
            ):
                add(
                    "error",
                    "mapping-scale-exact-unsourced",
                    f"{where}.predicate",
                    "exactMatch between steps of two different scales needs a published source "
                    "that equates them; propose closeMatch instead",
                )
    return out


def check_mapping_sets(sets: Iterable[MappingSet], vocab) -> list[MappingProblem]:
    """:func:`check_mapping_set` over several sets."""
    from termserver.scales import ScaleIndex

    scales = ScaleIndex(vocab)
    return [p for ms in sets for p in check_mapping_set(ms, vocab, scales)]
