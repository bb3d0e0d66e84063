"""Label search benchmark: LabelIndex against a naive linear scan, on generated FFB-like labels.

Run: python bench/bench_search.py [--labels 100000] [--queries 400] [--baseline-queries 40]

Labels recombine the words of the real FFB and FSIII labels, drawn by how often each word occurs
there and in as many words as real labels have, so the token distribution is realistic. Everything
is seeded, so a run is repeatable. The baseline (casefold substring test plus rapidfuzz ratio for
every label) runs in the same process on the same labels, so the speed-up ratio is meaningful even
on a busy machine; absolute figures are not. The baseline is slow, so it gets fewer queries.
"""

from __future__ import annotations

import argparse
import heapq
import json
import platform
import random
import re
import statistics
import sys
import time
from pathlib import Path

from rapidfuzz import fuzz

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from termserver.search import LabelIndex  # noqa: E402

SOURCES = ("CodeSystem-FFB-20240530.json", "CodeSystem-FSIII.json")


def real_labels() -> list[str]:
    """Display labels of the real FFB 20240530 and FSIII code systems."""
    labels: list[str] = []

    def walk(items: list) -> None:
        for c in items:
            labels.append(c.get("display", ""))
            walk(c.get("concept", []))

    for name in SOURCES:
        walk(json.loads((ROOT / "data" / "kl" / name).read_text("utf-8"))["concept"])
    return [label for label in labels if label.strip()]


def generate(n: int, seed: int) -> list[tuple[int, str, bool]]:
    """n (id, label, preferred) entries; about one in five is an alternative label."""
    rnd = random.Random(seed)
    real = real_labels()
    words = [w for label in real for w in re.split(r"[\s,/()]+", label) if w]
    lengths = [len(label.split()) for label in real]
    entries: list[tuple[int, str, bool]] = []
    item = -1
    for _ in range(n):
        label = " ".join(rnd.choice(words) for _ in range(rnd.choice(lengths))).capitalize()
        preferred = item < 0 or rnd.random() > 0.2
        item += preferred
        entries.append((item, label, preferred))
    return entries


def typo(word: str, rnd: random.Random) -> str:
    """One transposition, deletion or substitution inside the word."""
    i = rnd.randrange(1, len(word) - 1)
    kind = rnd.randrange(3)
    if kind == 0:
        return word[:i] + word[i + 1] + word[i] + word[i + 2 :]
    if kind == 1:
        return word[:i] + word[i + 1 :]
    return word[:i] + rnd.choice("aeiounrst") + word[i + 1 :]


def queries(entries: list[tuple[int, str, bool]], n: int, seed: int) -> list[tuple[str, str]]:
    """(kind, query) pairs cycling through exact, prefix, multi-word, compound and typo."""
    rnd = random.Random(seed + 1)
    out: list[tuple[str, str]] = []
    kinds = ("exact", "prefix", "multi-word", "compound", "typo")
    while len(out) < n:
        label = rnd.choice(entries)[1]
        words = label.split()
        kind = kinds[len(out) % len(kinds)]
        if kind == "exact":
            q = label.lower()
        elif kind == "prefix":
            q = words[0][: rnd.randint(2, 5)]
        elif kind == "multi-word" and len(words) > 1:
            q = f"{words[-1]} {words[0][:4]}"
        elif kind == "compound" and len(words) > 1:
            q = "".join(words[:2]).lower()
        elif kind == "typo" and any(len(w) > 4 for w in words):
            q = " ".join(typo(w, rnd) if len(w) > 4 else w for w in words[:2])
        else:
            continue
        out.append((kind, q))
    return out


class Baseline:
    """The naive approach: scan every label, casefold substring test, else rapidfuzz ratio."""

    def __init__(self, entries: list[tuple[int, str, bool]]) -> None:
        self.rows = [(item, label.casefold(), label) for item, label, _ in entries]

    def search(self, query: str, limit: int = 20) -> list[tuple[int, float, str]]:
        q = query.casefold()
        scored = (
            (100.0 if q in folded else fuzz.ratio(q, folded), item, label)
            for item, folded, label in self.rows
        )
        return [(i, s, label) for s, i, label in heapq.nlargest(limit, scored)]


def timed(search, qs: list[str], rounds: int) -> list[float]:
    """Seconds per query, one figure per query per round (after one warm-up round)."""
    for q in qs:
        search(q)
    lat = []
    for _ in range(rounds):
        for q in qs:
            t = time.perf_counter()
            search(q)
            lat.append(time.perf_counter() - t)
    return lat


def p99(xs: list[float]) -> float:
    return sorted(xs)[max(0, int(len(xs) * 0.99) - 1)]


def row(name: str, xs: list[float]) -> tuple[str, str, str, str, str]:
    ms = [x * 1e3 for x in xs]
    return (name, f"{min(ms):.3f}", f"{statistics.median(ms):.3f}", f"{p99(ms):.3f}", str(len(xs)))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--labels", type=int, default=100_000, help="labels to index")
    ap.add_argument("--queries", type=int, default=400, help="queries for the index")
    ap.add_argument("--baseline-queries", type=int, default=40, help="queries for the baseline")
    ap.add_argument("--rounds", type=int, default=3, help="timed rounds over the query set")
    ap.add_argument("--seed", type=int, default=42)
    args = ap.parse_args()

    print(
        f"# bench_search  {time.strftime('%Y-%m-%d')}  {platform.node()}  "
        f"{platform.processor() or platform.machine()}  python {platform.python_version()}"
    )
    entries = generate(args.labels, args.seed)
    t = time.perf_counter()
    index = LabelIndex(entries)
    build = time.perf_counter() - t
    print(f"build: {len(entries):,} labels, {entries[-1][0] + 1:,} ids in {build:.2f} s")

    qs = queries(entries, args.queries, args.seed)
    rows = [row("index, all queries", lat := timed(index.search, [q for _, q in qs], args.rounds))]
    for kind in ("exact", "prefix", "multi-word", "compound", "typo"):
        kqs = [q for k, q in qs if k == kind]
        rows.append(row(f"index, {kind}", timed(index.search, kqs, args.rounds)))
    few = [q for _, q in qs[: args.baseline_queries]]
    baseline = Baseline(entries)
    base_lat = timed(baseline.search, few, 1)
    mine = timed(index.search, few, args.rounds)
    rows.append(row("index, baseline's queries", mine))
    rows.append(row("naive scan baseline", base_lat))

    head = ("measure (ms per query)", "min", "median", "p99", "n")
    width = max(len(r[0]) for r in [head, *rows])
    print(f"{head[0]:{width}}  {head[1]:>8}  {head[2]:>8}  {head[3]:>8}  {head[4]:>6}")
    for name, mn, med, hi, n in rows:
        print(f"{name:{width}}  {mn:>8}  {med:>8}  {hi:>8}  {n:>6}")
    ratio = statistics.median(base_lat) / statistics.median(mine)
    print(f"speed-up over baseline (median): {ratio:,.0f}x")
    verdict = "ok" if p99(lat) < 5e-3 else "OVER TARGET"
    print(f"p99 target < 5 ms at {args.labels:,} labels: {verdict}; build < 5 s: {build < 5}")


if __name__ == "__main__":
    main()
