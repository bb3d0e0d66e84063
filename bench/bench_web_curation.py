"""The validate page and the curation pages: time per request, cold and cached, in-process.

Run: python bench/bench_web_curation.py [--rounds 5] [--number 20]

Sets up a throwaway data directory (seeded from the repository), an editor and an approver,
and one published change, so there are two releases to compare. The QA report and a release
comparison are cached per release; "cold" empties the cache before every request, "cached" does
not. The validate page is timed against ``POST /api/validate`` with the same plan (the engine
alone, as JSON) as the baseline. Prints min and median milliseconds per request.
"""

from __future__ import annotations

import argparse
import html
import platform
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

VASKE_SIG = "885400cc-dd71-479e-8993-3fc48fdd6710"
PLAN = ROOT / "examples" / "plans" / "plan-bundle.json"


def _hidden(page: str, name: str) -> str:
    m = re.search(rf'name="{name}" value="([^"]*)"', page)
    assert m, name
    return html.unescape(m.group(1))


def _time(call, rounds: int, number: int, before=None) -> tuple[float, float]:
    per = []
    for _ in range(rounds):
        total = 0.0
        for _ in range(number):
            if before is not None:
                before()
            start = time.perf_counter()
            call()
            total += time.perf_counter() - start
        per.append(total / number * 1000)
    return min(per), statistics.median(per)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--number", type=int, default=20)
    args = parser.parse_args()

    from fastapi.testclient import TestClient

    from termserver.api.app import create_app
    from termserver.curation.server import attach
    from termserver.curation.service import Curation

    with tempfile.TemporaryDirectory() as tmp:
        cur = Curation.open(Path(tmp) / "data")
        _, editor = cur.add_user(None, "ebba", "editor", by="bench")
        _, approver = cur.add_user(None, "anna", "approver", by="bench")
        app = attach(create_app(cur.snapshot()), cur)
        clients = {}
        for name, token in (("ebba", editor), ("anna", approver)):
            c = TestClient(app)
            login = c.get("/kuratering/log-ind").text
            c.post("/kuratering/log-ind", data={"csrf": _hidden(login, "csrf"), "token": token})
            clients[name] = c
        ebba, anna = clients["ebba"], clients["anna"]
        url = f"/kuratering/foreslaa/ffb/{VASKE_SIG}"
        form = ebba.get(url).text
        r = ebba.post(
            url,
            data={"csrf": _hidden(form, "csrf"), "etag": _hidden(form, "etag"),
                  "type": "definition", "definition": "Ny definition til måling.",
                  "reason": "måling"},
            follow_redirects=False,
        )  # fmt: skip
        proposal = r.headers["location"].split("?")[0]
        page = anna.get(proposal).text
        anna.post(f"{proposal}/godkend", data={"csrf": _hidden(page, "csrf"),
                                               "etag": _hidden(page, "etag")})  # fmt: skip
        page = anna.get("/kuratering/udgivelser").text
        r = anna.post("/kuratering/udgivelser", data={"csrf": _hidden(page, "csrf")},
                      follow_redirects=False)  # fmt: skip
        compare = r.headers["location"]
        plan = PLAN.read_bytes()

        def forget() -> None:
            app.state.web_reports = None

        def ok(response) -> None:
            assert response.status_code == 200, response.text[:300]

        rows = [
            ("POST /api/validate, FHIR Bundle example (baseline)",
             lambda: ok(ebba.post("/api/validate", content=plan,
                                  headers={"content-type": "application/json"})), None, 1),
            ("POST /valider, same plan as upload",
             lambda: ok(ebba.post("/valider", files={"fil": ("p.json", plan)})), None, 1),
            ("proposal list /kuratering", lambda: ok(anna.get("/kuratering?status=alle")),
             None, 1),
            ("proposal page (diff, comments)", lambda: ok(anna.get(proposal)), None, 1),
            ("propose form", lambda: ok(ebba.get(url)), None, 1),
            ("audit log", lambda: ok(anna.get("/kuratering/log")), None, 1),
            ("compare releases, cold", lambda: ok(anna.get(compare)), forget, 5),
            ("compare releases, cached", lambda: ok(anna.get(compare)), None, 1),
            ("QA report, cold (run_check + OWL + coverage)",
             lambda: ok(anna.get("/kuratering/kvalitet")), forget, 10),
            ("QA report, cached", lambda: ok(anna.get("/kuratering/kvalitet")), None, 1),
        ]  # fmt: skip
        print(f"{platform.processor() or platform.machine()}, rounds={args.rounds}")
        print(f"{'request':<52} {'ms min':>9} {'ms median':>10}")
        for name, call, before, divisor in rows:
            call()  # warm: templates compiled, caches filled where they are kept
            number = max(args.number // divisor, 1)
            lo, med = _time(call, args.rounds if divisor == 1 else 3, number, before)
            print(f"{name:<52} {lo:>9.1f} {med:>10.1f}")
        for c in clients.values():
            c.close()
        cur.close()


if __name__ == "__main__":
    main()
