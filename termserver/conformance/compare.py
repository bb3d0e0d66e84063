"""Comparison of an actual FHIR JSON answer with a suite's expected one (pure functions).

The rules are those of HL7's reference runner (the Java validator's ``-txtests`` mode):

* every property of the expected object must be in the actual one, unless listed in the
  object's ``$optional-properties$``; the actual object may hold nothing else (unexpected
  properties fail), except the optional ones;
* array order never matters: each actual item must match a distinct expected item, and every
  expected item not marked ``"$optional$": true`` must be matched; arrays named in
  ``$count-arrays$`` are compared by length only;
* ``$optional$`` and ``$only$`` take a filter (:func:`passes`): an item whose ``$optional$``
  filter passes may be missing; an item whose ``$only$`` filter does not pass must be absent
  (an actual item matching it fails), and is otherwise an ordinary item;
* *pattern mode* (the reference runner's for ``metadata`` and ``term-caps``): the expected
  document is a pattern the actual one must contain, so unexpected properties and extra array
  items are allowed, but every required expected item still needs its own actual item;
* a string ``$type$`` is matched by that type's pattern (``$id$``, ``$uuid$``, ``$instant$``,
  ``$date$``, ``$url$``, ``$token$``, ``$string$``, ``$semver$``, ``$version$``, ``$$``), and
  ``$choice:a|b$``, ``$fragments:a|b$`` and ``$external:N[:fragments]$`` (a message looked up in an
  externals file, else checked by its fragments) compare messages; inside a longer literal,
  ``$version$`` stands for the runner's ``version`` variable (the FHIR version it speaks, as in
  ``http://hl7.org/fhir/administrative-gender|$version$``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

OPTIONAL = "$optional$"
ONLY = "$only$"
OPTIONAL_PROPERTIES = "$optional-properties$"
COUNT_ARRAYS = "$count-arrays$"
_CONTROL = {OPTIONAL, ONLY, OPTIONAL_PROPERTIES, COUNT_ARRAYS, "fhir_comments"}
# Patterns as in the reference runner (org.hl7.fhir.utilities CompareUtilities).
_YEAR = r"([0-9]([0-9]([0-9][1-9]|[1-9]0)|[1-9]00)|[1-9]000)"
_ZONE = r"(Z|(\+|-)((0[0-9]|1[0-3]):[0-5][0-9]|14:00))"
_TIME = r"([01][0-9]|2[0-3]):[0-5][0-9]:([0-5][0-9]|60)(\.[0-9]{1,9})?"
_PATTERNS = {
    "$instant$": rf"{_YEAR}-(0[1-9]|1[0-2])-(0[1-9]|[1-2][0-9]|3[0-1])T{_TIME}{_ZONE}",
    "$date$": rf"{_YEAR}(-(0[1-9]|1[0-2])(-(0[1-9]|[1-2][0-9]|3[0-1])(T{_TIME})?)?"
    r"(Z|(\+|-)((0[0-9]|1[0-3]):[0-5][0-9]|14:00)?)?)?",
    "$uuid$": r"urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",
    "$id$": r"[A-Za-z0-9\-\.]{1,64}",
    "$url$": r"(https?://|www\.)[-a-zA-Z0-9+&@#/%?=~_|!:.;]*[-a-zA-Z0-9+&@#/%=~_|]",
    "$token$": r"[0-9a-zA-Z_][0-9a-zA-Z_\.\-]*",
    "$semver$": r"(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?"
    r"(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?",
}
_COMPILED = {k: re.compile(v) for k, v in _PATTERNS.items()}
# A variable inside a literal string: "http://hl7.org/fhir/administrative-gender|$version$".
_EMBEDDED = re.compile(r"\$(version)\$")
MAX_ARRAY = 2000  # matching is quadratic in array length; no suite array comes near this


class UnknownMarkerError(ValueError):
    """An expected string uses a ``$...$`` marker these rules do not define."""


@dataclass(frozen=True)
class Context:
    """What string matching needs beyond the two documents.

    ``externals``: message id -> text for the response file under test (from an externals file
    such as ``messages-tx.fhir.org.json``), or None to check ``$external$`` messages by their
    fragments only. ``variables``: values for ``$version$`` and similar (absent: any token).
    ``pattern``: compare in pattern mode (see the module docstring).
    """

    externals: Mapping[str, str] | None = None
    variables: Mapping[str, str] = field(default_factory=dict)
    modes: frozenset[str] = frozenset()
    pattern: bool = False


def compare(expected: Any, actual: Any, ctx: Context | None = None, path: str = "$") -> str | None:
    """None when ``actual`` satisfies ``expected``, else the first difference, with its path."""
    ctx = ctx or Context()
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return f"{path}: expected an object, got {_kind(actual)}"
        return _compare_objects(expected, actual, ctx, path)
    if isinstance(expected, list):
        if not isinstance(actual, list):
            return f"{path}: expected an array, got {_kind(actual)}"
        return _compare_arrays(expected, actual, ctx, path)
    if isinstance(expected, bool) or isinstance(actual, bool):
        if expected is actual:
            return None
        return f"{path}: expected {_show(expected)}, got {_show(actual)}"
    if isinstance(expected, str):
        if not isinstance(actual, str):
            return f"{path}: expected a string, got {_kind(actual)}"
        if string_matches(expected, actual, ctx):
            return None
        return f"{path}: expected {_show(expected)}, got {_show(actual)}"
    if isinstance(expected, int | float):
        if isinstance(actual, int | float) and actual == expected:
            return None
        return f"{path}: expected {_show(expected)}, got {_show(actual)}"
    if expected is None and actual is None:
        return None
    return f"{path}: expected {_show(expected)}, got {_show(actual)}"


def _compare_objects(expected: dict, actual: dict, ctx: Context, path: str) -> str | None:
    optional = set(expected.get(OPTIONAL_PROPERTIES) or ())
    count_only = set(expected.get(COUNT_ARRAYS) or ())
    for name in actual:
        # A property listed as optional may also appear where the expected object has none
        # (the suite lists "offset" so, for servers that echo it).
        unexpected = name not in _CONTROL and name not in expected and name not in optional
        if unexpected and not ctx.pattern:
            return f"{path}.{name}: unexpected property"
    for name, value in expected.items():
        if name in _CONTROL:
            continue
        if isinstance(value, dict) and is_excluded(value, ctx):
            if name in actual:
                return f"{path}.{name}: present, but {ONLY} {value[ONLY]!r} excludes it here"
            continue
        if name not in actual:
            if name in optional or _all_optional(value, ctx):
                continue
            return f"{path}.{name}: missing property"
        if name in count_only:
            want, got = _as_list(value), _as_list(actual[name])
            if len(want) != len(got):
                return f"{path}.{name}: expected {len(want)} items, got {len(got)}"
            continue
        diff = compare(value, actual[name], ctx, f"{path}.{name}")
        if diff:
            return diff
    return None


def passes(flag: Any, ctx: Context | None = None) -> bool:
    """Does a ``$optional$``/``$only$`` filter pass?

    JSON ``true`` always passes and ``false`` never; a string is a filter: ``"X"`` passes when
    mode X is on (so the string ``"true"`` names a mode, as in the reference runner's
    CompareUtilities), ``"!X"`` when it is off, ``"version:4"`` when the server's FHIR version
    (the ``version`` variable, else a ``version:N`` mode) starts with ``4``, and
    ``"warning:..."`` always. Anything else never passes."""
    ctx = ctx or Context()
    if isinstance(flag, bool):
        return flag
    if not isinstance(flag, str):
        return False
    if flag.startswith("warning:"):
        return True  # the reference runner only warns when such an item is missing
    if flag.startswith("!"):
        return not passes(flag[1:], ctx)
    if flag.startswith("version:"):
        known = ctx.variables.get("version")
        if known:
            return known.startswith(flag[len("version:") :])
    return flag in ctx.modes


def is_optional(item: Any, ctx: Context | None = None) -> bool:
    """An item the actual answer may leave out: its ``$optional$`` filter passes (see
    :func:`passes`), or its ``$only$`` filter does not (then it must even be left out)."""
    if not isinstance(item, dict):
        return False
    return (OPTIONAL in item and passes(item[OPTIONAL], ctx)) or is_excluded(item, ctx)


def is_excluded(item: Any, ctx: Context | None = None) -> bool:
    """An item that must not be in the answer: its ``$only$`` filter does not pass."""
    if not isinstance(item, dict) or ONLY not in item:
        return False
    if not isinstance(item[ONLY], bool | str):
        # Unlike an odd $optional$, which can only relax, a misread $only$ would forbid.
        raise UnknownMarkerError(f"{ONLY} {item[ONLY]!r} is not a filter")
    return not passes(item[ONLY], ctx)


def _all_optional(value: Any, ctx: Context) -> bool:
    # A property whose every expected item is optional may be absent altogether.
    if isinstance(value, list):
        return all(is_optional(v, ctx) for v in value)
    return is_optional(value, ctx)


def _excluded_present(expected: list, actual: list, ctx: Context, path: str) -> str | None:
    """The first actual item that matches an expected item ``$only$`` excludes here."""
    for e, want in enumerate(expected):
        if not is_excluded(want, ctx):
            continue
        for a, item in enumerate(actual):
            if compare(want, item, ctx, f"{path}[{a}]") is None:
                return (
                    f"{path}[{a}]: matches expected item [{e}], "
                    f"which {ONLY} {want[ONLY]!r} excludes here"
                )
    return None


def _compare_arrays(expected: list, actual: list, ctx: Context, path: str) -> str | None:
    if len(expected) > MAX_ARRAY or len(actual) > MAX_ARRAY:
        return f"{path}: array longer than {MAX_ARRAY} items; not compared"
    # An item excluded here counts as optional below; that no actual item matches it is
    # checked first, so the matching never gives it one.
    excluded = _excluded_present(expected, actual, ctx, path)
    if excluded:
        return excluded
    if ctx.pattern:
        return _contains_pattern(expected, actual, ctx, path)
    required = sum(1 for e in expected if not is_optional(e, ctx))
    allowed = sum(1 for e in expected if not is_excluded(e, ctx))
    if not required <= len(actual) <= allowed:
        return (
            f"{path}: expected {required}"
            + (f" to {allowed}" if required != allowed else "")
            + f" items, got {len(actual)}"
        )
    # Which expected items each actual item satisfies; then a maximum bipartite matching
    # (Kuhn's augmenting paths) decides whether every actual item has its own expected one.
    fits: list[list[int]] = []
    first_diff: dict[int, str] = {}
    for a, item in enumerate(actual):
        row = []
        for e, want in enumerate(expected):
            diff = compare(want, item, ctx, f"{path}[{a}]")
            if diff is None:
                row.append(e)
            else:
                first_diff.setdefault(a, diff)
        fits.append(row)
    owner: dict[int, int] = {}  # expected index -> actual index
    for a in range(len(actual)):
        if not _place(a, fits, owner, set()):
            detail = first_diff.get(a, "it matches only items that other actual items need")
            return f"{path}[{a}]: matches no expected item ({detail})"
    missing = [
        e for e in range(len(expected)) if e not in owner and not is_optional(expected[e], ctx)
    ]
    if missing:
        return f"{path}: expected item [{missing[0]}] has no match in the actual array"
    return None


def _place(
    item: int,
    fits: Sequence[list[int]] | Mapping[int, list[int]],
    owner: dict[int, int],
    seen: set[int],
) -> bool:
    """Kuhn's augmenting path: give ``item`` one of the partners it ``fits``, moving earlier
    holders (``owner``: partner -> item) to other partners where they can go."""
    for partner in fits[item]:
        if partner in seen:
            continue
        seen.add(partner)
        if partner not in owner or _place(owner[partner], fits, owner, seen):
            owner[partner] = item
            return True
    return False


def _contains_pattern(expected: list, actual: list, ctx: Context, path: str) -> str | None:
    """Pattern mode: every required expected item has its own matching actual item; the actual
    array may hold more (a maximum matching from the expected side, Kuhn's algorithm)."""
    wanted = [e for e in range(len(expected)) if not is_optional(expected[e], ctx)]
    fits = {
        e: [a for a, item in enumerate(actual) if compare(expected[e], item, ctx, path) is None]
        for e in wanted
    }
    owner: dict[int, int] = {}  # actual index -> expected index
    for e in wanted:
        if not _place(e, fits, owner, set()):
            return f"{path}: expected item [{e}] has no match in the actual array"
    return None


def string_matches(expected: str, actual: str, ctx: Context) -> bool:
    """Does ``actual`` satisfy the expected string, marker or literal?"""
    if not (len(expected) >= 2 and expected.startswith("$") and expected.endswith("$")):
        if "$" in expected and _EMBEDDED.search(expected):
            return _embedded_matches(expected, actual, ctx)
        return actual == expected
    body = expected[1:-1]
    if body.startswith("choice:"):
        return actual in body[len("choice:") :].split("|")
    if body.startswith("fragments:"):
        return _has_fragments(actual, body[len("fragments:") :])
    if body.startswith("external:"):
        _, _, rest = body.partition(":")
        key, _, fragments = rest.partition(":")
        if ctx.externals is not None and key in ctx.externals:
            return actual == ctx.externals[key]
        return _has_fragments(actual, fragments) if fragments else True
    if expected == "$$":
        return True
    if expected == "$string$":
        return actual == actual.strip()
    if expected == "$version$":
        known = ctx.variables.get("version")
        return actual == known if known else bool(_COMPILED["$token$"].fullmatch(actual))
    pattern = _COMPILED.get(expected)
    if pattern is None:
        raise UnknownMarkerError(f"unknown comparison marker {expected}")
    return pattern.fullmatch(actual) is not None


def _embedded_matches(expected: str, actual: str, ctx: Context) -> bool:
    # The variable's value where the runner knows it, else any token (as a lone $version$).
    parts, last = [], 0
    for m in _EMBEDDED.finditer(expected):
        parts.append(re.escape(expected[last : m.start()]))
        known = ctx.variables.get(m.group(1))
        parts.append(re.escape(known) if known else _PATTERNS["$token$"])
        last = m.end()
    parts.append(re.escape(expected[last:]))
    return re.fullmatch("".join(parts), actual) is not None


def _has_fragments(actual: str, fragments: str) -> bool:
    low = actual.lower()
    return all(f.lower() in low for f in fragments.split("|") if f)


def _as_list(value: Any) -> list:
    return value if isinstance(value, list) else [value]


def _kind(value: Any) -> str:
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, str):
        return "a string"
    if value is None:
        return "null"
    return "a number"


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 120 else text[:117] + "..."
