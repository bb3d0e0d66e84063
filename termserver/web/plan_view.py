"""Where a plan finding sits in the text the user pasted: path → line numbers and a quote.

The validation engine names places as JSONPath (``$.conditions[0].code.display``, native plans)
or FHIRPath (``Bundle.entry[8].resource.code.coding[0].display``). To show the line, the text is
composed once more as a YAML node tree (JSON is YAML for this purpose), which keeps the start and
end line of every node; the path is then walked down that tree. Only text the engine already
accepted is composed, and only up to :data:`MAX_LOCATE_BYTES`, so this adds no new risk.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

import yaml

# The rules are imported by the functions that use them: deferred for start-up time.
if TYPE_CHECKING:
    from termserver.plans.rules import Finding
    from termserver.plans.validate import Report

#: Larger inputs are validated but not mapped to lines (composing costs time and memory).
MAX_LOCATE_BYTES = 2 * 1024 * 1024
#: The pasted text is listed with numbered lines up to this many lines.
MAX_LISTED_LINES = 4000
#: A quoted fragment shows at most this many lines.
MAX_QUOTE_LINES = 6
SEVERITY_DA = {"error": "fejl", "warning": "advarsel", "information": "oplysning"}

_STEP = re.compile(r"\.([^.\[\]()]+)|\[(\d+)\]|\['([^']*)'\]|\[\"([^\"]*)\"\]")
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass(frozen=True)
class Located:
    """A finding and where it is in the text: first/last line (1-based) and the quoted lines."""

    finding: Finding
    line: int | None
    end_line: int | None
    quote: tuple[tuple[int, str], ...]
    exact: bool  # False when only an enclosing element was found

    @property
    def severity_da(self) -> str:
        return SEVERITY_DA.get(self.finding.severity, self.finding.severity)


def path_steps(location: str) -> list[str | int] | None:
    """``$.a[0].b`` or ``Bundle.a[0].b`` → ``["a", 0, "b"]``; None if not a path we can walk.

    The first FHIRPath step names the root resource type and is not a key.
    """
    text = location.strip()
    if text.startswith("$"):
        rest = text[1:]
    else:
        head = re.match(r"[A-Z][A-Za-z]*", text)
        if head is None:
            return None
        rest = text[head.end() :]
    steps: list[str | int] = []
    pos = 0
    while pos < len(rest):
        m = _STEP.match(rest, pos)
        if m is None:
            break
        name, index, q1, q2 = m.groups()
        if name is not None and rest.startswith("(", m.end()):
            break  # a function call or filter: stop at the element before it
        steps.append(int(index) if index is not None else (name or q1 or q2 or ""))
        pos = m.end()
    return steps


def compose(text: str) -> yaml.Node | None:
    """The node tree of ``text`` (JSON or YAML), or None if it cannot be composed."""
    if len(text.encode("utf-8", "replace")) > MAX_LOCATE_BYTES:
        return None
    try:
        return yaml.compose(text, Loader=_Loader)
    except yaml.YAMLError:
        return None


def _child(node: yaml.Node, step: str | int) -> yaml.Node | None:
    if isinstance(node, yaml.MappingNode) and isinstance(step, str):
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode) and key.value == step:
                return value
    in_list = isinstance(node, yaml.SequenceNode) and isinstance(step, int)
    if in_list and 0 <= step < len(node.value):
        return node.value[step]
    return None


def _unwrap_parameters(root: yaml.Node) -> yaml.Node:
    """A FHIR ``Parameters`` wrapper: the Bundle in its ``resource`` parameter."""
    rt = _child(root, "resourceType")
    if not (isinstance(rt, yaml.ScalarNode) and rt.value == "Parameters"):
        return root
    params = _child(root, "parameter")
    for p in params.value if isinstance(params, yaml.SequenceNode) else []:
        name = _child(p, "name")
        if isinstance(name, yaml.ScalarNode) and name.value == "resource":
            return _child(p, "resource") or root
    return root


def find_node(root: yaml.Node, location: str) -> tuple[yaml.Node | None, bool]:
    """The node at ``location`` (or the deepest one on the way there) and whether it is exact."""
    steps = path_steps(location)
    if steps is None:
        return None, False
    node = root if location.startswith("$") else _unwrap_parameters(root)
    for step in steps:
        nxt = _child(node, step)
        if nxt is None:
            return node, False
        node = nxt
    return node, True


def _span(node: yaml.Node) -> tuple[int, int]:
    first = node.start_mark.line + 1
    last = node.end_mark.line + 1
    # A block node ends at the start of the next line; that line is not part of it.
    if node.end_mark.column == 0 and last > first:
        last -= 1
    return first, last


def locate(report: Report, text: str) -> list[Located]:
    """Every finding of ``report``, most severe first, with its place in ``text``."""
    from termserver.plans.rules import SEVERITY_ORDER

    root = compose(text) if text else None
    lines = text.splitlines()
    found = []
    ordered = sorted(report.findings, key=lambda f: SEVERITY_ORDER.get(f.severity, 9))
    for f in ordered:
        node, exact = find_node(root, f.location) if root is not None else (None, False)
        if node is None:
            found.append(Located(f, None, None, (), False))
            continue
        first, last = _span(node)
        shown = range(first, min(last, first + MAX_QUOTE_LINES - 1) + 1)
        quote = tuple((n, lines[n - 1]) for n in shown if 0 < n <= len(lines))
        found.append(Located(f, first, last, quote, exact))
    return found


def marked_lines(located: list[Located]) -> dict[int, str]:
    """Line number → the worst severity of a finding on it (for highlighting the listing)."""
    from termserver.plans.rules import SEVERITY_ORDER

    marks: dict[int, str] = {}
    for loc in located:
        if loc.line is None:
            continue
        last = min(loc.end_line or loc.line, loc.line + MAX_QUOTE_LINES - 1)
        for n in range(loc.line, last + 1):
            old = marks.get(n)
            sev = loc.finding.severity
            if old is None or SEVERITY_ORDER[sev] < SEVERITY_ORDER[old]:
                marks[n] = sev
    return marks
