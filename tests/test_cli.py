"""The `termserver` command as a newcomer uses it."""

from __future__ import annotations

import json

from conftest import KL, VASKE_SIG
from typer.testing import CliRunner

from termserver.cli import app

runner = CliRunner()


def test_lookup_vaske_sig_shows_path_to_top_and_all_three_releases():
    r = runner.invoke(app, ["lookup", VASKE_SIG])
    assert r.exit_code == 0, r.output
    assert "Vaske sig" in r.output
    assert "FFB tilstande › Aktivitet og deltagelse › Egenomsorg › Vaske sig" in r.output
    assert "20240530, 20230517, 20200908" in r.output


def test_lookup_as_json_in_an_old_release():
    r = runner.invoke(
        app, ["lookup", VASKE_SIG, "--system", "ffb", "--version", "20200908", "--json"]
    )
    assert r.exit_code == 0, r.output
    data = json.loads(r.output)
    assert data[0]["version"] == "20200908" and data[0]["path"][0]["display"] == "FFB tilstande"


def test_lookup_of_unknown_code_fails_with_a_message():
    r = runner.invoke(app, ["lookup", "nope"])
    assert r.exit_code == 1
    assert "Ukendt kode" in r.output


def test_search_with_a_typo_finds_vaske_sig_in_ffb():
    r = runner.invoke(app, ["search", "vasek sig", "--system", "ffb"])
    assert r.exit_code == 0, r.output
    assert VASKE_SIG in r.output


def test_search_with_unknown_system_exits_2():
    r = runner.invoke(app, ["search", "vaske", "--system", "nope"])
    assert r.exit_code == 2


def test_schemes_lists_all_releases():
    r = runner.invoke(app, ["schemes"])
    assert r.exit_code == 0 and "20240530, 20230517, 20200908" in r.output


def test_subsumes_command():
    r = runner.invoke(app, ["subsumes", "da3f488f-1742-4d00-b247-a7d47500b36b", VASKE_SIG])
    assert r.exit_code == 0 and "subsumes" in r.output


def test_import_writes_turtle_and_reports_bad_files(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"resourceType": "ValueSet"}', "utf-8")
    r = runner.invoke(
        app, ["import", str(KL / "CodeSystem-LTT.json"), str(bad), "--out", str(tmp_path / "out")]
    )
    assert r.exit_code == 1
    assert (tmp_path / "out" / "ltt-20250530.ttl").exists()
    assert "bad.json: $.resourceType" in r.output


def test_check_passes_on_the_real_content_with_the_reasoner():
    r = runner.invoke(app, ["check", "--json"])
    assert r.exit_code == 0, r.output
    report = json.loads(r.output)
    assert report["ok"] and report["errors"] == 0
    assert any(f["rule"] == "owl-consistent" for f in report["findings"])


def test_check_fails_with_exit_1_on_broken_content(tmp_path):
    import shutil

    from conftest import ONTOLOGY

    shutil.copytree(ONTOLOGY, tmp_path / "ontology")
    (tmp_path / "ontology" / "schemes" / "broken.ttl").write_text("this is not turtle", "utf-8")
    r = runner.invoke(app, ["check", "--no-owl", "--ontology", str(tmp_path / "ontology")])
    assert r.exit_code == 1
    assert "unreadable-file" in r.output
