"""Loopback soak: a realistic request mix at half of saturation, watching errors and server RSS.

    python bench/soak.py --seconds 600
    python bench/soak.py --server http://127.0.0.1:8080 --server-pid 1234

Starts ``termserver serve`` on a free loopback port (unless ``--server`` is given), measures the
saturation rate of the mix with closed-loop clients for a few seconds, then sends the mix
open-loop at ``--load`` (default 0.5) of that rate for ``--seconds``. Latency is measured from
the moment a request was *due*, not when it was sent, so a stalled server shows up in p99 instead
of silently slowing the clients down (coordinated omission).

Exit status: 0 when every request answered 2xx and the server's RSS grew by less than
``--max-rss-growth-mb`` between the start of the soak (after warm-up) and its end; 1 otherwise;
2 when the server could not be started.

Why 48 MB by default: the mix runs at about 300 req/s on the 2-core reference machine, so a
600 s soak sends about 180,000 requests and the bound catches any leak of 300 bytes or more per
request; the RSS stayed flat to within 1 MB in the runs reported in bench/RESULTS.md, so 48 MB
leaves ample room for allocator arenas settling and the server's bounded caches filling. The
15 s test run only catches leaks of about 10 KB per request or more: it guards against gross
leaks, the full run against small ones. Growth is measured from the RSS after warm-up and the
saturation phase (the SPARQL store and worker processes are built by then, and every request
kind has been served); the RSS at process start is reported too. RSS is the server process plus
its children (the SPARQL workers).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psutil

ROOT = Path(__file__).resolve().parent.parent
FFB = "urn:oid:1.2.208.176.2.22"
VALUE_SET = "http://fhir.kl.dk/term/ValueSet/KLConditionADCodesFFB"
VUM1 = "https://w3id.org/ffb-termserver/vum-1"
# Real FFB codes (Vaske sig, Egenomsorg, Relationer), see data/ and tests/test_translate_http.py.
FFB_CODES = (
    "885400cc-dd71-479e-8993-3fc48fdd6710",
    "da3f488f-1742-4d00-b247-a7d47500b36b",
    "3856b434-f72e-42a5-b9d1-0cc93f48434b",
)
PLAN = (ROOT / "examples" / "plans" / "borgerens-plan.json").read_bytes()
BUNDLE = (ROOT / "examples" / "plans" / "plan-bundle.json").read_bytes()
JSON_HEADERS = {"Content-Type": "application/json"}


@dataclass(frozen=True)
class Request:
    """One request of the mix; ``kind`` groups the latency figures."""

    kind: str
    method: str
    path: str
    params: tuple[tuple[str, str], ...] = ()
    body: bytes | None = None


def build_mix() -> list[Request]:
    """The request mix, one entry per slot: lookups dominate, as in real client traffic."""
    mix: list[Request] = []
    for code in FFB_CODES:
        mix.append(
            Request("lookup", "GET", "/fhir/CodeSystem/$lookup", (("system", FFB), ("code", code)))
        )
    mix += mix[:]  # lookups twice as frequent as any other kind
    for offset in (0, 10, 20):
        mix.append(
            Request(
                "expand",
                "GET",
                "/fhir/ValueSet/$expand",
                (("url", VALUE_SET), ("count", "10"), ("offset", str(offset))),
            )
        )
    for text in ("sig", "bad"):
        mix.append(
            Request(
                "expand_filter",
                "GET",
                "/fhir/ValueSet/$expand",
                (("url", VALUE_SET), ("filter", text)),
            )
        )
    mix.append(
        Request(
            "translate", "GET", "/api/translate", (("system", "vum-1"), ("code", "socialt-liv"))
        )
    )
    mix.append(
        Request(
            "fhir_translate",
            "GET",
            "/fhir/ConceptMap/$translate",
            (("system", VUM1), ("code", "socialt-liv"), ("targetsystem", FFB)),
        )
    )
    mix.append(Request("validate", "POST", "/api/validate", body=PLAN))
    mix.append(Request("bundle_validate", "POST", "/fhir/Bundle/$validate", body=BUNDLE))
    return mix


@dataclass
class Stats:
    """Thread-safe tallies: latencies per kind, status counts, exceptions."""

    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    statuses: Counter = field(default_factory=Counter)
    exceptions: Counter = field(default_factory=Counter)
    bad_samples: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, req: Request, status: int | None, seconds: float, error: str = "") -> None:
        """Tally one answer (``status`` None means the request raised ``error``)."""
        with self.lock:
            self.latencies[req.kind].append(seconds)
            if status is None:
                self.exceptions[error] += 1
            else:
                self.statuses[status] += 1
            if (status is None or not 200 <= status < 300) and len(self.bad_samples) < 10:
                self.bad_samples.append(f"{req.kind} {req.method} {req.path}: {status} {error}")

    @property
    def total(self) -> int:
        """Requests answered or failed."""
        return sum(self.statuses.values()) + sum(self.exceptions.values())

    @property
    def errors(self) -> int:
        """Non-2xx answers plus exceptions."""
        bad = sum(n for s, n in self.statuses.items() if not 200 <= s < 300)
        return bad + sum(self.exceptions.values())


def send(client: httpx.Client, req: Request, stats: Stats, due: float) -> None:
    """Send one request and tally it, latency counted from ``due``."""
    try:
        if req.method == "GET":
            r = client.get(req.path, params=req.params)
        else:
            r = client.post(req.path, content=req.body, headers=JSON_HEADERS)
        r.read()
        stats.record(req, r.status_code, time.perf_counter() - due)
    except httpx.HTTPError as exc:
        stats.record(req, None, time.perf_counter() - due, type(exc).__name__)


def warm_up(base: str, mix: list[Request], stats: Stats) -> None:
    """Send every request of the mix once, sequentially, so that lazy first-hit work in the
    server (index builds, first validation) is not counted as saturation or as growth."""
    with httpx.Client(base_url=base, timeout=60) as client:
        # The server builds its SPARQL store and starts the SPARQL worker processes beside the
        # first requests; a query waits until that is done, so the soak does not start while
        # those CPU-heavy seconds are still running (they showed up as ~800 ms p99 otherwise).
        sparql = Request("warm_up_sparql", "GET", "/sparql", (("query", "ASK {}"),))
        send(client, sparql, stats, time.perf_counter())
        for req in mix:
            send(client, req, stats, time.perf_counter())


def saturate(base: str, mix: list[Request], seconds: float, clients: int) -> tuple[float, Stats]:
    """Closed-loop: ``clients`` threads send back to back; returns (req/s, stats)."""
    stats = Stats()
    stop = time.perf_counter() + seconds

    def worker(k: int) -> None:
        with httpx.Client(base_url=base, timeout=30) as client:
            i = k
            while time.perf_counter() < stop:
                send(client, mix[i % len(mix)], stats, time.perf_counter())
                i += clients

    start = time.perf_counter()
    threads = [threading.Thread(target=worker, args=(k,)) for k in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return stats.total / (time.perf_counter() - start), stats


def open_loop(
    base: str, mix: list[Request], rate: float, seconds: float, clients: int, on_tick
) -> tuple[float, Stats]:
    """Open-loop at ``rate`` req/s: slot i is due at t0 + i/rate, worker i % clients sends it.

    ``on_tick`` is called about once a second from the main thread (RSS sampling).
    """
    stats = Stats()
    n_slots = int(rate * seconds)
    t0 = time.perf_counter() + 0.2

    def worker(k: int) -> None:
        with httpx.Client(base_url=base, timeout=30) as client:
            for i in range(k, n_slots, clients):
                due = t0 + i / rate
                delay = due - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
                send(client, mix[i % len(mix)], stats, due)

    threads = [threading.Thread(target=worker, args=(k,), daemon=True) for k in range(clients)]
    for t in threads:
        t.start()
    while any(t.is_alive() for t in threads):
        threads[0].join(timeout=1.0)
        on_tick(time.perf_counter() - t0)
    for t in threads:
        t.join()
    return stats.total / (time.perf_counter() - t0), stats


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile of ``values`` (0 < q <= 100)."""
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, math.ceil(q / 100 * len(ordered)) - 1))
    return ordered[rank]


