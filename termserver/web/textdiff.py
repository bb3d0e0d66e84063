"""Word-level differences between two texts, so a reader sees which words a change touches."""

from __future__ import annotations

import re
from difflib import SequenceMatcher

#: A word with the whitespace after it, so a run of changed words reads as one marked phrase.
_TOKEN = re.compile(r"^\s+|\S+\s*")
#: Longer texts are shown whole, marked as changed (the matcher is quadratic in the worst case).
MAX_TOKENS = 4000

Parts = list[tuple[str, bool]]


def word_diff(before: str | None, after: str | None) -> tuple[Parts, Parts]:
    """``before`` and ``after`` cut into (text, changed) runs: words only in ``before`` are
    changed on the left, words only in ``after`` on the right."""
    a, b = _TOKEN.findall(before or ""), _TOKEN.findall(after or "")
    if len(a) + len(b) > MAX_TOKENS:
        return [(before or "", True)], [(after or "", True)]
    left: Parts = []
    right: Parts = []
    matcher = SequenceMatcher(None, a, b, autojunk=False)
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op == "equal":
            _add(left, "".join(a[i1:i2]), False)
            _add(right, "".join(b[j1:j2]), False)
            continue
        if i2 > i1:
            _add(left, "".join(a[i1:i2]), True)
        if j2 > j1:
            _add(right, "".join(b[j1:j2]), True)
    return left, right


def _add(parts: Parts, text: str, changed: bool) -> None:
    if parts and parts[-1][1] == changed:
        parts[-1] = (parts[-1][0] + text, changed)
    else:
        parts.append((text, changed))
