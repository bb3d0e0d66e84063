"""Web page rendering: time and weight of each page, in-process.

Run: python bench/bench_web.py [--rounds 5] [--number 50]

Each page is requested through the ASGI app in this process (Starlette's TestClient, so routing,
template rendering and middleware are all in) and timed as a ratio to the JSON concept answer
``/api/concepts/ffb/<Vaske sig>`` measured the same way, which is the cheapest full request the
app serves. Also prints each page's size, raw and gzipped, since a slow municipal PC on a thin
line pays for bytes. Prints min and median milliseconds per request.
"""

from __future__ import annotations

import argparse
import gzip
import platform
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

VASKE_SIG = "885400cc-dd71-479e-8993-3fc48fdd6710"
PAGES = {
    "json concept (baseline)": f"/api/concepts/ffb/{VASKE_SIG}",
    "front page /": "/",
    "search vasek": "/soeg?q=vasek",
    "suggestions vasek": "/soeg/forslag?q=vasek",
    "concept Vaske sig": f"/begreb/ffb/{VASKE_SIG}",
    "scheme ffb tree": "/skema/ffb",
    "scheme fsiii tree": "/skema/fsiii",
    "tree children fragment": "/skema/ffb/under?kode=da3f488f-1742-4d00-b247-a7d47500b36b",
    "mapping set vum-2 (81 rows)": "/mappinger/vum-2--ffb",
    "translate vum-1 socialt-liv": "/oversaet?skema=vum-1&kode=socialt-liv",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--number", type=int, default=50)
    args = parser.parse_args()

    from fastapi.testclient import TestClient

    from termserver.api.app import create_app
    from termserver.api.state import build_snapshot

    client = TestClient(create_app(build_snapshot()))
    print(
        f"machine: {platform.processor() or platform.machine()}, python {platform.python_version()}"
    )
    print(f"{'page':30} {'ms min':>8} {'ms median':>10} {'× json':>7} {'bytes':>8} {'gzip':>7}")
    base = None
    for name, url in PAGES.items():
        r = client.get(url)  # warm: templates compile, caches fill
        assert r.status_code == 200, (url, r.status_code)
        times = []
        for _ in range(args.rounds):
            t0 = time.perf_counter()
            for _ in range(args.number):
                client.get(url)
            times.append((time.perf_counter() - t0) / args.number * 1000)
        lo, med = min(times), statistics.median(times)
        base = base or med
        size = len(r.content)
        print(
            f"{name:30} {lo:8.2f} {med:10.2f} {med / base:7.1f} {size:8d} {len(gzip.compress(r.content)):7d}"
        )


if __name__ == "__main__":
    main()
