"""Replicas on one PostgreSQL, and backup/restore of the curation state, with real processes.

Two `termserver serve` processes on loopback share one data directory and one PostgreSQL
database: a release published through one is served by the other within seconds while clients
keep asking both, and two approvers deciding the same change through different replicas cannot
both win. Then the operating guide's backup procedure (``pg_dump`` + a tar of the data
directory) is run, everything is wiped, restored, and the server answers as before.

PostgreSQL comes from ``$TERMSERVER_TEST_PG`` (``eval "$(.ci/pg-start)"``); without it these
tests are skipped locally and fail in CI, as in :mod:`curation_fixtures`.
"""

from __future__ import annotations

import glob
import os
import secrets
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest
from test_curation_done import FFB, NEW, OLD, VASKE_SIG

pytest_plugins = ["curation_fixtures"]

ROOT = Path(__file__).resolve().parent.parent

SEED_RELEASE = "content-20240530"


def pg_base_url() -> str:
    """The test server's URL (skip locally, fail in CI without one)."""
    # Imported here, after pytest registered the plugin, so its asserts are still rewritten.
    from curation_fixtures import pg_base_url as base

    return base()


def pg_tool(name: str) -> str:
    """The path of a PostgreSQL client program matching the test server's version."""
    candidates = [os.environ.get("PG_BINDIR", ""), *sorted(glob.glob("/usr/lib/postgresql/*/bin"))]
    for d in candidates:
        if d and os.access(os.path.join(d, name), os.X_OK):
            return os.path.join(d, name)
    found = shutil.which(name)
    if not found:
        pytest.fail(f"{name} not found (apt-get install postgresql-client)")
    return found


def database_named(base: str, name: str) -> str:
    """``base`` pointing at database ``name`` (same host, port, user and options)."""
    parts = urlsplit(base)
    return urlunsplit(parts._replace(path=f"/{name}"))