def rss_bytes(pid: int) -> int:
    """RSS of the server process and its children (uvicorn may fork a worker)."""
    proc = psutil.Process(pid)
    total = proc.memory_info().rss
    for child in proc.children(recursive=True):
        with contextlib.suppress(psutil.NoSuchProcess):
            total += child.memory_info().rss
    return total


def free_port() -> int:
    """A free loopback TCP port."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server() -> tuple[subprocess.Popen, str]:
    """Start ``termserver serve`` on a free port and wait until it answers."""
    port = free_port()
    env = {**os.environ, "TERMSERVER_ONTOLOGY": str(ROOT / "ontology")}
    cmd = [sys.executable, "-m", "termserver", "serve", "--port", str(port)]
    proc = subprocess.Popen(
        [*cmd, "--log-level", "warning"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"{base}/fhir/metadata", timeout=2).status_code == 200:
                return proc, base
        except httpx.HTTPError:
            pass
        if proc.poll() is not None:
            raise RuntimeError(f"server exited: {proc.stderr.read().decode()[-2000:]}")
        if time.monotonic() > deadline:
            stop_server(proc)
            raise RuntimeError("server did not start within 60 s")
        time.sleep(0.1)


def stop_server(proc: subprocess.Popen) -> None:
    """Terminate the server we started, killing it if it does not stop."""
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def run(args: argparse.Namespace) -> dict:
    """Calibrate, soak and return the report (``ok`` says whether it passed)."""
    mix = build_mix()
    proc = None
    if args.server:
        base, pid = args.server.rstrip("/"), args.server_pid
    else:
        proc, base = start_server()
        pid = proc.pid
    try:
        rss_start = rss_bytes(pid) if pid else None
        warm_stats = Stats()
        warm_up(base, mix, warm_stats)
        sat_rate, sat_stats = saturate(base, mix, args.calibrate_seconds, args.clients)
        rate = max(1.0, sat_rate * args.load)
        rss_samples: list[tuple[float, int]] = []
        rss_soak_start = rss_bytes(pid) if pid else None
        every = max(1.0, args.seconds / 10)
        next_sample = [every]

        def on_tick(elapsed: float) -> None:
            if pid and elapsed >= next_sample[0]:
                rss_samples.append((round(elapsed, 1), rss_bytes(pid)))
                next_sample[0] += every
            if proc is not None and proc.poll() is not None:
                raise RuntimeError(f"server died: {proc.stderr.read().decode()[-2000:]}")

        achieved, stats = open_loop(base, mix, rate, args.seconds, args.clients, on_tick)
        rss_end = rss_bytes(pid) if pid else None
    finally:
        if proc is not None:
            stop_server(proc)

    mb = 1024 * 1024
    growth_mb = (rss_end - rss_soak_start) / mb if pid else None
    report = {
        "saturation_req_s": round(sat_rate, 1),
        "saturation_errors": sat_stats.errors + warm_stats.errors,
        "target_req_s": round(rate, 1),
        "achieved_req_s": round(achieved, 1),
        "seconds": args.seconds,
        "requests": stats.total,
        "statuses": {str(k): v for k, v in sorted(stats.statuses.items())},
        "exceptions": dict(stats.exceptions),
        "errors": stats.errors + sat_stats.errors + warm_stats.errors,
        "error_samples": warm_stats.bad_samples + sat_stats.bad_samples + stats.bad_samples,
        "latency_ms": {
            kind: {
                "n": len(v),
                "p50": round(percentile(v, 50) * 1000, 2),
                "p99": round(percentile(v, 99) * 1000, 2),
            }
            for kind, v in sorted(stats.latencies.items())
        },
        "rss_mb": None
        if not pid
        else {
            "process_start": round(rss_start / mb, 1),
            "soak_start": round(rss_soak_start / mb, 1),
            "samples": [(t, round(b / mb, 1)) for t, b in rss_samples],
            "end": round(rss_end / mb, 1),
            "growth": round(growth_mb, 1),
            "bound": args.max_rss_growth_mb,
        },
    }
    report["ok"] = report["errors"] == 0 and (
        growth_mb is None or growth_mb < args.max_rss_growth_mb
    )
    return report


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seconds", type=float, default=600, help="soak duration (default 600)")
    p.add_argument("--calibrate-seconds", type=float, default=5, help="saturation phase")
    p.add_argument("--load", type=float, default=0.5, help="fraction of saturation (0.5)")
    p.add_argument("--clients", type=int, default=16, help="client threads")
    p.add_argument("--server", help="use this running server instead of starting one")
    p.add_argument("--server-pid", type=int, help="pid of --server, for RSS")
    p.add_argument("--max-rss-growth-mb", type=float, default=48.0)
    p.add_argument("--json", action="store_true", help="print the report as JSON only")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run the soak and print the report; exit 1 on any error or excess RSS growth."""
    args = parse_args(argv)
    # SIGTERM becomes SystemExit so that run()'s finally stops the server we started.
    previous = signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        report = run(args)
    except RuntimeError as exc:
        print(f"soak: {exc}", file=sys.stderr)
        return 2
    finally:
        signal.signal(signal.SIGTERM, previous)
    if args.json:
        print(json.dumps(report))
    else:
        for key, value in report.items():
            if key == "latency_ms":
                print("latency ms (from due time):")
                for kind, figures in value.items():
                    print(
                        f"  {kind:16} n={figures['n']:7} p50={figures['p50']:8} p99={figures['p99']}"
                    )
            else:
                print(f"{key}: {value}")
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
