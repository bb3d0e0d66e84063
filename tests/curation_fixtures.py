"""Fixtures for the curation tests: a seeded data directory and a database per test.

Storage tests run on SQLite and on PostgreSQL. The PostgreSQL server is not started here: it is
named by ``$TERMSERVER_TEST_PG`` (``.ci/run`` starts a throwaway cluster and sets it). Without it
the PostgreSQL variants fail in CI (``CI=true``) and are skipped, with the reason, elsewhere.
"""

from __future__ import annotations

import os
import secrets
import shutil
from pathlib import Path
from urllib.parse import quote

import pytest

ROOT = Path(__file__).resolve().parent.parent
PG_ENV = "TERMSERVER_TEST_PG"


def pg_base_url() -> str:
    """The test server's URL, or fail (CI) / skip (elsewhere) saying how to get one."""
    url = os.environ.get(PG_ENV)
    if url:
        return url
    message = f'${PG_ENV} is not set: start a server with `eval "$(.ci/pg-start)"`'
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"PostgreSQL tests must run in CI: {message}")
    pytest.skip(message)


def with_schema(url: str, schema: str) -> str:
    """``url`` with every connection's search_path set to ``schema``."""
    sep = "&" if "?" in url else "?"
    return f"{url}{sep}options={quote(f'-csearch_path={schema}')}"


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request):
    """None (SQLite in the data directory) or a PostgreSQL URL on a fresh, private schema."""
    if request.param == "sqlite":
        yield None
        return
    import psycopg

    base = pg_base_url()
    schema = f"t_{secrets.token_hex(6)}"
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    try:
        yield with_schema(base, schema)
    finally:
        with psycopg.connect(base, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")


@pytest.fixture(scope="session")
def seeded_template(tmp_path_factory) -> Path:
    """A data directory seeded once from the repository's files (release 0)."""
    from termserver.curation.releases import DataDir

    root = tmp_path_factory.mktemp("curation-template") / "data"
    DataDir(root).seed(ROOT / "ontology", ROOT / "mappings")
    return root


@pytest.fixture()
def data_dir(seeded_template, tmp_path) -> Path:
    """A private copy of the seeded data directory."""
    target = tmp_path / "data"
    shutil.copytree(seeded_template, target, symlinks=True)
    return target


@pytest.fixture()
def curation(data_dir, database_url):
    """The curation engine over a private data directory and database."""
    from termserver.curation.service import Curation

    cur = Curation.open(data_dir, database_url)
    try:
        yield cur
    finally:
        cur.close()


@pytest.fixture()
def people(curation):
    """An editor, a second editor, two approvers and an admin, with their tokens."""
    made = {}
    for name, role in (
        ("ebba", "editor"),
        ("erik", "editor"),
        ("anna", "approver"),
        ("aksel", "approver"),
        ("ada", "admin"),
    ):
        made[name] = curation.add_user(None, name, role, by="test")
    return made


@pytest.fixture()
def app(curation):
    """The whole server (FHIR, JSON API, pages) with curation attached to ``curation``.

    A test module may define its own ``app`` or ``http``; pytest then uses that one."""
    from termserver.api.app import create_app
    from termserver.curation.server import attach

    return attach(create_app(curation.snapshot()), curation)


@pytest.fixture()
def http(app):
    """A client of ``app`` that answers a server error with its 500, not an exception."""
    from fastapi.testclient import TestClient

    with TestClient(app, raise_server_exceptions=False) as c:
        yield c
