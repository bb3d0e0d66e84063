"""SPARQL engine benchmark: pyoxigraph against rdflib on the same dataset and queries.

Run: python bench/bench_sparql.py [--concepts 20000] [--repeat 10]

Both engines get the dataset /sparql serves (each release a named graph, the newest releases
copied into the default graph; see termserver/sparql.py), dumped once from the pyoxigraph store
as N-Quads so the data is identical. Four representative queries run on the real content and on
a generated scheme of ``--concepts`` concepts: lookup by notation, label search with CONTAINS,
transitive ``skos:broader+`` subsumption, and a count per release graph. Each figure is
evaluation plus reading every row, in milliseconds (min/median). pyoxigraph runs twice: on the
read-only RocksDB store the parent builds, and on the in-memory copy each worker queries. The
last column times the lookup through the whole SparqlEngine (worker round trip and JSON
serialisation), which is what /sparql pays before HTTP.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import pyoxigraph as ox
import rdflib

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

from generate import generated_scheme_dir  # noqa: E402

from termserver.sparql import SparqlEngine, build_store  # noqa: E402

SKOS = "http://www.w3.org/2004/02/skos/core#"
PREFIX = f"PREFIX skos: <{SKOS}>\n"
VASKE_SIG = "885400cc-dd71-479e-8993-3fc48fdd6710"
EGENOMSORG = "https://w3id.org/ffb-termserver/ffb/da3f488f-1742-4d00-b247-a7d47500b36b"


def queries(store: ox.Store) -> dict[str, str]:
    """The four queries, with a code and a subtree root taken from the data itself."""
    has_vaske = store.query(f'ASK {{ ?c <{SKOS}notation> "{VASKE_SIG}" }}')
    if has_vaske:
        code, root = VASKE_SIG, EGENOMSORG
    else:
        # Generated content: a child of the top concept heads a subtree of about n/12 concepts.
        top = next(
            iter(
                store.query(
                    PREFIX + "SELECT ?c ?n WHERE { ?c skos:notation ?n "
                    "FILTER NOT EXISTS { ?c skos:broader ?p } } LIMIT 1"
                )
            )
        )
        child = next(
            iter(
                store.query(
                    PREFIX + f"SELECT ?c WHERE {{ ?c skos:broader <{top['c'].value}> }} LIMIT 1"
                )
            )
        )
        code, root = top["n"].value, child["c"].value
    return {
        "lookup by notation": PREFIX
        + f'SELECT ?c ?label WHERE {{ ?c skos:notation "{code}" ; skos:prefLabel ?label }}',
        "label CONTAINS 'vask'": PREFIX + "SELECT ?c ?label WHERE { ?c skos:prefLabel ?label "
        'FILTER(CONTAINS(LCASE(STR(?label)), "vask")) }',
        "broader+ subtree": PREFIX + f"SELECT ?d WHERE {{ ?d skos:broader+ <{root}> }}",
        "count per release graph": PREFIX
        + "SELECT ?g (COUNT(?c) AS ?n) WHERE { GRAPH ?g { ?c a skos:Concept } } GROUP BY ?g",
    }


def timed(run: Callable[[], int], repeat: int, budget: float = 20.0) -> tuple[list[float], int]:
    """Seconds per run (at least 3 runs, then stop at ``repeat`` or ``budget`` seconds)."""
    figures, rows = [], 0
    started = time.perf_counter()
    for i in range(repeat):
        t = time.perf_counter()
        rows = run()
        figures.append(time.perf_counter() - t)
        if i >= 2 and time.perf_counter() - started > budget:
            break
    return figures, rows


def ms(xs: list[float]) -> tuple[str, str]:
    return f"{min(xs) * 1e3:.2f}", f"{statistics.median(xs) * 1e3:.2f}"


def bench(label: str, ontology: Path, repeat: int) -> list[tuple]:
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        build_store(ontology, Path(tmp) / "store")
        ox_load = time.perf_counter() - t
        disk = ox.Store.read_only(str(Path(tmp) / "store"))
        nquads = disk.dump(format=ox.RdfFormat.N_QUADS)
        memory = ox.Store()
        memory.load(nquads, format=ox.RdfFormat.N_QUADS)
        t = time.perf_counter()
        dataset = rdflib.Dataset()
        dataset.parse(data=nquads.decode("utf-8"), format="nquads")
        rdf_load = time.perf_counter() - t

        rows = [(f"{label}: {len(memory)} quads", "", "", "", "", "")]
        rows.append(("  load (s)", f"{ox_load:.2f}", "", f"{rdf_load:.2f}", "", ""))
        for name, query in queries(memory).items():
            ro, n_ro = timed(lambda q=query: len(list(disk.query(q))), repeat)
            mem, n_mem = timed(lambda q=query: len(list(memory.query(q))), repeat)
            rdf, n_rdf = timed(lambda q=query: len(list(dataset.query(q))), repeat)
            assert n_ro == n_mem == n_rdf, (name, n_ro, n_mem, n_rdf)
            ratio = statistics.median(rdf) / statistics.median(mem)
            rows.append(
                (
                    f"  {name} ({n_ro} rows)",
                    "/".join(ms(ro)),
                    "/".join(ms(mem)),
                    "/".join(ms(rdf)),
                    f"{ratio:,.0f}x",
                    "",
                )
            )
        lookup = next(iter(queries(memory).values()))
        with SparqlEngine(ontology, workers=1) as engine:
            engine.start()
            served, _ = timed(lambda: len(engine.query(lookup).content), repeat * 5)
        rows[2] = (*rows[2][:5], "/".join(ms(served)))
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--concepts", type=int, default=20_000, help="generated scheme; 0 skips it")
    ap.add_argument("--repeat", type=int, default=10)
    args = ap.parse_args()

    from termserver.content import ontology_dir

    print(
        f"# bench_sparql  {time.strftime('%Y-%m-%d')}  {platform.node()}  "
        f"{platform.processor() or platform.machine()}  python {platform.python_version()}  "
        f"pyoxigraph {ox.__version__}  rdflib {rdflib.__version__}"
    )
    rows = bench("real content", ontology_dir(), args.repeat)
    if args.concepts:
        rows += bench(
            f"generated {args.concepts:,}", generated_scheme_dir(args.concepts), args.repeat
        )
    header = (
        "query (ms min/median)",
        "oxigraph ro-disk",
        "oxigraph memory",
        "rdflib",
        "rdflib/ox-mem",
        "engine e2e",
    )
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    for r in [header, *rows]:
        print("  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())


if __name__ == "__main__":
    main()
