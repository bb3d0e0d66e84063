"""Reading plan input safely: JSON or YAML bytes into plain Python values, with hard limits.

Limits are checked before or while parsing, so a hostile document (50 MB, nested 10,000 deep,
a YAML alias bomb, a ``!!python/object`` tag) is refused quickly with a message that says where,
never parsed into something huge and never a stack trace.
"""

from __future__ import annotations

import re
from typing import Any

import orjson
import yaml

from termserver.errors import SourceError

MAX_BYTES = 10 * 1024 * 1024
MAX_DEPTH = 64  # YAML; JSON is capped by orjson's parser at 1024 levels (its own hard limit)
MAX_YAML_NODES = 200_000

_INT = re.compile(r"[-+]?[0-9]+\Z")
_FLOAT = re.compile(r"[-+]?(?:[0-9]+\.[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?\Z")
_NULLS = frozenset({"", "~", "null", "Null", "NULL"})
_TRUE = frozenset({"true", "True", "TRUE"})
_FALSE = frozenset({"false", "False", "FALSE"})
_STR_TAG = "tag:yaml.org,2002:str"
_ALLOWED_TAGS = frozenset(
    {
        None,
        "!",
        _STR_TAG,
        "tag:yaml.org,2002:int",
        "tag:yaml.org,2002:float",
        "tag:yaml.org,2002:bool",
        "tag:yaml.org,2002:null",
        "tag:yaml.org,2002:map",
        "tag:yaml.org,2002:seq",
    }
)
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class PlanInputError(SourceError):
    """Input that cannot be read as a plan at all (not JSON/YAML, too big, too deep, wrong type).

    ``status`` is the HTTP status an API answers with (400, 413 or 422).
    """

    def __init__(self, source: str, location: str | None, message: str, status: int = 400) -> None:
        super().__init__(source, location, message)
        self.status = status


def check_size(data: bytes, source: str) -> None:
    """Refuse input larger than :data:`MAX_BYTES`."""
    if len(data) > MAX_BYTES:
        raise PlanInputError(
            source,
            None,
            f"input er {len(data):,} bytes; højst {MAX_BYTES:,} bytes er tilladt "
            f"(input is larger than {MAX_BYTES:,} bytes)",
            status=413,
        )


def parse_json(data: bytes | str, source: str) -> Any:
    """Parse JSON with orjson; errors name line and column."""
    if isinstance(data, str):
        data = data.encode("utf-8")
    check_size(data, source)
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        where = f"linje {exc.lineno}, kolonne {exc.colno}"
        if "depth limit" in str(exc) or "recursion" in str(exc):
            raise PlanInputError(
                source, where, "JSON er indlejret for dybt (JSON nested too deeply)"
            ) from None
        raise PlanInputError(source, where, f"ugyldig JSON: {exc.msg} (invalid JSON)") from None


