"""Cost of the observability and limits middleware per request, without network noise.

Run: python bench/bench_observability.py [--requests 20000] [--rounds 7] [--http SECONDS]

Calls the ASGI app directly (no sockets) with a `$lookup` request, in interleaved rounds, on
two apps built from the same snapshot: the real one, and one without ``Observability`` and
``Limits`` (rate limiting switched on in a third, to price the token bucket too). Prints
microseconds per request (min/median over rounds) and the overhead against the stripped app.
With ``--http SECONDS`` it also serves both apps with uvicorn (one worker each, loopback) and
drives `$lookup` with wrk for SECONDS per round, rounds interleaved: the overhead as a share of a
real request.
"""

from __future__ import annotations

import argparse
import asyncio
import platform
import statistics
import time

from termserver.api.app import create_app
from termserver.api.limits import Limits
from termserver.api.observability import Observability
from termserver.api.state import build_snapshot
from termserver.settings import Settings

QUERY = b"system=urn:oid:1.2.208.176.2.22&code=885400cc-dd71-479e-8993-3fc48fdd6710"


def scope() -> dict:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": "/fhir/CodeSystem/$lookup",
        "raw_path": b"/fhir/CodeSystem/$lookup",
        "query_string": QUERY,
        "root_path": "",
        "headers": [(b"host", b"bench"), (b"accept", b"application/fhir+json")],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
    }


async def run(app, n: int) -> float:
    """Seconds per request over ``n`` sequential requests."""

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    status = []

    async def send(message):
        if message["type"] == "http.response.start":
            status.append(message["status"])

    start = time.perf_counter()
    for _ in range(n):
        await app(scope(), receive, send)
    elapsed = time.perf_counter() - start
    assert set(status) == {200}, set(status)
    return elapsed / n


async def null_app(scope, receive, send) -> None:
    """The cheapest possible ASGI answer: what the middleware is priced against."""
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"{}"})


def null_stacks() -> dict:
    from types import SimpleNamespace

    from termserver.api.observability import Metrics
    from termserver.api.state import Snapshot

    state = SimpleNamespace(holder=SimpleNamespace(current=Snapshot(vocab=None, release="b")))
    metrics = Metrics(state)
    return {
        "null app": null_app,
        "null app + Observability": Observability(null_app, metrics),
        "null app + Observability + Limits": Observability(Limits(null_app, Settings()), metrics),
        "... + rate limit on": Observability(
            Limits(null_app, Settings(rate_limit=1e9, rate_burst=10**9)), metrics
        ),
    }


def strip(app):
    app.user_middleware = [m for m in app.user_middleware if m.cls not in (Observability, Limits)]
    return app


def make_app():
    """uvicorn factory: the real app."""
    return create_app(build_snapshot(), Settings())


def make_stripped_app():
    """uvicorn factory: the real app without Observability and Limits."""
    return strip(create_app(build_snapshot(), Settings()))


def over_http(seconds: int, rounds: int) -> None:
    import os
    import sys
    from pathlib import Path

    from bench_http import free_port, start, stop, wait_for, wrk

    here = Path(__file__).resolve().parent
    path = "/fhir/CodeSystem/$lookup?" + QUERY.decode()
    servers = {}
    try:
        for name, factory in (("without", "make_stripped_app"), ("with", "make_app")):
            port = free_port()
            proc = start(
                [sys.executable, "-m", "uvicorn", f"bench_observability:{factory}", "--factory",
                 "--port", str(port), "--log-level", "warning", "--no-access-log",
                 "--app-dir", str(here)],
                port,
                {"PYTHONPATH": os.pathsep.join([str(here), os.environ.get("PYTHONPATH", "")])},
            )  # fmt: skip
            servers[name] = (proc, f"http://127.0.0.1:{port}{path}")
            wait_for(servers[name][1], proc)
        rps: dict[str, list[float]] = {name: [] for name in servers}
        for _ in range(rounds):
            for name, (_, url) in servers.items():
                rps[name].append(wrk(url, seconds, 16)["rps"])
    finally:
        for proc, _ in servers.values():
            stop(proc)
    print(f"{'$lookup over HTTP (wrk -c16)':32} {'req/s min':>10} {'req/s median':>13}")
    for name, runs in rps.items():
        print(
            f"{name + ' observability/limits':32} {min(runs):10.0f} {statistics.median(runs):13.0f}"
        )
    ratio = statistics.median(rps["with"]) / statistics.median(rps["without"])
    print(f"with / without (median req/s): {ratio:.1%}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--requests", type=int, default=20000)
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--http", type=int, default=0, metavar="SECONDS")
    args = ap.parse_args()
    snapshot = build_snapshot()
    apps = {
        "without observability/limits": strip(create_app(snapshot, Settings())),
        "with observability/limits": create_app(snapshot, Settings()),
        "with rate limit on": create_app(snapshot, Settings(rate_limit=1e9, rate_burst=10**9)),
    }
    print(f"# bench_observability  {time.strftime('%Y-%m-%d')}  {platform.machine()}  "
          f"python {platform.python_version()}  {args.requests} requests x {args.rounds} rounds")  # fmt: skip
    loop = asyncio.new_event_loop()
    # The middleware stack is built on the first call; warm every app up first.
    for app in apps.values():
        loop.run_until_complete(run(app, 500))
    times: dict[str, list[float]] = {name: [] for name in apps}
    for _ in range(args.rounds):
        for name, app in apps.items():
            times[name].append(loop.run_until_complete(run(app, args.requests)))
    nulls = null_stacks()
    null_times: dict[str, list[float]] = {name: [] for name in nulls}
    for _ in range(args.rounds):
        for name, app in nulls.items():
            null_times[name].append(loop.run_until_complete(run(app, args.requests)))
    bare = statistics.median(null_times["null app"])
    print(f"{'middleware around a null app':36} {'µs min':>8} {'µs median':>10} {'added µs':>9}")
    for name, t in null_times.items():
        med = statistics.median(t)
        print(f"{name:36} {min(t) * 1e6:8.2f} {med * 1e6:10.2f} {(med - bare) * 1e6:9.2f}")
    base = statistics.median(times["without observability/limits"])
    print(f"{'app':32} {'µs min':>8} {'µs median':>10} {'overhead':>9}")
    for name, t in times.items():
        med = statistics.median(t)
        print(f"{name:32} {min(t) * 1e6:8.1f} {med * 1e6:10.1f} {(med / base - 1):9.1%}")
    if args.http:
        over_http(args.http, args.rounds)


if __name__ == "__main__":
    main()
