"""Vocabulary core benchmarks: load, lookup, subsumption and search, against a naive baseline.

Run: python bench/bench_vocabulary.py [--concepts 100000] [--repeat 5]

Prints a table of min/median figures. The naive baseline (rdflib SPARQL per question over the
same Turtle) runs in the same process on the same data, so the ratio is meaningful even on a
busy shared machine; absolute figures are not.
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

from generate import generated_scheme_dir  # noqa: E402

FFB = "urn:oid:1.2.208.176.2.22"

_LOAD_CHILD = """
import json, resource, sys, time
t0 = time.perf_counter()
from termserver.content import load_vocabulary
t1 = time.perf_counter()
v = load_vocabulary(__import__('pathlib').Path(sys.argv[1]))
t2 = time.perf_counter()
print(json.dumps({"import_s": t1 - t0, "load_s": t2 - t1, "concepts": v.stats()["concepts"],
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def load_in_child(directory: Path) -> dict:
    """Load a snapshot in a fresh interpreter: the cold-start cost a server pays."""
    out = subprocess.run(
        [sys.executable, "-c", _LOAD_CHILD, str(directory)],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout)


def per_call(fn, args: list, batches: int = 30) -> list[float]:
    """Seconds per call, one figure per batch (each batch runs fn over all args)."""
    figures = []
    for _ in range(batches):
        t = time.perf_counter()
        for a in args:
            fn(*a)
        figures.append((time.perf_counter() - t) / len(args))
    return figures


def us(xs: list[float]) -> tuple[str, str]:
    """Min and median of per-call seconds, in microseconds."""
    return f"{min(xs) * 1e6:.3f} µs", f"{statistics.median(xs) * 1e6:.3f} µs"


def p99(xs: list[float]) -> float:
    return sorted(xs)[max(0, int(len(xs) * 0.99) - 1)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--concepts", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()

    from termserver.content import load_vocabulary, ontology_dir

    print(
        f"# bench_vocabulary  {time.strftime('%Y-%m-%d')}  {platform.node()}  "
        f"{platform.processor() or platform.machine()}  python {platform.python_version()}"
    )
    rows = []

    # 1. Cold load of all real content, in fresh interpreters.
    real = [load_in_child(ontology_dir()) for _ in range(args.repeat)]
    loads = [r["load_s"] for r in real]
    rows.append(
        (
            "cold load, all real content (s)",
            f"{min(loads):.3f}",
            f"{statistics.median(loads):.3f}",
            f"{real[0]['concepts']} concepts, target < 1 s",
        )
    )

    # 2. A generated scheme of N concepts: time and peak RSS.
    big_dir = generated_scheme_dir(args.concepts)
    big = [load_in_child(big_dir) for _ in range(max(2, args.repeat // 2))]
    bl = [r["load_s"] for r in big]
    rss = [r["peak_rss_mb"] for r in big]
    rows.append(
        (
            f"load {args.concepts:,} generated concepts (s)",
            f"{min(bl):.2f}",
            f"{statistics.median(bl):.2f}",
            "target < 10 s",
        )
    )
    rows.append(
        (
            "  peak RSS of that process (MB)",
            f"{min(rss):.0f}",
            f"{statistics.median(rss):.0f}",
            "target < 1024 MB",
        )
    )

    vocab = load_vocabulary()
    rnd = random.Random(7)
    concepts = [
        c for s in vocab.systems() for v in vocab.versions(s) for c in vocab.concepts(s, v.version)
    ]
    sample = rnd.sample(concepts, 1000)
    lookups = [(c.system, c.code) for c in sample]
    pairs = [
        (c.system, c.code, (vocab.parents(c) or [c])[0].code)
        for c in sample
        if c.version == vocab.default_version(c.system)
    ]

    look = per_call(vocab.lookup, lookups)
    sub = per_call(vocab.subsumes, pairs)
    isa = per_call(vocab.is_a, pairs)
    rows.append(("lookup (system, code) per call", *us(look), "target < 2 µs median"))
    rows.append(("subsumes(a, b) per call", *us(sub), "target < 2 µs median"))
    rows.append(("is_a(a, b) per call", *us(isa), ""))

    # 3. Naive baseline: rdflib SPARQL per question over the same Turtle.
    from rdflib import Graph, Literal, URIRef

    g = Graph()
    for p in sorted((ontology_dir() / "schemes").glob("*.ttl")):
        g.parse(p, format="turtle")
    q_lookup = """PREFIX skos: <http://www.w3.org/2004/02/skos/core#>
        PREFIX ts: <https://w3id.org/ffb-termserver/def#>
        PREFIX owl: <http://www.w3.org/2002/07/owl#>
        SELECT ?c ?label ?def WHERE { ?v ts:fhirSystem ?sys ; owl:versionInfo ?ver .
          ?c skos:inScheme ?v ; skos:notation ?code ; skos:prefLabel ?label .
          OPTIONAL { ?c skos:definition ?def } }"""
    q_sub = """PREFIX skos: <http://www.w3.org/2004/02/skos/core#>
        ASK { ?a skos:broader+ ?b }"""
    from rdflib.namespace import XSD

    base_look, base_sub = [], []
    sub_sample = pairs[:100]
    for _ in range(3):
        t = time.perf_counter()
        for c in sample[:100]:
            list(
                g.query(
                    q_lookup,
                    initBindings={
                        "sys": Literal(c.system, datatype=XSD.anyURI),
                        "ver": Literal(c.version),
                        "code": Literal(c.code),
                    },
                )
            )
        base_look.append((time.perf_counter() - t) / 100)
        t = time.perf_counter()
        for system, code, parent in sub_sample:
            iri_a = vocab.lookup(system, code).iri
            iri_b = vocab.lookup(system, parent).iri
            g.query(q_sub, initBindings={"a": URIRef(iri_a), "b": URIRef(iri_b)}).askAnswer  # noqa: B018
        base_sub.append((time.perf_counter() - t) / len(sub_sample))
    rows.append(
        (
            "baseline rdflib SPARQL lookup per call",
            *us(base_look),
            f"ratio {statistics.median(base_look) / statistics.median(look):,.0f}× (target ≥ 100×)",
        )
    )
    rows.append(
        (
            "baseline rdflib SPARQL subsumes per call",
            *us(base_sub),
            f"ratio {statistics.median(base_sub) / statistics.median(sub):,.0f}×",
        )
    )

    # 4. Search latency on the big generated scheme (100k labels) through the snapshot API.
    big_vocab = load_vocabulary(big_dir)
    words = sorted(
        {
            w
            for c in list(big_vocab.concepts(big_vocab.systems()[0]))[:2000]
            for w in c.display.split()
        }
    )
    rq = random.Random(11)
    queries = []
    for _ in range(200):
        w = rq.choice(words)
        kind = rq.randrange(4)
        if kind == 0:
            queries.append(w[: max(2, len(w) // 2)])  # as-you-type prefix
        elif kind == 1:
            queries.append(f"{w} {rq.choice(words)}")  # two words
        elif kind == 2 and len(w) > 4:
            i = rq.randrange(len(w) - 1)
            queries.append(w[:i] + w[i + 1] + w[i] + w[i + 2 :])  # transposition typo
        else:
            queries.append(w.lower())
    lat = []
    for q in queries * 3:
        t = time.perf_counter()
        big_vocab.search(q, limit=20)
        lat.append(time.perf_counter() - t)
    rows.append(
        (
            f"search at {args.concepts:,} labels (ms)",
            f"{min(lat) * 1e3:.3f}",
            f"{statistics.median(lat) * 1e3:.3f}",
            f"p99 {p99(lat) * 1e3:.3f} ms (target < 5 ms)",
        )
    )
    real_lat = []
    for q in [
        "vaske",
        "Vaske sig",
        "vaskesig",
        "vasek sig",
        "egenomsrog",
        "støttebehov",
        "stottebehov",
        "bolig",
    ] * 50:
        t = time.perf_counter()
        vocab.search(q)
        real_lat.append(time.perf_counter() - t)
    rows.append(
        (
            "search, real content (ms)",
            f"{min(real_lat) * 1e3:.3f}",
            f"{statistics.median(real_lat) * 1e3:.3f}",
            f"p99 {p99(real_lat) * 1e3:.3f} ms",
        )
    )

    width = max(len(r[0]) for r in rows)
    print(f"{'measure':{width}}  {'min':>12}  {'median':>12}  note")
    for name, mn, med, note in rows:
        print(f"{name:{width}}  {mn:>12}  {med:>12}  {note}")


if __name__ == "__main__":
    main()
