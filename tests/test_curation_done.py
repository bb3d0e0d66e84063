"""The issue's done-when scenario, over real HTTP, on SQLite and on PostgreSQL.

An editor proposes renaming a real FFB concept and adding a mapping; an approver approves (the
author may not); a release is published while a client keeps asking `$lookup`: it sees the old
answer, then the new one, never an error; the release diff shows exactly those two changes; the
audit log says who did what.
"""

from __future__ import annotations

import threading
import time

import httpx
import uvicorn

pytest_plugins = ["curation_fixtures"]

FFB = "urn:oid:1.2.208.176.2.22"
VASKE_SIG = "885400cc-dd71-479e-8993-3fc48fdd6710"
VASKE_TOEJ = "bd67597b-e80f-427f-8cf9-79d01eff91fc"
PRAKTISKE_OPGAVER = "eef71492-65f5-4297-aa95-3c3a6866ddef"

OLD, NEW = "Vaske sig", "Vaske sig og tørre sig"


class LiveServer:
    """The app on a loopback port, in this process (so the test can see its threads)."""

    def __init__(self, app) -> None:
        self.server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="on")
        )
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            assert time.monotonic() < deadline, "server did not start"
            time.sleep(0.02)
        port = self.server.servers[0].sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


class Poller(threading.Thread):
    """A client asking `$lookup` for Vaske sig as fast as it can, recording every answer."""

    def __init__(self, base: str) -> None:
        super().__init__(daemon=True)
        self.base = base
        self.answers: list[tuple[int, str | None, str | None]] = []
        self.stop = threading.Event()

    def run(self) -> None:
        with httpx.Client(base_url=self.base, timeout=10) as http:
            while not self.stop.is_set():
                try:
                    r = http.get(
                        "/fhir/CodeSystem/$lookup", params={"system": FFB, "code": VASKE_SIG}
                    )
                except httpx.HTTPError as exc:
                    self.answers.append((0, None, repr(exc)))
                    continue
                display = None
                if r.status_code == 200:
                    params = r.json()["parameter"]
                    display = next(p["valueString"] for p in params if p["name"] == "display")
                self.answers.append((r.status_code, display, r.headers.get("x-termserver-release")))

    def wait_for(self, n: int) -> None:
        deadline = time.monotonic() + 30
        while len(self.answers) < n:
            assert time.monotonic() < deadline, "the polling client got no answers"
            time.sleep(0.01)


