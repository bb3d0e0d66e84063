"""Operation parameters from a query string or a FHIR ``Parameters`` body, checked and typed.

Both forms become one :class:`OperationParams`; every operation then reads typed values from it
and gets a 400 OperationOutcome naming the parameter when one is missing, repeated or malformed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from termserver.fhir.outcome import bad_request

_VALUE_TYPES = (
    "valueString", "valueCode", "valueUri", "valueUrl", "valueCanonical", "valueBoolean",
    "valueInteger", "valueDateTime", "valueDate", "valueCoding", "valueCodeableConcept",
    "valueDecimal", "valueId", "valueMarkdown", "valueOid", "valueUuid",
)  # fmt: skip
MAX_PARAMETERS = 200
MAX_STRING = 4096
#: Deeper JSON than any real Parameters body; orjson cannot write past 255 levels.
MAX_DEPTH = 64
# ASCII digits only: int() also accepts "²", "٣" and "1_0", which no FHIR integer is.
_INTEGER = re.compile(r"-?[0-9]{1,12}")


@dataclass(frozen=True, slots=True)
class Coding:
    """A FHIR Coding given to an operation."""

    system: str | None
    code: str | None
    version: str | None = None
    display: str | None = None


class OperationParams:
    """Named parameter values, each a list (a name may legally repeat for some parameters)."""

    def __init__(
        self, values: dict[str, list[Any]], types: dict[str, list[str]] | None = None
    ) -> None:
        self._values = values
        # The value[x] key of each value (POST only): what an operation echoes back as given.
        self._types = types or {}

    @classmethod
    def from_query(cls, items: Iterable[tuple[str, str]]) -> OperationParams:
        """From URL query pairs (GET)."""
        values: dict[str, list[Any]] = {}
        for i, (name, value) in enumerate(items):
            if i >= MAX_PARAMETERS:
                raise bad_request(f"too many parameters (at most {MAX_PARAMETERS})")
            if len(value) > MAX_STRING:
                raise bad_request(
                    f"parameter '{name}' is too long (at most {MAX_STRING} characters)", name
                )
            values.setdefault(name, []).append(value)
        return cls(values)

    @classmethod
    def from_body(cls, body: Any) -> OperationParams:
        """From a ``Parameters`` resource (POST); each error names the JSON path."""
        if not isinstance(body, dict):
            raise bad_request("the request body must be a FHIR Parameters resource (a JSON object)")
        if body.get("resourceType") != "Parameters":
            got = body.get("resourceType")
            raise bad_request(
                f"expected resourceType 'Parameters', got {got!r}", "Parameters.resourceType"
            )
        params = body.get("parameter", [])
        if not isinstance(params, list):
            raise bad_request("'parameter' must be an array", "Parameters.parameter")
        if len(params) > MAX_PARAMETERS:
            raise bad_request(
                f"too many parameters (at most {MAX_PARAMETERS})", "Parameters.parameter"
            )
        values: dict[str, list[Any]] = {}
        types: dict[str, list[str]] = {}
        for i, p in enumerate(params):
            where = f"Parameters.parameter[{i}]"
            if not isinstance(p, dict) or not isinstance(p.get("name"), str):
                raise bad_request("each parameter needs a 'name' string", where)
            keys = [k for k in p if k.startswith("value")] + (
                ["resource"] if "resource" in p else []
            )
            keys += ["part"] if "part" in p else []
            if len(keys) != 1:
                raise bad_request(
                    f"parameter '{p['name']}' needs exactly one value[x], resource or part", where
                )
            key = keys[0]
            if key.startswith("value") and key not in _VALUE_TYPES:
                raise bad_request(f"parameter '{p['name']}' has an unsupported type {key}", where)
            value = p[key]
            if isinstance(value, str) and len(value) > MAX_STRING:
                raise bad_request(f"parameter '{p['name']}' is too long", where)
            values.setdefault(p["name"], []).append(value)
            types.setdefault(p["name"], []).append(key)
        return cls(values, types)

    def with_value(self, name: str, key: str, value: Any) -> OperationParams:
        """A copy with ``name`` set to ``value`` (sent as ``key``), unless already given."""
        if name in self._values:
            return self
        return OperationParams(self._values | {name: [value]}, self._types | {name: [key]})

    def given(self, name: str) -> list[tuple[str | None, Any]]:
        """Every value of ``name`` with its value[x] key as sent (None from a query string)."""
        keys = self._types.get(name, [])
        return [(keys[i] if i < len(keys) else None, v) for i, v in enumerate(self.all(name))]

    def names(self) -> set[str]:
        """The parameter names present."""
        return set(self._values)

    def _single(self, name: str) -> Any | None:
        values = self._values.get(name)
        if not values:
            return None
        if len(values) > 1:
            raise bad_request(f"parameter '{name}' may be given only once", name)
        return values[0]

    def all(self, name: str) -> list[Any]:
        """Every value of a repeatable parameter."""
        return list(self._values.get(name, []))

    def strings(self, name: str) -> list[str]:
        """Every value of a repeatable string parameter; 400 when one is not a string."""
        values = self.all(name)
        for value in values:
            if not isinstance(value, str):
                raise bad_request(f"parameter '{name}' must be a string", name)
        return values

    def str(self, name: str, *, required: bool = False) -> str | None:
        """A single string-like value."""
        value = self._single(name)
        if value is None:
            if required:
                raise bad_request(f"parameter '{name}' is required", name)
            return None
        if not isinstance(value, str):
            raise bad_request(f"parameter '{name}' must be a string", name)
        if required and not value.strip():
            raise bad_request(f"parameter '{name}' must not be empty", name)
        return value

    def bool(self, name: str, default: bool = False) -> bool:
        """A single boolean; query strings accept true/false."""
        value = self._single(name)
        if value is None:
            return default
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        raise bad_request(f"parameter '{name}' must be true or false, got {value!r}", name)

    def int(
        self, name: str, *, default: int | None = None, minimum: int = 0, maximum: int
    ) -> int | None:
        """A single integer within [minimum, maximum]."""
        value = self._single(name)
        if value is None:
            return default
        if isinstance(value, str):
            text = value.strip()
            if not _INTEGER.fullmatch(text):
                raise bad_request(f"parameter '{name}' must be an integer, got {value!r}", name)
            value = int(text)
        if isinstance(value, bool) or not isinstance(value, int):
            raise bad_request(f"parameter '{name}' must be an integer", name)
        if not minimum <= value <= maximum:
            raise bad_request(
                f"parameter '{name}' must be between {minimum} and {maximum}, got {value}", name
            )
        return value

    def coding(self, name: str) -> Coding | None:
        """A single Coding (POST only; GET has no syntax for it)."""
        value = self._single(name)
        if value is None:
            return None
        return _coding(value, name)

    def codeable_concept(self, name: str) -> list[Coding] | None:
        """The codings of a single CodeableConcept."""
        value = self._single(name)
        if value is None:
            return None
        if not isinstance(value, dict) or not isinstance(value.get("coding", []), list):
            raise bad_request(f"parameter '{name}' must be a CodeableConcept", name)
        out = []
        for i, c in enumerate(value.get("coding", [])):
            out.append(_coding(c, f"{name}.coding[{i}]"))
        return out

    def resource(self, name: str) -> dict | None:
        """A single inline resource."""
        value = self._single(name)
        if value is not None and not isinstance(value, dict):
            raise bad_request(f"parameter '{name}' must be a resource", name)
        return value


def _coding(value: Any, where: str) -> Coding:
    if not isinstance(value, dict):
        raise bad_request(f"{where} must be a Coding", where)
    fields = {}
    for key in ("system", "code", "version", "display"):
        v = value.get(key)
        if v is not None and not isinstance(v, str):
            raise bad_request(f"{where}.{key} must be a string", f"{where}.{key}")
        fields[key] = v
    return Coding(**fields)


def check_depth(value: Any, limit: int = MAX_DEPTH) -> None:
    """400 naming the JSON path where ``value`` nests deeper than ``limit`` levels."""
    # Paths are linked (parent, key) pairs, rendered only for the error: O(1) per node.
    stack: list[tuple[Any, int, tuple | None]] = [(value, 1, None)]
    while stack:
        node, depth, path = stack.pop()
        if isinstance(node, dict):
            children: Iterable[tuple[Any, Any]] = node.items()
        elif isinstance(node, list):
            children = enumerate(node)
        else:
            continue
        if depth > limit:
            raise bad_request(
                f"the request body nests deeper than {limit} levels", _render_path(path)
            )
        stack.extend((child, depth + 1, (path, key)) for key, child in children)


def _render_path(path: tuple | None) -> str:
    keys = []
    while path is not None:
        path, key = path
        keys.append(f"[{key}]" if isinstance(key, int) else f".{key}")
    return "$" + "".join(reversed(keys))
