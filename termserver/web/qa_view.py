"""The QA report, release comparisons and older releases for the curation pages, cached.

All read immutable releases, so a result stays true for as long as its release exists: the QA
report is cached per release name (a full run with the OWL reasoner takes seconds, see
bench/bench_web_curation.py), a comparison per pair of release names, and the last few older
releases' snapshots (loading one takes about half a second).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from termserver.qa import Finding, QaReport, run_check

# termserver.diff and termserver.mapping_qa are imported where they are used, on the first
# comparison or QA page: deferred for start-up time.
if TYPE_CHECKING:
    from termserver.diff import ReleaseDiff
    from termserver.mapping_qa import ToolCoverage

#: Findings listed per rule; the rest are counted.
MAX_PER_RULE = 50
MAX_CACHED_DIFFS = 8
#: Older releases' snapshots kept loaded (each is the whole vocabulary, tens of MB).
MAX_CACHED_SNAPSHOTS = 2
SEVERITY_DA = {"error": "fejl", "warning": "advarsel", "information": "oplysning"}


@dataclass(frozen=True)
class RuleGroup:
    """The findings of one QA rule."""

    rule: str
    severity: str
    count: int
    shown: tuple[Finding, ...]


@dataclass(frozen=True)
class QaPage:
    """What the QA page shows for one release."""

    release: str
    report: QaReport
    groups: tuple[RuleGroup, ...]
    coverage: tuple[ToolCoverage, ...]
    seconds: float


def _groups(report: QaReport) -> tuple[RuleGroup, ...]:
    by_rule: dict[str, list[Finding]] = {}
    for f in report.findings:
        by_rule.setdefault(f.rule, []).append(f)
    order = {"error": 0, "warning": 1, "information": 2}
    groups = [
        RuleGroup(rule, items[0].severity, len(items), tuple(items[:MAX_PER_RULE]))
        for rule, items in by_rule.items()
    ]
    return tuple(sorted(groups, key=lambda g: (order.get(g.severity, 9), -g.count, g.rule)))


class ReportCache:
    """QA pages per release and release diffs per pair, computed at most once each."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._qa: dict[str, QaPage] = {}
        self._diffs: OrderedDict[tuple[str, str], ReleaseDiff] = OrderedDict()
        self._snapshots: OrderedDict[str, Any] = OrderedDict()

    def release_snapshot(self, cur: Any, name: str) -> Any:
        """The snapshot of release ``name``: the served one, or an older one loaded once."""
        current = cur.snapshot()
        if current.release == name:
            return current
        with self._lock:
            if name in self._snapshots:
                self._snapshots.move_to_end(name)
                return self._snapshots[name]
        loaded = cur.release_snapshot(name)
        with self._lock:
            self._snapshots[name] = loaded
            while len(self._snapshots) > MAX_CACHED_SNAPSHOTS:
                self._snapshots.popitem(last=False)
        return loaded

    def qa(self, release: str, ontology: Path, snapshot: Any) -> QaPage:
        """The QA page of ``release`` (its content under ``ontology``)."""
        import time

        with self._lock:
            found = self._qa.get(release)
            if found is not None:
                return found
            start = time.perf_counter()
            from termserver.mapping_qa import coverage

            report = run_check(ontology)
            tools = coverage(snapshot.translator, snapshot.vocab)
            page = QaPage(
                release, report, _groups(report), tuple(tools), time.perf_counter() - start
            )
            self._qa = {release: page}  # only the newest release is asked for
            return page

    def diff(self, key: tuple[str, str], make) -> ReleaseDiff:
        """The diff for a pair of releases, made by ``make()`` the first time."""
        with self._lock:
            if key in self._diffs:
                self._diffs.move_to_end(key)
                return self._diffs[key]
        made = make()
        with self._lock:
            self._diffs[key] = made
            while len(self._diffs) > MAX_CACHED_DIFFS:
                self._diffs.popitem(last=False)
        return made


def cache_of(app: Any) -> ReportCache:
    """The app's cache (made on first use)."""
    cache = getattr(app.state, "web_reports", None)
    if cache is None:
        cache = ReportCache()
        app.state.web_reports = cache
    return cache
