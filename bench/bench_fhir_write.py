"""Cost of FHIR resources put by admins: the write itself, and reads around it.

Run: python bench/bench_fhir_write.py [--rounds 7] [--requests 200] [--stored 20]

In-process (FastAPI TestClient, one thread, SQLite curation database in a temporary data
directory). Figures, min/median over rounds:
  put       - PUT /fhir/CodeSystem/{id} of the HL7 suite's simple code system (a new version each
              time): parse and check, commit, reload the stored layer;
  first     - the first $lookup after a write (the stored layer is laid over the snapshot again);
  lookup    - $lookup of an FFB code with no stored resources, and with --stored code systems
              stored, as a ratio to the first (same process, alternating rounds): what every
              request pays for the stored layer once it is built.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
SIMPLE = ROOT / "tests" / "data" / "tx-ecosystem" / "tests" / "simple" / "codesystem-simple.json"
FFB = "urn:oid:1.2.208.176.2.22"
VASKE_SIG = "885400cc-dd71-479e-8993-3fc48fdd6710"


def _app(data_dir: Path):
    from termserver.api.app import create_app
    from termserver.curation.server import attach
    from termserver.curation.service import Curation

    cur = Curation.open(data_dir)
    return attach(create_app(cur.snapshot()), cur), cur


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--requests", type=int, default=200)
    ap.add_argument("--stored", type=int, default=20)
    args = ap.parse_args()

    from fastapi.testclient import TestClient

    doc = json.loads(SIMPLE.read_text("utf-8"))
    lookup = {"system": FFB, "code": VASKE_SIG}
    with tempfile.TemporaryDirectory() as tmp:
        bare_app, bare_cur = _app(Path(tmp) / "bare")
        full_app, full_cur = _app(Path(tmp) / "full")
        _, token = full_cur.add_user(None, "bench", "admin", by="bench")
        headers = {"Authorization": f"Bearer {token}", "content-type": "application/fhir+json"}
        bare, full = TestClient(bare_app), TestClient(full_app)
        for i in range(args.stored):
            stored = doc | {"id": f"cs{i}", "url": f"{doc['url']}-{i}"}
            r = full.put(f"/fhir/CodeSystem/cs{i}", content=json.dumps(stored), headers=headers)
            assert r.status_code == 201, r.text
        assert full.get("/fhir/CodeSystem/$lookup", params=lookup).status_code == 200

        def per_request(client: TestClient) -> float:
            started = time.perf_counter()
            for _ in range(args.requests):
                client.get("/fhir/CodeSystem/$lookup", params=lookup)
            return (time.perf_counter() - started) / args.requests

        puts, firsts, plain, layered = [], [], [], []
        for n in range(args.rounds):
            plain.append(per_request(bare))
            layered.append(per_request(full))
            body = json.dumps(doc | {"id": "simple", "title": f"round {n}"})
            started = time.perf_counter()
            r = full.put("/fhir/CodeSystem/simple", content=body, headers=headers)
            puts.append(time.perf_counter() - started)
            assert r.status_code in (200, 201), r.text
            started = time.perf_counter()
            full.get("/fhir/CodeSystem/$lookup", params=lookup)
            firsts.append(time.perf_counter() - started)
        bare_cur.close()
        full_cur.close()

    def row(name: str, values: list[float]) -> None:
        print(
            f"{name:<34} min {min(values) * 1e3:8.2f} ms   median {statistics.median(values) * 1e3:8.2f} ms"
        )

    row("PUT CodeSystem (simple, 7 codes)", puts)
    row(f"first $lookup after a write ({args.stored + 1} stored)", firsts)
    row("$lookup, nothing stored", plain)
    row(f"$lookup, {args.stored} code systems stored", layered)
    ratios = [b / a for a, b in zip(plain, layered, strict=True)]
    print(
        f"$lookup with stored / without: min {min(ratios):.2f}  median {statistics.median(ratios):.2f}"
    )


if __name__ == "__main__":
    main()
