"""HTTP benchmarks with wrk on loopback: $lookup against a bare endpoint, and the other operations.

Run: python bench/bench_http.py [--seconds 10] [--connections 16]

Needs Debian's wrk (apt-get install wrk). Starts its own server (uvicorn, one worker) on a free
loopback port, so nothing else is touched; every wrk run is bounded by --seconds.
Prints requests/s and latency percentiles per endpoint, the ratio of $lookup to the bare endpoint
(target ≥ 70%), the p99 of $lookup at half of its saturation rate (target < 5 ms), and the time
from starting `termserver serve` to its first answer (target < 2 s).
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FFB = "urn:oid:1.2.208.176.2.22"
VASKE_SIG = "885400cc-dd71-479e-8993-3fc48fdd6710"
AD = "http://fhir.kl.dk/term/ValueSet/KLConditionADCodesFFB"

ENDPOINTS = {
    "bare constant body": "/bench/constant",
    "$lookup": f"/fhir/CodeSystem/$lookup?system={FFB}&code={VASKE_SIG}",
    "$lookup in threadpool": f"/bench/lookup-threadpool?system={FFB}&code={VASKE_SIG}",
    "$validate-code (display)": f"/fhir/CodeSystem/$validate-code?url={FFB}&code={VASKE_SIG}&display=Vaske%20sig",
    "$expand filter": f"/fhir/ValueSet/$expand?url={AD}&filter=vasek",
    "$expand page": f"/fhir/ValueSet/$expand?url={AD}&count=10&offset=10",
    "JSON concept": f"/api/concepts/ffb/{VASKE_SIG}",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(url: str, proc: subprocess.Popen, timeout: float = 60) -> float:
    start = time.perf_counter()
    while time.perf_counter() - start < timeout:
        try:
            with urllib.request.urlopen(url, timeout=1) as r:
                if r.status == 200:
                    return time.perf_counter() - start
        except OSError:
            time.sleep(0.01)
        if proc.poll() is not None:
            raise RuntimeError("server exited")
    raise RuntimeError(f"no answer from {url} within {timeout} s")


def start(
    args: list[str], port: int, env: dict | None = None, cwd: Path = ROOT
) -> subprocess.Popen:
    return subprocess.Popen(args, cwd=cwd, env={**os.environ, **(env or {})},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()


def wrk(url: str, seconds: int, connections: int, script: str | None = None) -> dict:
    cmd = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", url]
    if script:
        cmd[1:1] = ["-s", script]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 30).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    lat = {p: _ms(v) for p, v in re.findall(r"^\s+(50|75|90|99)%\s+([\d.]+\w+)", out, re.M)}
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {"rps": rps, "lat": lat, "errors": int(errors.group(1)) if errors else 0}


def _ms(value: str) -> float:
    number, unit = re.match(r"([\d.]+)(\w+)", value).groups()
    return float(number) * {"us": 1e-3, "ms": 1.0, "s": 1e3}[unit]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--connections", type=int, default=16)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk is not installed: apt-get install wrk")
    print(f"# bench_http  {time.strftime('%Y-%m-%d')}  {platform.node()}  {platform.machine()}  "
          f"python {platform.python_version()}  wrk -t1 -c{args.connections} -d{args.seconds}s")  # fmt: skip

    # Startup to first answer of the real command.
    starts = []
    for _ in range(3):
        port = free_port()
        t0 = time.perf_counter()
        proc = start(
            [
                sys.executable,
                "-m",
                "termserver",
                "serve",
                "--port",
                str(port),
                "--log-level",
                "warning",
            ],
            port,
        )
        try:
            wait_for(f"http://127.0.0.1:{port}{ENDPOINTS['$lookup']}", proc)
            starts.append(time.perf_counter() - t0)
        finally:
            stop(proc)
    print(
        f"startup to first $lookup answer: min {min(starts):.2f} s, median {sorted(starts)[1]:.2f} s (target < 2 s)"
    )

    port = free_port()
    server = start(
        [sys.executable, "-m", "uvicorn", "http_app:app", "--port", str(port), "--log-level", "warning",
         "--no-access-log", "--app-dir", str(ROOT / "bench")], port)  # fmt: skip
    try:
        wait_for(f"http://127.0.0.1:{port}/bench/constant", server)
        base = f"http://127.0.0.1:{port}"
        results: dict[str, list[dict]] = {name: [] for name in ENDPOINTS}
        for _ in range(
            args.rounds
        ):  # interleaved rounds: a noisy neighbour hits all endpoints alike
            for name, path in ENDPOINTS.items():
                results[name].append(wrk(base + path, args.seconds, args.connections))
        print(
            f"{'endpoint':28} {'req/s min':>10} {'req/s median':>13} {'p50 ms':>8} {'p99 ms':>8} {'non-2xx':>8}"
        )
        med = {}
        for name, runs in results.items():
            rps = sorted(r["rps"] for r in runs)
            med[name] = rps[len(rps) // 2]
            best = max(runs, key=lambda r: r["rps"])
            errors = sum(r["errors"] for r in runs)
            print(
                f"{name:28} {rps[0]:10.0f} {med[name]:13.0f} {best['lat']['50']:8.2f} {best['lat']['99']:8.2f} {errors:8d}"
            )
        ratio = med["$lookup"] / med["bare constant body"]
        print(f"$lookup / bare endpoint (median req/s): {ratio:.0%} (target ≥ 70%)")
        pool = med["$lookup in threadpool"] / med["$lookup"]
        print(f"$lookup in threadpool / on the event loop (median req/s): {pool:.0%}")

        # p99 at half of saturation: each connection pauses between requests (wrk's delay hook).
        target = med["$lookup"] / 2
        conns = 8
        delay_ms = max(0.0, conns * 1000.0 / target - 1000.0 / med["$lookup"] * 1)
        with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
            f.write(f"function delay()\n  return {delay_ms:.3f}\nend\n")
            script = f.name
        half = [
            wrk(base + ENDPOINTS["$lookup"], args.seconds, conns, script)
            for _ in range(args.rounds)
        ]
        os.unlink(script)
        p99 = sorted(h["lat"]["99"] for h in half)
        rates = sorted(h["rps"] for h in half)
        print(f"$lookup at ~half saturation ({rates[len(rates) // 2]:.0f} req/s of {med['$lookup']:.0f}): "
              f"p99 min {p99[0]:.2f} ms, median {p99[len(p99) // 2]:.2f} ms (target < 5 ms)")  # fmt: skip
    finally:
        stop(server)


if __name__ == "__main__":
    main()