@pytest.fixture()
def pg_database() -> Iterator[str]:
    """A fresh PostgreSQL database of its own (a database, not a schema: it is dumped whole)."""
    import psycopg

    base = pg_base_url()
    name = f"ts_{secrets.token_hex(5)}"
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    try:
        yield database_named(base, name)
    finally:
        with psycopg.connect(base, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def termserver(*args: str, database: str, data_dir: Path) -> str:
    """Run the `termserver` CLI; its standard output."""
    env = {**os.environ, "TERMSERVER_DATABASE_URL": database, "TERMSERVER_DATA": str(data_dir)}
    done = subprocess.run(
        [sys.executable, "-m", "termserver", *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def add_user(name: str, role: str, *, database: str, data_dir: Path) -> str:
    """Create a user with the CLI, as an operator would; their token."""
    out = termserver("user", "add", name, "--role", role, database=database, data_dir=data_dir)
    return out.strip().splitlines()[-1]


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Replica:
    """One `termserver serve` process on a loopback port."""

    def __init__(self, data_dir: Path, database: str) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, "TERMSERVER_DATABASE_URL": database}
        env.pop("TERMSERVER_DATA", None)
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "termserver",
                "serve",
                "--port",
                str(self.port),
                "--data-dir",
                str(data_dir),
                "--log-level",
                "warning",
            ],
            env=env,
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )

    def wait_ready(self, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                if httpx.get(f"{self.base}/readyz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if self.proc.poll() is not None:
                raise AssertionError(f"server exited: {self.proc.stderr.read().decode()[-2000:]}")
            assert time.monotonic() < deadline, "server did not become ready"
            time.sleep(0.1)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        if self.proc.stderr:
            self.proc.stderr.close()


@pytest.fixture()
def replicas() -> Iterator[list[Replica]]:
    """Start replicas through the returned list's owner; every one is stopped afterwards."""
    started: list[Replica] = []
    try:
        yield started
    finally:
        for r in started:
            r.stop()


def start(started: list[Replica], data_dir: Path, database: str) -> Replica:
    r = Replica(data_dir, database)
    started.append(r)
    r.wait_ready()
    return r


class Poller(threading.Thread):
    """A client asking one replica `$lookup` for Vaske sig in a loop, recording every answer."""

    def __init__(self, base: str) -> None:
        super().__init__(daemon=True)
        self.base = base
        self.answers: list[tuple[int, str | None, str | None, float]] = []
        self.stop = threading.Event()

    def run(self) -> None:
        with httpx.Client(base_url=self.base, timeout=10) as http:
            while not self.stop.is_set():
                try:
                    r = http.get(
                        "/fhir/CodeSystem/$lookup", params={"system": FFB, "code": VASKE_SIG}
                    )
                except httpx.HTTPError as exc:
                    self.answers.append((0, repr(exc), None, time.monotonic()))
                    continue
                display = None
                if r.status_code == 200:
                    params = r.json()["parameter"]
                    display = next(p["valueString"] for p in params if p["name"] == "display")
                release = r.headers.get("x-termserver-release")
                self.answers.append((r.status_code, display, release, time.monotonic()))
                time.sleep(0.01)

    def first_seen(self, display: str) -> float | None:
        return next((t for _, d, _, t in list(self.answers) if d == display), None)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def publish_relabel(http: httpx.Client, editor: str, approver: str) -> dict:
    """Editor proposes renaming Vaske sig, approver approves and publishes; the release."""
    seen = http.get(f"/api/curation/concepts/ffb/{VASKE_SIG}", headers=bearer(editor))
    assert seen.status_code == 200 and seen.json()["current"]["label"] == OLD
    made = http.post(
        "/api/curation/changes",
        headers={**bearer(editor), "If-Match": seen.headers["ETag"]},
        json={
            "kind": "concept.label",
            "payload": {"scheme": "ffb", "code": VASKE_SIG, "label": NEW},
            "reason": "Definitionen omfatter også at tørre sig; betegnelsen skal sige det.",
        },
    )
    assert made.status_code == 201, made.text
    proposed = http.post(
        f"/api/curation/changes/{made.json()['id']}/propose",
        headers={**bearer(editor), "If-Match": made.headers["ETag"]},
    )
    assert proposed.status_code == 200, proposed.text
    approved = http.post(
        f"/api/curation/changes/{made.json()['id']}/approve",
        headers={**bearer(approver), "If-Match": proposed.headers["ETag"]},
        json={"note": "OK"},
    )
    assert approved.status_code == 200, approved.text
    published = http.post("/api/curation/releases", headers=bearer(approver))
    assert published.status_code == 201, published.text
    return published.json()


def test_release_published_through_one_replica_is_served_by_the_other_without_failed_requests(
    tmp_path, pg_database, replicas
):
    data_dir = tmp_path / "data"
    tokens = {
        name: add_user(name, role, database=pg_database, data_dir=data_dir)
        for name, role in (("ebba", "editor"), ("anna", "approver"), ("aksel", "approver"))
    }
    a = start(replicas, data_dir, pg_database)
    b = start(replicas, data_dir, pg_database)
    pollers = [Poller(a.base), Poller(b.base)]
    for p in pollers:
        p.start()
    try:
        with httpx.Client(base_url=a.base, timeout=30) as http_a:
            time.sleep(0.5)
            release = publish_relabel(http_a, tokens["ebba"], tokens["anna"])
            published_at = time.monotonic()
            # B polls the `current` pointer every 2 s; allow a generous margin on a busy machine.
            deadline = published_at + 10
            while pollers[1].first_seen(NEW) is None:
                assert time.monotonic() < deadline, "replica B never served the new label"
                time.sleep(0.05)
            lag = pollers[1].first_seen(NEW) - published_at
            time.sleep(0.5)
    finally:
        for p in pollers:
            p.stop.set()
            p.join(timeout=15)

    assert lag < 5, f"replica B followed after {lag:.1f} s"
    for p in pollers:
        failed = [a for a in p.answers if a[0] != 200]
        assert not failed, failed[:5]
        displays = [d for _, d, _, _ in p.answers]
        switch = displays.index(NEW)
        # Each replica served the old label, then the new one, and never went back.
        assert switch > 0 and set(displays[:switch]) == {OLD} and set(displays[switch:]) == {NEW}
        releases = [r for _, _, r, _ in p.answers]
        assert set(releases[:switch]) == {SEED_RELEASE}
        assert set(releases[switch:]) == {release["name"]}

    # Two approvers decide one proposed change at once, one through each replica, with the
    # same ETag: one approves, the other rejects. Exactly one decision may stand.
    with (
        httpx.Client(base_url=a.base, timeout=30) as http_a,
        httpx.Client(base_url=b.base, timeout=30) as http_b,
    ):
        ebba = bearer(tokens["ebba"])
        seen = http_a.get(f"/api/curation/concepts/ffb/{VASKE_SIG}", headers=ebba)
        made = http_a.post(
            "/api/curation/changes",
            headers={**ebba, "If-Match": seen.headers["ETag"]},
            json={
                "kind": "concept.note",
                "payload": {"scheme": "ffb", "code": VASKE_SIG, "note": "Omfatter tørring."},
                "reason": "Betegnelsen er ændret; noten forklarer hvorfor.",
            },
        )
        assert made.status_code == 201, made.text
        url = f"/api/curation/changes/{made.json()['id']}"
        proposed = http_a.post(f"{url}/propose", headers={**ebba, "If-Match": made.headers["ETag"]})
        assert proposed.status_code == 200, proposed.text
        etag = proposed.headers["ETag"]
        assert http_b.get(url).headers["ETag"] == etag  # both replicas see the same version

        barrier = threading.Barrier(2)
        results: dict[str, httpx.Response] = {}

        def decide(who: str, http: httpx.Client, action: str) -> None:
            barrier.wait()
            results[action] = http.post(
                f"{url}/{action}",
                headers={**bearer(tokens[who]), "If-Match": etag},
                json={"note": f"{who} via {http.base_url}"},
            )

        threads = [
            threading.Thread(target=decide, args=("anna", http_a, "approve")),
            threading.Thread(target=decide, args=("aksel", http_b, "reject")),
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=30)

        statuses = sorted(r.status_code for r in results.values())
        assert statuses == [200, 412], {k: (r.status_code, r.text) for k, r in results.items()}
        won = next(r for r in results.values() if r.status_code == 200).json()
        lost = next(r for r in results.values() if r.status_code == 412).json()
        assert won["status"] in ("approved", "rejected")
        # The loser is told what is there now (the winner's decision), and both replicas serve
        # exactly that, with the editor's note intact.
        assert lost["current"]["status"] == won["status"]
        assert lost["current"]["decided_by"] == won["decided_by"]
        for http in (http_a, http_b):
            now = http.get(url).json()
            assert (now["status"], now["decided_by"], now["version"]) == (
                won["status"],
                won["decided_by"],
                won["version"],
            )
            assert now["payload"]["note"] == "Omfatter tørring."


def test_backup_wipe_and_restore_keep_release_users_tokens_and_audit(
    tmp_path, pg_database, replicas
):
    import psycopg

    data_dir = tmp_path / "data"
    tokens = {
        name: add_user(name, role, database=pg_database, data_dir=data_dir)
        for name, role in (("ebba", "editor"), ("anna", "approver"), ("ada", "admin"))
    }
    server = start(replicas, data_dir, pg_database)
    with httpx.Client(base_url=server.base, timeout=30) as http:
        release = publish_relabel(http, tokens["ebba"], tokens["anna"])
        before = {
            "audit": http.get("/api/curation/audit", headers=bearer(tokens["ada"])).json(),
            "users": http.get("/api/curation/users", headers=bearer(tokens["ada"])).json(),
            "changes": http.get("/api/curation/changes").json(),
            "releases": http.get("/api/curation/releases").json(),
        }
    assert any(e["action"] == "release.publish" for e in before["audit"]), before["audit"][-3:]
    server.stop()

    # Back up: the database with pg_dump, the data directory with tar (the procedure in
    # docs/operations.md, "Backup and restore").
    dump = tmp_path / "curation.dump"
    archive = tmp_path / "data.tar.gz"
    subprocess.run(
        [pg_tool("pg_dump"), "--format=custom", "--file", str(dump), "--dbname", pg_database],
        check=True,
        timeout=120,
    )
    subprocess.run(
        ["tar", "-czf", str(archive), "-C", str(data_dir.parent), "data"], check=True, timeout=120
    )

    # Wipe both.
    name = urlsplit(pg_database).path.lstrip("/")
    base = pg_base_url()
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE {name} WITH (FORCE)")
    shutil.rmtree(data_dir)
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")

    # Restore.
    subprocess.run(
        [pg_tool("pg_restore"), "--no-owner", "--exit-on-error", "-d", pg_database, str(dump)],
        check=True,
        timeout=120,
    )
    subprocess.run(["tar", "-xzf", str(archive), "-C", str(tmp_path)], check=True, timeout=120)

    restored = start(replicas, data_dir, pg_database)
    with httpx.Client(base_url=restored.base, timeout=30) as http:
        r = http.get("/fhir/CodeSystem/$lookup", params={"system": FFB, "code": VASKE_SIG})
        assert r.status_code == 200 and r.headers["x-termserver-release"] == release["name"]
        display = next(p["valueString"] for p in r.json()["parameter"] if p["name"] == "display")
        assert display == NEW
        assert http.get("/api/curation/me", headers=bearer(tokens["ebba"])).json()["role"] == (
            "editor"
        )
        after = {
            "audit": http.get("/api/curation/audit", headers=bearer(tokens["ada"])).json(),
            "users": http.get("/api/curation/users", headers=bearer(tokens["ada"])).json(),
            "changes": http.get("/api/curation/changes").json(),
            "releases": http.get("/api/curation/releases").json(),
        }
    assert after == before


def test_opening_an_older_database_applies_the_missing_migrations_and_a_newer_one_is_refused(
    pg_database, tmp_path, monkeypatch
):
    from termserver.curation import store as store_module

    every = store_module.migrations_for(store_module.POSTGRESQL)
    # A database left by a termserver that knew only the first migration.
    with monkeypatch.context() as m:
        m.setattr(store_module, "migrations_for", lambda dialect: every[:1])
        old = store_module.open_store(pg_database, tmp_path)
        assert old.schema_version() == 1
        old.close()
    upgraded = store_module.open_store(pg_database, tmp_path)
    try:
        assert upgraded.schema_version() == every[-1].number
        assert upgraded.migrate() == []
        # A database a newer termserver migrated is refused, not used half-understood.
        with upgraded.transaction() as tx:
            tx.execute(
                "INSERT INTO schema_version (version, name, applied_at) VALUES (?, ?, ?)",
                (every[-1].number + 1, "from_the_future", "2030-01-01T00:00:00.000000Z"),
            )
    finally:
        upgraded.close()
    with pytest.raises(store_module.StoreError, match="opgradér termserver"):
        store_module.open_store(pg_database, tmp_path)


def test_a_code_system_an_admin_puts_through_one_replica_is_used_by_the_other(
    tmp_path, pg_database, replicas
):
    import json

    data_dir = tmp_path / "data"
    admin = add_user("ada", "admin", database=pg_database, data_dir=data_dir)
    a = start(replicas, data_dir, pg_database)
    b = start(replicas, data_dir, pg_database)
    suite = ROOT / "tests" / "data" / "tx-ecosystem" / "tests" / "simple"
    doc = json.loads((suite / "codesystem-simple.json").read_text("utf-8"))
    lookup = {"system": doc["url"], "code": "code1"}
    with (
        httpx.Client(base_url=a.base, timeout=30) as http_a,
        httpx.Client(base_url=b.base, timeout=30) as http_b,
    ):
        assert http_b.get("/fhir/CodeSystem/$lookup", params=lookup).status_code == 404
        put = http_a.put(
            "/fhir/CodeSystem/simple",
            content=json.dumps(doc),
            headers={**bearer(admin), "content-type": "application/fhir+json"},
        )
        assert put.status_code == 201, put.text
        written = time.monotonic()
        while http_b.get("/fhir/CodeSystem/$lookup", params=lookup).status_code != 200:
            assert time.monotonic() - written < 10, "replica B never served the stored code system"
            time.sleep(0.05)
        # B reads it back as stored, with the version A wrote.
        read = http_b.get("/fhir/CodeSystem/simple")
        assert read.headers["etag"] == 'W/"1"' and read.json()["url"] == doc["url"]
