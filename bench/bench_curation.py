"""Curation timings: publishing a release, and `$lookup` latency while releases are swapped in.

    python bench/bench_curation.py [--rounds 5]

Publishing (one approved rename, SQLite): build, fsync, rename, flip, swap; min/median over
rounds. The lookup figures compare the same in-process calls with and without a publish running
in another thread (the ratio shows what a swap costs readers).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import threading
import time
from pathlib import Path

from fastapi.testclient import TestClient

from termserver.api.app import create_app
from termserver.curation.server import attach
from termserver.curation.service import Curation

FFB = "urn:oid:1.2.208.176.2.22"
VASKE_SIG = "885400cc-dd71-479e-8993-3fc48fdd6710"


def approve_rename(cur: Curation, editor, approver, label: str) -> None:
    c = cur.create_change(
        editor, "concept.label", {"scheme": "ffb", "code": VASKE_SIG, "label": label},
        "bench", if_match=cur.target(f"concept:ffb/{VASKE_SIG}").etag,
    )  # fmt: skip
    c = cur.propose(editor, c.id, c.etag)
    cur.approve(approver, c.id, c.etag)


def lookups(http: TestClient, n: int) -> list[float]:
    out = []
    for _ in range(n):
        t = time.perf_counter()
        r = http.get("/fhir/CodeSystem/$lookup", params={"system": FFB, "code": VASKE_SIG})
        out.append(time.perf_counter() - t)
        assert r.status_code == 200
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        cur = Curation.open(Path(tmp) / "data")
        print(f"first start (seed release 0): {time.perf_counter() - t:.2f} s")
        editor, _ = cur.add_user(None, "ebba", "editor")
        approver, _ = cur.add_user(None, "anna", "approver")
        app = attach(create_app(cur.snapshot()), cur)
        with TestClient(app) as http:
            baseline = lookups(http, 2000)
            publish_times, during = [], []
            for i in range(args.rounds):
                approve_rename(cur, editor, approver, f"Vaske sig (bench {i})")
                done = threading.Event()
                timing: list[float] = []

                def publish(done=done, timing=timing) -> None:
                    t0 = time.perf_counter()
                    cur.publish(approver)
                    timing.append(time.perf_counter() - t0)
                    done.set()

                threading.Thread(target=publish).start()
                while not done.is_set():
                    during.extend(lookups(http, 20))
                publish_times.extend(timing)
        cur.close()

    def ms(xs: list[float]) -> str:
        return f"min {min(xs) * 1e3:.2f} ms, median {statistics.median(xs) * 1e3:.2f} ms"

    print(f"publish ({args.rounds} rounds): {ms(publish_times)}")
    print(f"$lookup, idle ({len(baseline)}): {ms(baseline)}")
    print(f"$lookup, while publishing ({len(during)}): {ms(during)}")
    ratio = statistics.median(during) / statistics.median(baseline)
    print(f"median ratio while publishing / idle: {ratio:.2f}")


if __name__ == "__main__":
    main()
