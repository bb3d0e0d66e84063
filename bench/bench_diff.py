"""Diff, impact and export benchmark: the real FFB releases and a generated large release pair.

Run: python bench/bench_diff.py [--concepts 100000] [--rounds 7]

The baseline, run in the same process on the same releases, is the least any diff must do: one
pass over both releases comparing each concept's label (a dict lookup and a string compare per
code). The ratio diff ÷ baseline says what full classification (labels per language, definition,
parents, status, properties) costs on top of that floor; absolute figures depend on the machine.
The generated pair changes 2% of the concepts in each class (seeded, so runs are repeatable).
"""

from __future__ import annotations

import argparse
import dataclasses
import platform
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from generate import generate_codesystem  # noqa: E402

from termserver.api.state import build_snapshot  # noqa: E402
from termserver.diff import changelog_markdown, diff_versions, impact  # noqa: E402
from termserver.exports import export, select_content  # noqa: E402
from termserver.loading.fhir_codesystem import read_codesystem  # noqa: E402
from termserver.model import RETIRED, SchemeRelease  # noqa: E402
from termserver.valuesets import ValueSetIndex  # noqa: E402
from termserver.vocabulary import Vocabulary  # noqa: E402

FFB = "urn:oid:1.2.208.176.2.22"


def timed(fn, rounds: int) -> tuple[float, float]:
    """min and median wall time in ms."""
    times = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return min(times), statistics.median(times)


def baseline(vocab: Vocabulary, system: str, a: str, b: str) -> int:
    old = {c.code: c.display for c in vocab.concepts(system, a)}
    new = {c.code: c.display for c in vocab.concepts(system, b)}
    return sum(1 for code, label in new.items() if old.get(code) != label)


def generated_pair(n: int) -> Vocabulary:
    """Release "1" of ``n`` generated concepts and release "2" with 2% changed per class."""
    doc = generate_codesystem(n)
    doc["version"] = "1"
    first = read_codesystem(doc, scheme_id="bench")
    rnd = random.Random(7)
    concepts = list(first.concepts)
    codes = [c.code for c in concepts]
    k = n // 50
    relabel, redefine, move, retire = (set(rnd.sample(codes, k)) for _ in range(4))
    changed = []
    for c in concepts:
        c = dataclasses.replace(c, version="2")
        if c.code in relabel:
            c = dataclasses.replace(c, display=c.display + " (ny)")
        if c.code in redefine:
            c = dataclasses.replace(c, definition=(c.definition or "") + " Ændret.")
        if c.code in move and c.parents:
            c = dataclasses.replace(c, parents=(rnd.choice(codes[:100]),))
        if c.code in retire:
            c = dataclasses.replace(c, status=RETIRED)
        changed.append(c)
    meta = dataclasses.replace(first.scheme, version="2")
    return Vocabulary([first, SchemeRelease(meta, tuple(changed))])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--concepts", type=int, default=100_000)
    ap.add_argument("--rounds", type=int, default=7)
    args = ap.parse_args()
    r = args.rounds
    print(
        f"machine: {platform.processor() or platform.machine()}, python {platform.python_version()}"
    )
    snap = build_snapshot()
    vocab = snap.vocab
    rows = []

    base = timed(lambda: baseline(vocab, FFB, "20200908", "20240530"), r * 10)
    diff_t = timed(lambda: diff_versions(vocab, FFB, "20200908", vocab, "20240530"), r * 10)
    rows.append(("FFB 20200908→20240530 baseline (labels only)", base, None))
    rows.append(("FFB 20200908→20240530 diff_versions", diff_t, diff_t[1] / base[1]))
    d = diff_versions(vocab, FFB, "20200908", vocab, "20240530")
    defs = {v.url: v for v in snap.valuesets.definitions()}
    sets = snap.translator.mapping_sets

    def cold_impact():
        impact(d, mapping_sets=sets, valuesets=ValueSetIndex(vocab, defs))

    rows.append(
        ("impact, cold value set index (56 value sets × 2 releases)", timed(cold_impact, r), None)
    )
    rows.append(
        (
            "impact, warm index",
            timed(lambda: impact(d, mapping_sets=sets, valuesets=snap.valuesets), r),
            None,
        )
    )
    rows.append(("changelog_markdown", timed(lambda: changelog_markdown(d), r * 10), None))

    with tempfile.TemporaryDirectory() as tmp:
        everything = select_content(vocab, valuesets=defs.values(), mapping_sets=sets)
        for fmt in ("ttl", "csv", "xlsx", "fhir"):
            rows.append(
                (
                    f"export {fmt}, whole snapshot",
                    timed(lambda f=fmt: export(everything, f, Path(tmp) / f), 3),
                    None,
                )
            )

    big = generated_pair(args.concepts)
    system = big.systems()[0]
    gb = timed(lambda: baseline(big, system, "1", "2"), r)
    gd = timed(lambda: diff_versions(big, system, "1", big, "2"), r)
    rows.append((f"generated {args.concepts:,} concepts baseline", gb, None))
    rows.append((f"generated {args.concepts:,} concepts diff_versions", gd, gd[1] / gb[1]))
    counts = diff_versions(big, system, "1", big, "2").counts()
    print("generated diff counts:", {k: v for k, v in counts.items() if v})

    print(f"\n{'what':64} {'min ms':>9} {'median ms':>10} {'÷ baseline':>10}")
    for name, (mn, med), ratio in rows:
        rt = f"{ratio:.1f}×" if ratio else ""
        print(f"{name:64} {mn:9.2f} {med:10.2f} {rt:>10}")


if __name__ == "__main__":
    main()
