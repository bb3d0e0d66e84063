"""`termserver user`, `termserver release`, `termserver audit` against a data directory."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

pytest_plugins = ["curation_fixtures"]

VASKE_SIG = "885400cc-dd71-479e-8993-3fc48fdd6710"


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_bootstrap_admin_by_cli_then_release_and_audit(data_dir, database_url):
    from termserver.cli import app
    from termserver.curation.service import Curation

    runner = CliRunner()
    env = {"TERMSERVER_DATA": str(data_dir)}
    r = runner.invoke(app, ["user", "add", "ada", "--role", "admin"], env=env)
    assert r.exit_code == 0, r.output
    token = r.stdout.strip().splitlines()[-1]
    assert token.startswith("tsk_") and len(token) > 40
    for name, role in (("ebba", "editor"), ("anna", "approver")):
        assert runner.invoke(app, ["user", "add", name, "--role", role], env=env).exit_code == 0
    listed = runner.invoke(app, ["user", "list"], env=env)
    assert all(n in listed.stdout for n in ("ada", "ebba", "anna"))
    # A second token for ada, then the first one revoked by its id: the second still works.
    second = runner.invoke(app, ["user", "token", "ada"], env=env).stdout.strip().splitlines()[-1]
    shown = runner.invoke(app, ["user", "tokens", "ada"], env=env, terminal_width=200)
    assert shown.exit_code == 0 and "tsk_" not in shown.stdout
    revoked = runner.invoke(app, ["user", "revoke", "ada", "1"], env=env)
    assert revoked.exit_code == 0, revoked.output
    unknown = runner.invoke(app, ["user", "revoke", "ada", "1"], env=env)
    assert unknown.exit_code == 1 and "intet gyldigt token" in unknown.output
    bad = runner.invoke(app, ["user", "add", "Bo Jensen"], env=env)
    assert bad.exit_code == 1 and "ugyldigt brugernavn" in bad.output

    cur = Curation.open(data_dir)
    try:
        assert cur.authenticate(token) is None  # revoked above
        assert cur.authenticate(second).role == "admin"
        ebba, anna = cur.user("ebba"), cur.user("anna")
        c = cur.create_change(
            ebba, "concept.label", {"scheme": "ffb", "code": VASKE_SIG, "label": "Vaske sig selv"},
            "Tydeligere", if_match=cur.target(f"concept:ffb/{VASKE_SIG}").etag,
        )  # fmt: skip
        c = cur.propose(ebba, c.id, c.etag)
        cur.approve(anna, c.id, c.etag)
    finally:
        cur.close()

    refused = runner.invoke(app, ["release", "--as", "ebba"], env=env)
    assert refused.exit_code == 1 and "kræver approver" in refused.output
    published = runner.invoke(app, ["release", "--as", "anna"], env=env)
    assert published.exit_code == 0, published.output
    assert "ffb: ny udgave 20240530-curated.1" in published.stdout
    listing = runner.invoke(app, ["release", "--as", "anna", "--list"], env=env)
    assert "* " in listing.stdout and "content-20240530" in listing.stdout

    log = runner.invoke(app, ["audit", "--json", "--user", "anna"], env=env)
    actions = [json.loads(line)["action"] for line in log.stdout.splitlines()]
    assert actions == ["change.approve", "release.publish"]


def test_serve_turns_curation_on_once_user_add_made_the_default_data_dir(tmp_path, monkeypatch):
    import uvicorn

    from termserver.cli import app

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("TERMSERVER_DATA", raising=False)
    seen: list[str] = []
    monkeypatch.setattr(uvicorn, "run", lambda target, **kw: seen.append(target))
    runner = CliRunner()
    assert runner.invoke(app, ["serve"]).exit_code == 0
    assert seen[-1] == "termserver.api.main:app"  # nothing there yet: read-only
    made = runner.invoke(app, ["user", "add", "ebba", "--role", "editor"])
    assert made.exit_code == 0, made.output
    assert (tmp_path / "termserver-data").is_dir()
    monkeypatch.delenv("TERMSERVER_DATA", raising=False)
    served = runner.invoke(app, ["serve"])
    assert served.exit_code == 0 and "kuratering slået til" in served.output
    assert seen[-1] == "termserver.curation.server:create_server_app"