def test_editor_and_approver_publish_a_rename_and_a_mapping_while_clients_read(curation, people):
    from termserver.api.app import create_app
    from termserver.curation.server import attach
    from termserver.diff import RELABELLED

    app = attach(create_app(curation.snapshot()), curation)
    editor = {"Authorization": f"Bearer {people['ebba'][1]}"}
    approver = {"Authorization": f"Bearer {people['anna'][1]}"}

    with LiveServer(app) as base, httpx.Client(base_url=base, timeout=30) as http:
        poller = Poller(base)
        poller.start()
        poller.wait_for(20)

        # The editor reads the concept (and its ETag), proposes the rename and a mapping.
        r = http.get(f"/api/curation/concepts/ffb/{VASKE_SIG}", headers=editor)
        assert r.status_code == 200 and r.json()["current"]["label"] == OLD
        rename = http.post(
            "/api/curation/changes",
            headers={**editor, "If-Match": r.headers["ETag"]},
            json={
                "kind": "concept.label",
                "payload": {"scheme": "ffb", "code": VASKE_SIG, "label": NEW},
                "reason": "Definitionen omfatter også at tørre sig; betegnelsen skal sige det.",
            },
        )
        assert rename.status_code == 201, rename.text
        mapping = http.post(
            "/api/curation/changes",
            headers=editor,
            json={
                "kind": "mapping.add",
                "payload": {
                    "set": "vum-1--ffb",
                    "subject": "praktiske-opgaver-i-hjemmet",
                    "predicate": "narrowMatch",
                    "object": VASKE_TOEJ,
                },
                "reason": "Vaske tøj står i FFB under Praktiske opgaver; VUM's tema er bredere.",
            },
        )
        assert mapping.status_code == 201, mapping.text
        proposed = []
        for created in (rename, mapping):
            p = http.post(
                f"/api/curation/changes/{created.json()['id']}/propose",
                headers={**editor, "If-Match": created.headers["ETag"]},
            )
            assert p.status_code == 200, p.text
            assert p.json()["status"] == "proposed"
            proposed.append(p)

        # The editor may not approve (role), and nobody approves their own change (four eyes).
        first = proposed[0].json()
        denied = http.post(
            f"/api/curation/changes/{first['id']}/approve",
            headers={**editor, "If-Match": proposed[0].headers["ETag"]},
        )
        assert denied.status_code == 403
        own = http.post(
            "/api/curation/changes",
            headers=approver,
            json={
                "kind": "concept.note",
                "payload": {"scheme": "ffb", "code": PRAKTISKE_OPGAVER, "note": "Se også VUM."},
                "reason": "Henvisning til VUM",
            },
        )
        assert own.status_code == 428  # a change to an existing concept must name its ETag
        t = http.get(f"/api/curation/concepts/ffb/{PRAKTISKE_OPGAVER}", headers=approver)
        own = http.post(
            "/api/curation/changes",
            headers={**approver, "If-Match": t.headers["ETag"]},
            json={
                "kind": "concept.note",
                "payload": {"scheme": "ffb", "code": PRAKTISKE_OPGAVER, "note": "Se også VUM."},
                "reason": "Henvisning til VUM",
            },
        )
        own = http.post(
            f"/api/curation/changes/{own.json()['id']}/propose",
            headers={**approver, "If-Match": own.headers["ETag"]},
        )
        self_approval = http.post(
            f"/api/curation/changes/{own.json()['id']}/approve",
            headers={**approver, "If-Match": own.headers["ETag"]},
        )
        assert self_approval.status_code == 403
        assert "selv skrevet" in self_approval.json()["message"]

        for p in proposed:
            a = http.post(
                f"/api/curation/changes/{p.json()['id']}/approve",
                headers={**approver, "If-Match": p.headers["ETag"]},
                json={"note": "OK"},
            )
            assert a.status_code == 200, a.text
            assert a.json()["status"] == "approved" and a.json()["decided_by"] == "anna"

        before = len(poller.answers)
        published = http.post("/api/curation/releases", headers=approver)
        assert published.status_code == 201, published.text
        release = published.json()
        poller.wait_for(before + 40)
        poller.stop.set()
        poller.join(timeout=10)

        # The reader saw the old answer, then the new one, never anything else.
        assert all(status == 200 for status, _, _ in poller.answers), poller.answers[:5]
        displays = [d for _, d, _ in poller.answers]
        switch = displays.index(NEW)
        assert switch > 0
        assert set(displays[:switch]) == {OLD} and set(displays[switch:]) == {NEW}
        releases = [rel for _, _, rel in poller.answers]
        assert set(releases[:switch]) == {"content-20240530"}
        assert set(releases[switch:]) == {release["name"]}

        # The diff between the two releases is exactly the rename and the mapping.
        diff = http.get(f"/api/curation/releases/{release['name']}/diff").json()
        changed = [s for s in diff["schemes"]]
        assert [s["scheme"] for s in changed] == ["ffb"]
        ffb = changed[0]["changes"]
        assert {k: len(v) for k, v in ffb.items() if v} == {RELABELLED: 1}
        assert ffb[RELABELLED][0]["code"] == VASKE_SIG
        assert (ffb[RELABELLED][0]["before"], ffb[RELABELLED][0]["after"]) == (OLD, NEW)
        added = diff["mappings"]["changes"]["added"]
        assert diff["mappings"]["counts"] == {"added": 1, "removed": 0, "changed": 0}
        assert (added[0]["set"], added[0]["subject"]["code"], added[0]["object"]["code"]) == (
            "vum-1--ffb",
            "praktiske-opgaver-i-hjemmet",
            VASKE_TOEJ,
        )
        assert [c["id"] for c in release["changes"]] == [p.json()["id"] for p in proposed]

        # The old release still answers by its version.
        old = http.get(
            "/fhir/CodeSystem/$lookup",
            params={"system": FFB, "code": VASKE_SIG, "version": "20240530"},
        )
        assert any(p.get("valueString") == OLD for p in old.json()["parameter"])

        # The audit log says who did what, and from where.
        log = http.get("/api/curation/audit", headers=approver, params={"limit": 1000}).json()
        did = [(e["actor"], e["action"], e["object_id"]) for e in log if e["client"]]
        rid, mid = str(rename.json()["id"]), str(mapping.json()["id"])
        for expected in (
            ("ebba", "change.create", rid),
            ("ebba", "change.create", mid),
            ("ebba", "change.propose", rid),
            ("ebba", "change.propose", mid),
            ("anna", "change.approve", rid),
            ("anna", "change.approve", mid),
            ("anna", "release.publish", release["name"]),
        ):
            assert expected in did
        assert not any(a == "change.approve" and who == "ebba" for who, a, _ in did)
        assert all(e["client"] == "127.0.0.1" for e in log if e["client"])
