"""Plan validation throughput: plans per second per core, in-process and over HTTP.

Run: python bench/bench_validate.py [--seconds 5] [--rounds 5] [--connections 8]
                                    [--baseline GIT-REV] [--no-http]

The plan is the example in examples/plans (10 goals, 9 conditions, 2 target groups, 4 ydelser),
as a FHIR Bundle and as the native document in JSON and YAML. In-process rounds time the whole
path from bytes to findings (parse, read, rules) on one thread; min/median over rounds.
With ``--baseline REV`` the plans package as committed at REV is loaded beside the working copy
(as ``_baseline_plans``, from ``git show``) and timed in alternating rounds in the same process,
so the ratio current/baseline (per CPU-second) holds even when other work shares the machine.
Targets (issue 5): 2,000 native and 500 FHIR plans/s per core in-process.
Over HTTP: wrk against one uvicorn worker (one core) posting the same bodies; needs Debian's wrk.
"""

from __future__ import annotations

import argparse
import atexit
import os
import platform
import re
import shutil
import subprocess
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


def load_baseline(rev: str):
    """``validate_bytes`` of termserver/plans as committed at ``rev``, importable beside the
    working copy: the files are copied to a temporary package and their imports renamed."""
    files = subprocess.run(
        ["git", "ls-tree", "--name-only", rev, "termserver/plans/"],
        cwd=ROOT, check=True, capture_output=True, text=True,
    ).stdout.split()  # fmt: skip
    tmp = Path(tempfile.mkdtemp(prefix="bench_validate_"))
    atexit.register(shutil.rmtree, tmp, True)
    pkg = tmp / "_baseline_plans"
    pkg.mkdir()
    for f in files:
        if f.endswith(".py"):
            text = subprocess.run(
                ["git", "show", f"{rev}:{f}"], cwd=ROOT, check=True, capture_output=True, text=True
            ).stdout
            (pkg / Path(f).name).write_text(text.replace("termserver.plans", "_baseline_plans"))
    sys.path.insert(0, str(tmp))
    from _baseline_plans.validate import validate_bytes  # type: ignore[import-not-found]

    return validate_bytes


def _round(validate, data: bytes, snapshot, file: str, media: str, seconds: float):
    """(plans per wall second, plans per CPU second of this thread) over one round."""
    n = 0
    start, cpu = time.perf_counter(), time.thread_time()
    deadline = start + seconds
    while time.perf_counter() < deadline:
        for _ in range(20):
            validate(data, snapshot, file, media)
        n += 20
    return n / (time.perf_counter() - start), n / (time.thread_time() - cpu)


def in_process(seconds: float, rounds: int, baseline: str | None = None) -> None:
    """Plans/s on one thread. Wall-clock rates suffer when other work shares the cores; the
    CPU-second rate (``time.thread_time``) is the per-core figure that survives that."""
    from termserver.api.state import build_snapshot
    from termserver.plans.validate import validate_bytes

    old = load_baseline(baseline) if baseline else None
    snapshot = build_snapshot()
    head = f"{'input':22} {'plans/s min':>12} {'plans/s median':>15} {'per CPU-s median':>17}"
    head += f" {'µs CPU/plan':>12}"
    if old:
        head += f" {'baseline per CPU-s':>19} {'ratio median':>13}"
    print(head + f" {'target':>7}")
    for name, (file, _, media) in INPUTS.items():
        data = (EXAMPLES / file).read_bytes()
        report = validate_bytes(data, snapshot, file, media)
        assert report.valid and not report.findings, report.findings
        if old:
            before = old(data, snapshot, file, media).findings
            assert [(f.rule, f.location) for f in before] == [
                (f.rule, f.location) for f in report.findings
            ]
        wall, cpu, base, ratios = [], [], [], []
        share = seconds / rounds / (2 if old else 1)
        for _ in range(rounds):
            if old:
                base.append(_round(old, data, snapshot, file, media, share)[1])
            w, c = _round(validate_bytes, data, snapshot, file, media, share)
            wall.append(w)
            cpu.append(c)
            if old:
                ratios.append(c / base[-1])
        line = f"{name:22} {min(wall):12,.0f} {_median(wall):15,.0f} {_median(cpu):17,.0f}"
        line += f" {1e6 / _median(cpu):12,.0f}"
        if old:
            line += f" {_median(base):19,.0f} {_median(ratios):12.2f}x"
        print(line + f" {TARGETS[name]:7,}")


def _median(values: list[float]) -> float:
    return sorted(values)[len(values) // 2]


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
    ap.add_argument("--baseline", metavar="REV", help="also time termserver/plans at this git rev")
    args = ap.parse_args()
    print(f"# bench_validate  {time.strftime('%Y-%m-%d')}  {platform.processor() or platform.machine()}"
          f"  nproc {os.cpu_count()}  python {platform.python_version()}")  # fmt: skip
    in_process(args.seconds, args.rounds, args.baseline)
    if not args.no_http:
        over_http(args.seconds, args.connections, 3)


if __name__ == "__main__":
    main()
