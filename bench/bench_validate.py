"""Plan validation throughput: plans per second per core, in-process and over HTTP.

Run: python bench/bench_validate.py [--seconds 5] [--rounds 5] [--connections 8]

The plan is the example in examples/plans (10 goals, 9 conditions, 2 target groups, 4 ydelser),
as a FHIR Bundle and as the native document in JSON and YAML. In-process rounds time the whole
path from bytes to findings (parse, read, rules) on one thread; min/median over rounds.
Targets (issue 5): 2,000 native and 500 FHIR plans/s per core in-process.
Over HTTP: wrk against one uvicorn worker (one core) posting the same bodies; needs Debian's wrk.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
EXAMPLES = ROOT / "examples" / "plans"
INPUTS = {
    "FHIR Bundle (JSON)": ("plan-bundle.json", "/fhir/Bundle/$validate", "application/fhir+json"),
    "native (JSON)": ("borgerens-plan.json", "/api/validate", "application/json"),
    "native (YAML)": ("borgerens-plan.yaml", "/api/validate", "application/yaml"),
}
TARGETS = {"FHIR Bundle (JSON)": 500, "native (JSON)": 2000, "native (YAML)": 2000}


def in_process(seconds: float, rounds: int) -> None:
    from termserver.api.state import build_snapshot
    from termserver.plans.validate import validate_bytes

    snapshot = build_snapshot()
    print(
        f"{'input':22} {'plans/s min':>12} {'plans/s median':>15} {'µs/plan median':>15} {'target':>7}"
    )
    for name, (file, _, media) in INPUTS.items():
        data = (EXAMPLES / file).read_bytes()
        report = validate_bytes(data, snapshot, file, media)
        assert report.valid and not report.findings, report.findings
        per_round = []
        for _ in range(rounds):
            n = 0
            start = time.perf_counter()
            deadline = start + seconds / rounds
            while time.perf_counter() < deadline:
                for _ in range(20):
                    validate_bytes(data, snapshot, file, media)
                n += 20
            per_round.append(n / (time.perf_counter() - start))
        per_round.sort()
        med = per_round[len(per_round) // 2]
        print(f"{name:22} {per_round[0]:12,.0f} {med:15,.0f} {1e6 / med:15,.0f} {TARGETS[name]:7,}")


def over_http(seconds: int, connections: int, rounds: int) -> None:
    from bench_http import free_port, start, stop, wait_for, wrk

    if not shutil.which("wrk"):
        print("wrk is not installed (apt-get install wrk); skipping HTTP")
        return
    port = free_port()
    server = start([sys.executable, "-m", "uvicorn", "http_app:app", "--port", str(port),
                    "--log-level", "warning", "--no-access-log", "--app-dir", str(ROOT / "bench")],
                   port)  # fmt: skip
    try:
        wait_for(f"http://127.0.0.1:{port}/bench/constant", server)
        print(f"\nHTTP, one uvicorn worker, wrk -t1 -c{connections} -d{seconds}s, {rounds} rounds")
        print(
            f"{'input':22} {'req/s min':>10} {'req/s median':>13} {'p50 ms':>8} {'p99 ms':>8} {'non-2xx':>8}"
        )
        with tempfile.TemporaryDirectory() as tmp:
            results: dict[str, list[dict]] = {name: [] for name in INPUTS}
            scripts = {}
            for name, (file, path, media) in INPUTS.items():
                body = (EXAMPLES / file).read_text("utf-8")
                script = Path(tmp) / (re.sub(r"\W+", "_", name) + ".lua")
                script.write_text(
                    'wrk.method = "POST"\n'
                    f'wrk.headers["Content-Type"] = "{media}"\n'
                    f"wrk.body = [==[{body}]==]\n",
                    "utf-8",
                )
                scripts[name] = (f"http://127.0.0.1:{port}{path}", str(script))
            for _ in range(rounds):
                for name, (url, script) in scripts.items():
                    results[name].append(wrk(url, seconds, connections, script))
            for name, runs in results.items():
                rps = sorted(r["rps"] for r in runs)
                med = runs[[r["rps"] for r in runs].index(rps[len(rps) // 2])]
                print(f"{name:22} {rps[0]:10,.0f} {rps[len(rps) // 2]:13,.0f} "
                      f"{med['lat'].get('50', 0):8.2f} {med['lat'].get('99', 0):8.2f} "
                      f"{sum(r['errors'] for r in runs):8}")  # fmt: skip
    finally:
        stop(server)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--seconds", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--connections", type=int, default=8)
    ap.add_argument("--no-http", action="store_true")
    args = ap.parse_args()
    print(f"# bench_validate  {time.strftime('%Y-%m-%d')}  {platform.processor() or platform.machine()}"
          f"  nproc {os.cpu_count()}  python {platform.python_version()}")  # fmt: skip
    in_process(args.seconds, args.rounds)
    if not args.no_http:
        over_http(args.seconds, args.connections, 3)


if __name__ == "__main__":
    main()
