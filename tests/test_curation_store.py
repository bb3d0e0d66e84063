"""Storage on SQLite and PostgreSQL: migrations, append-only audit log, optimistic versions."""

from __future__ import annotations

import pytest

pytest_plugins = ["curation_fixtures"]

VASKE_SIG = "885400cc-dd71-479e-8993-3fc48fdd6710"


def test_migrations_are_recorded_and_applying_them_again_does_nothing(curation):
    from termserver.curation.store import migrations_for

    store = curation.store
    numbers = [m.number for m in migrations_for(store.dialect)]
    assert numbers == [1, 2, 3, 4]
    assert store.schema_version() == 4
    assert store.migrate() == []
    with store.transaction() as tx:
        rows = tx.all("SELECT version, name FROM schema_version ORDER BY version")
    assert [(r["version"], r["name"]) for r in rows] == [
        (1, "initial"),
        (2, "audit_append_only"),
        (3, "fhir_resources"),
        (4, "fhir_resources_append_only"),
    ]


def test_database_refuses_to_update_or_delete_audit_entries(curation, people):
    from termserver.curation.store import StoreError

    with pytest.raises(StoreError, match="append-only"), curation.store.transaction() as tx:
        tx.execute("UPDATE audit_log SET actor = 'mallory'")
    with pytest.raises(StoreError, match="append-only"), curation.store.transaction() as tx:
        tx.execute("DELETE FROM audit_log")
    actors = {e.actor for e in curation.audit(None, action="user.add")}
    assert actors == {"test"}


def test_failed_transaction_leaves_nothing_behind(curation, people):
    from termserver.curation import audit

    with pytest.raises(RuntimeError), curation.store.transaction() as tx:
        audit.record(tx, "ebba", "probe", "test", "1")
        raise RuntimeError("abort")
    assert curation.audit(None, action="probe") == []


def test_a_stale_version_writes_nothing(curation, people):
    from termserver.curation.changes import get_change, update_change

    editor = people["ebba"][0]
    c = curation.create_change(
        editor,
        "concept.label",
        {"scheme": "ffb", "code": VASKE_SIG, "label": "Vaske sig selv"},
        "Test af versioner",
        if_match=curation.target(f"concept:ffb/{VASKE_SIG}").etag,
    )
    with curation.store.transaction() as tx:
        assert update_change(tx, c, c.version, reason="Første") is not None
        assert update_change(tx, c, c.version, reason="Anden") is None
        assert get_change(tx, c.id).reason == "Første"


def test_user_names_are_unique_and_tokens_are_stored_only_as_hashes(curation, people):
    from termserver.curation.auth import UserError

    with pytest.raises(UserError, match="findes allerede"):
        curation.add_user(None, "ebba", "editor")
    token = people["ebba"][1]
    with curation.store.transaction() as tx:
        stored = [r["token_hash"] for r in tx.all("SELECT token_hash FROM api_tokens")]
    assert token not in stored and all(len(h) == 64 for h in stored)
    assert curation.authenticate(token).name == "ebba"
    assert curation.authenticate(token + "x") is None


def test_audit_query_filters_by_user_object_and_time(curation, people):
    entries = curation.audit(None, actor="test")
    assert {e.object_id for e in entries} == {"ebba", "erik", "anna", "aksel", "ada"}
    first = entries[0].at
    assert [e.object_id for e in curation.audit(None, object_id="anna")] == ["anna"]
    assert curation.audit(None, until=first) == curation.audit(None, until=first, actor="system")
    assert len(curation.audit(None, since=first, actor="test")) == 5
    assert curation.audit(None, since="2999-01-01") == []


def test_a_new_sqlite_database_is_readable_by_the_servers_account_only(tmp_path):
    import os
    import stat

    from termserver.curation.store import SQLiteStore

    store = SQLiteStore(tmp_path / "curation.sqlite3")
    try:
        store.migrate()
        for f in tmp_path.iterdir():
            assert stat.S_IMODE(os.stat(f).st_mode) & 0o077 == 0, f.name
    finally:
        store.close()
