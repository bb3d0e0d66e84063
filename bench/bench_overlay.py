"""Cost of tx-resource overlays: $expand with a suite's setup resources, cached and cold.

Run: python bench/bench_overlay.py [--rounds 7] [--requests 50] [--fhir-core]

``--fhir-core`` lays FHIR's own terminology under the snapshot first (as ``serve --fhir-core``),
so a cold overlay is laid over about 6,800 concepts instead of 2,000.

In-process (FastAPI TestClient, one thread). Three cases, each timed per request, min/median over
rounds, and as ratios to the first (same process, alternating rounds):
  plain   - POST /fhir/ValueSet/$expand of a snapshot value set, no tx-resource;
  cached  - the same request shape with the simple-cases setup (12 resources) as tx-resource,
            identical every time (the conformance runner's pattern: one overlay build, then hits);
  cold    - the same resources with a changing CodeSystem.date, so every request builds its
            overlay (parse, Vocabulary.with_releases over the whole snapshot, ValueSetIndex).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
SUITE = ROOT / "tests" / "data" / "tx-ecosystem" / "tests"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--requests", type=int, default=50)
    ap.add_argument("--fhir-core", action="store_true", help="serve FHIR core content too")
    args = ap.parse_args()
    if args.fhir_core:
        import os

        from termserver.fhir.packages import FHIR_CORE_ENV

        os.environ[FHIR_CORE_ENV] = "1"

    from fastapi.testclient import TestClient

    from termserver.api.app import create_app
    from termserver.api.state import build_snapshot
    from termserver.conformance.suite import load_suites, read_json

    snap = build_snapshot()
    client = TestClient(create_app(snap))
    suite = next(s for s in load_suites(SUITE) if s.name == "simple-cases")
    setup = [read_json(SUITE / p) for p in suite.setup]
    own = snap.valuesets.definitions()[0].url
    simple = "http://hl7.org/fhir/test/ValueSet/simple-all"

    def body(url: str, resources: list[dict]) -> dict:
        params = [{"name": "url", "valueUri": url}, {"name": "count", "valueInteger": 10}]
        params += [{"name": "tx-resource", "resource": r} for r in resources]
        return {"resourceType": "Parameters", "parameter": params}

    counter = [0]

    def cold() -> dict:
        counter[0] += 1
        changed = [
            dict(setup[0], date=f"2023-04-{counter[0] % 28 + 1:02d}T{counter[0]}"),
            *setup[1:],
        ]
        return body(simple, changed)

    cases = {
        "plain": lambda: body(own, []),
        "cached": lambda: body(simple, setup),
        "cold": cold,
    }
    times: dict[str, list[float]] = {k: [] for k in cases}
    for _ in range(args.rounds):
        for name, make in cases.items():
            bodies = [make() for _ in range(args.requests)]
            start = time.perf_counter()
            for b in bodies:
                r = client.post("/fhir/ValueSet/$expand", json=b)
                assert r.status_code == 200, r.text
            times[name].append((time.perf_counter() - start) / args.requests * 1000)
    base = statistics.median(times["plain"])
    for name, ts in times.items():
        med = statistics.median(ts)
        print(f"{name:7s} min {min(ts):7.2f} ms  median {med:7.2f} ms  ratio {med / base:5.1f}x")
    print(json.dumps({"requests": args.requests, "rounds": args.rounds, "core": args.fhir_core}))


if __name__ == "__main__":
    main()