def parse_yaml(data: bytes | str, source: str) -> Any:
    """Parse one YAML document into plain values (dict, list, str, int, float, bool, None).

    Built from parser events rather than PyYAML's constructor so that: aliases are refused (no
    alias bombs), only the standard scalar tags are accepted (no Python objects), nesting and
    node count are capped, duplicate keys are errors, and dates stay ISO strings (YAML 1.2 core
    schema: ``no`` is the string "no", not False).
    """
    if isinstance(data, str):
        data = data.encode("utf-8")
    check_size(data, source)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PlanInputError(
            source, f"byte {exc.start}", "input er ikke UTF-8 (not UTF-8)"
        ) from None
    # Each stack entry: [container, pending mapping key or _NO_KEY, line of that key]
    stack: list[list[Any]] = []
    root: Any = _NO_VALUE
    nodes = 0
    documents = 0
    # The loop runs once per YAML event (~1,500 for a typical plan) and costs as much as libyaml
    # itself, so the event classes are local names and the common scalar (a string) takes the
    # shortest path; every limit is still checked on every event.
    scalar_event, alias_event = yaml.ScalarEvent, yaml.AliasEvent
    starts = {yaml.MappingStartEvent: dict, yaml.SequenceStartEvent: list}
    ends = (yaml.MappingEndEvent, yaml.SequenceEndEvent)
    loader = _Loader(text)
    next_event = loader.get_event  # what yaml.parse does, without its generator per event
    try:
        while True:
            ev = next_event()
            kind = type(ev)
            if kind is scalar_event:
                if ev.tag not in _ALLOWED_TAGS or ev.anchor is not None:
                    _scalar(ev, source)  # raises the matching error
                # Quoted or block text without a tag is always a string.
                value = ev.value if ev.style and ev.tag is None else _scalar(ev, source)
            elif kind in starts:
                _check_tag(ev, source)
                if ev.anchor is not None:
                    raise _at(source, ev, "YAML-ankre (&) og aliaser (*) er ikke tilladt")
                if len(stack) >= MAX_DEPTH:
                    raise _at(source, ev, f"YAML er indlejret dybere end {MAX_DEPTH} niveauer")
                nodes += 1
                stack.append([starts[kind](), _NO_KEY, ev.start_mark.line + 1])
                continue
            elif kind in ends:
                value = stack.pop()[0]
            elif kind is alias_event:
                raise _at(source, ev, "YAML-aliaser (*) er ikke tilladt (no aliases)")
            elif kind is yaml.DocumentStartEvent:
                documents += 1
                if documents > 1:
                    raise _at(source, ev, "kun ét YAML-dokument pr. fil (one document only)")
                continue
            elif kind is yaml.StreamEndEvent or ev is None:
                break
            else:
                continue
            nodes += 1
            if nodes > MAX_YAML_NODES:
                raise _at(source, ev, f"YAML har mere end {MAX_YAML_NODES:,} elementer")
            if not stack:
                root = value
                continue
            top = stack[-1]
            parent = top[0]
            if type(parent) is list:
                parent.append(value)
            elif top[1] is _NO_KEY:
                if type(value) is not str:
                    if not isinstance(value, int | float | bool) and value is not None:
                        raise _at(source, ev, "en nøgle skal være en simpel værdi (scalar key)")
                    value = str(value) if value is not None else ""
                if value in parent:
                    raise _at(source, ev, f"nøglen {value!r} står to gange (duplicate key)")
                top[1] = value
            else:
                parent[top[1]] = value
                top[1] = _NO_KEY
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"linje {mark.line + 1}, kolonne {mark.column + 1}" if mark else None
        raise PlanInputError(
            source, where, f"ugyldig YAML: {exc.problem or exc.context} (invalid YAML)"
        ) from None
    except yaml.YAMLError as exc:
        raise PlanInputError(source, None, f"ugyldig YAML: {exc} (invalid YAML)") from None
    finally:
        loader.dispose()
    if root is _NO_VALUE:
        raise PlanInputError(source, None, "input er tomt (empty input)")
    return root


def parse_any(data: bytes | str, source: str, media_type: str | None = None) -> Any:
    """JSON or YAML by media type or file name; JSON when the text starts with ``{``."""
    kind = (media_type or "").lower()
    if "yaml" in kind or source.lower().endswith((".yaml", ".yml")):
        return parse_yaml(data, source)
    if "json" in kind or source.lower().endswith(".json"):
        return parse_json(data, source)
    head = data.lstrip()[:1] if isinstance(data, bytes) else data.lstrip()[:1].encode()
    return parse_json(data, source) if head in (b"{", b"[") else parse_yaml(data, source)


class _Marker:
    __slots__ = ()


_NO_KEY = _Marker()
_NO_VALUE = _Marker()


def _at(source: str, ev: Any, message: str) -> PlanInputError:
    mark = ev.start_mark
    return PlanInputError(source, f"linje {mark.line + 1}, kolonne {mark.column + 1}", message)


def _check_tag(ev: Any, source: str) -> None:
    if ev.tag not in _ALLOWED_TAGS:
        raise _at(source, ev, f"YAML-mærket {ev.tag!r} er ikke tilladt (tag not allowed)")


def _scalar(ev: Any, source: str) -> Any:
    _check_tag(ev, source)
    if ev.anchor is not None:
        raise _at(source, ev, "YAML-ankre (&) og aliaser (*) er ikke tilladt")
    value = ev.value
    tag = ev.tag
    plain = ev.implicit[0] and not ev.style
    if tag == _STR_TAG or tag == "!" or (not plain and tag is None):
        return value
    if value in _NULLS and (plain or tag == "tag:yaml.org,2002:null"):
        return None
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    if len(value) <= 32 and _INT.match(value):
        return int(value)
    if len(value) <= 32 and _FLOAT.match(value):
        return float(value)
    if tag is not None:
        raise _at(source, ev, f"værdien {value!r} passer ikke til mærket {tag!r}")
    return value
