"""Translation throughput, in-process and over HTTP.

Run: python bench/bench_translate.py [--seconds 5] [--rounds 3] [--no-http]

In-process: translations per second for a direct step (VUM 1.0 Socialt liv → FFB), a reverse
step (FFB Relationer → every local tool) and a two-step chain through FFB (Forandringskompas
misbrug Psykisk helbred → FFB → VUM 1.0 Sundhed), each as a ratio to ``vocab.get`` in the same process (the
cheapest read the snapshot offers). Over HTTP (needs Debian's wrk): ``/api/translate`` and
``/fhir/ConceptMap/$translate`` against ``$lookup`` and a bare constant endpoint on the same
server (bench/http_app.py), reusing bench_http.py's wrk driver. Prints min and median.
"""

from __future__ import annotations

import argparse
import platform
import shutil
import sys
import time
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

FFB = "urn:oid:1.2.208.176.2.22"
VUM1 = "https://w3id.org/ffb-termserver/vum-1"
RELATIONER = "3856b434-f72e-42a5-b9d1-0cc93f48434b"
VASKE_SIG = "885400cc-dd71-479e-8993-3fc48fdd6710"


def per_second(fn, repeat: int, number: int) -> list[float]:
    """Calls per second of ``fn``, one figure per repeat."""
    out = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        for _ in range(number):
            fn()
        out.append(number / (time.perf_counter() - t0))
    return sorted(out)


def in_process(rounds: int) -> None:
    from termserver.content import load_vocabulary
    from termserver.translate import Translator

    vocab = load_vocabulary()
    tr = Translator.from_directory(vocab)
    cases = {
        "vocab.get (baseline)": lambda: vocab.get(FFB, VASKE_SIG),
        "direct vum-1 socialt-liv": lambda: tr.translate("vum-1", "socialt-liv"),
        "reverse ffb Relationer": lambda: tr.translate(FFB, RELATIONER, reverse=True),
        "chain compass→ffb→vum-1": lambda: tr.translate(
            "forandringskompas-misbrug", "psykisk-helbred", target_system=VUM1
        ),
    }
    assert cases["chain compass→ffb→vum-1"](), "the chain must find a VUM 1.0 theme"
    print(f"{'in-process':30} {'calls/s min':>12} {'calls/s median':>15} {'µs median':>10} "
          f"{'× get':>7}")  # fmt: skip
    base = None
    for name, fn in cases.items():
        fn()
        number = 200_000 if base is None else 5_000
        rates = per_second(fn, max(rounds, 5), number)
        med = rates[len(rates) // 2]
        base = base or med
        print(f"{name:30} {rates[0]:12.0f} {med:15.0f} {1e6 / med:10.1f} {base / med:7.0f}")


def over_http(seconds: int, connections: int, rounds: int) -> None:
    from bench_http import free_port, start, stop, wait_for, wrk

    endpoints = {
        "bare constant body": "/bench/constant",
        "$lookup": f"/fhir/CodeSystem/$lookup?system={FFB}&code={VASKE_SIG}",
        "/api/translate direct": "/api/translate?" + urlencode(
            {"system": "vum-1", "code": "socialt-liv"}
        ),
        "/api/translate reverse": "/api/translate?" + urlencode(
            {"system": "ffb", "code": RELATIONER, "reverse": "true"}
        ),
        "/api/translate chain": "/api/translate?" + urlencode(
            {"system": "forandringskompas-misbrug", "code": "psykisk-helbred", "target": "vum-1"}
        ),
        "ConceptMap/$translate": "/fhir/ConceptMap/$translate?" + urlencode(
            {"system": VUM1, "code": "socialt-liv"}
        ),
    }  # fmt: skip
    port = free_port()
    server = start(
        [sys.executable, "-m", "uvicorn", "http_app:app", "--port", str(port), "--log-level",
         "warning", "--no-access-log", "--app-dir", str(ROOT / "bench")], port)  # fmt: skip
    try:
        wait_for(f"http://127.0.0.1:{port}/bench/constant", server)
        base = f"http://127.0.0.1:{port}"
        results: dict[str, list[dict]] = {name: [] for name in endpoints}
        for _ in range(rounds):  # interleaved, so a noisy neighbour hits every endpoint alike
            for name, path in endpoints.items():
                results[name].append(wrk(base + path, seconds, connections))
        print(f"{'HTTP (wrk -t1 -c' + str(connections) + ')':30} {'req/s min':>12} "
              f"{'req/s median':>15} {'p50 ms':>8} {'p99 ms':>8} {'non-2xx':>8} {'÷ $lookup':>10}")  # fmt: skip
        med = {}
        for name, runs in results.items():
            rps = sorted(r["rps"] for r in runs)
            med[name] = rps[len(rps) // 2]
        for name, runs in results.items():
            rps = sorted(r["rps"] for r in runs)
            best = max(runs, key=lambda r: r["rps"])
            errors = sum(r["errors"] for r in runs)
            print(f"{name:30} {rps[0]:12.0f} {med[name]:15.0f} {best['lat']['50']:8.2f} "
                  f"{best['lat']['99']:8.2f} {errors:8d} {med[name] / med['$lookup']:10.0%}")  # fmt: skip
    finally:
        stop(server)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--seconds", type=int, default=5)
    ap.add_argument("--connections", type=int, default=16)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--no-http", action="store_true")
    args = ap.parse_args()
    print(f"# bench_translate  {time.strftime('%Y-%m-%d')}  {platform.machine()}  "
          f"python {platform.python_version()}")  # fmt: skip
    in_process(args.rounds)
    if args.no_http:
        return
    if not shutil.which("wrk"):
        sys.exit("wrk is not installed (apt-get install wrk); use --no-http")
    over_http(args.seconds, args.connections, args.rounds)


if __name__ == "__main__":
    main()
