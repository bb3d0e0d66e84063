"""``termserver validate``: exit codes, Danish text, JSON, and NDJSON in bulk."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from termserver.cli import app

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples" / "plans"
runner = CliRunner()


@pytest.fixture(autouse=True)
def _project_content(monkeypatch):
    monkeypatch.setenv("TERMSERVER_ONTOLOGY", str(ROOT / "ontology"))


def _broken_native(tmp_path: Path) -> Path:
    doc = json.loads((EXAMPLES / "borgerens-plan.json").read_text("utf-8"))
    doc["goals"] = [g for g in doc["goals"] if g["kind"] != "purpose"]
    path = tmp_path / "uden-formaal.json"
    path.write_text(json.dumps(doc, ensure_ascii=False), "utf-8")
    return path


def test_valid_plans_in_both_formats_exit_0():
    files = [str(EXAMPLES / n) for n in ("borgerens-plan.yaml", "plan-bundle.json")]
    result = runner.invoke(app, ["validate", *files])
    assert result.exit_code == 0, result.output
    assert result.output.count(": gyldig (0 fejl, 0 advarsler, 0 oplysninger)") == 2


def test_plan_with_errors_exits_1_and_says_what_and_where_in_danish(tmp_path):
    result = runner.invoke(app, ["validate", str(_broken_native(tmp_path))])
    assert result.exit_code == 1
    assert "ugyldig" in result.output
    assert "STRUCT-001" in result.output
    assert "planen har 0 indsatsformål; der skal være præcis ét" in result.output


def test_unreadable_input_exits_2_even_beside_a_plan_with_errors(tmp_path):
    bad = tmp_path / "plan.yaml"
    bad.write_text("id: x\n  kind: [\n", "utf-8")
    result = runner.invoke(app, ["validate", str(_broken_native(tmp_path)), str(bad)])
    assert result.exit_code == 2
    assert "ugyldig YAML" in result.output and "linje" in result.output


def test_missing_file_exits_2(tmp_path):
    result = runner.invoke(app, ["validate", str(tmp_path / "findes-ikke.json")])
    assert result.exit_code == 2
    assert "kan ikke læse filen" in result.output


def test_json_format_gives_one_machine_readable_report_per_file(tmp_path):
    result = runner.invoke(
        app,
        [
            "validate",
            "--format",
            "json",
            str(EXAMPLES / "plan-bundle.json"),
            str(_broken_native(tmp_path)),
        ],
    )
    assert result.exit_code == 1
    reports = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["valid"] for r in reports] == [True, False]
    assert reports[1]["findings"][0]["rule"] == "STRUCT-001"
    assert reports[1]["findings"][0]["location"] == "$"


def test_ndjson_bulk_streams_one_report_per_line(tmp_path):
    bundle = json.loads((EXAMPLES / "plan-bundle.json").read_text("utf-8"))
    native = json.loads((EXAMPLES / "borgerens-plan.json").read_text("utf-8"))
    lines = [json.dumps(bundle), "", json.dumps(native), '{"resourceType": "Patient"}', "{oops"]
    path = tmp_path / "planer.ndjson"
    path.write_text("\n".join(lines) + "\n", "utf-8")
    result = runner.invoke(app, ["validate", "--format", "json", str(path)])
    assert result.exit_code == 2
    reports = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["source"].rsplit(":", 1)[1] for r in reports] == ["1", "3", "4", "5"]
    assert [r["valid"] for r in reports] == [True, True, False, False]
    assert reports[3]["error"]["where"] == "linje 1, kolonne 2"
    assert "2 gyldige, 0 med fejl, 2 kunne ikke læses" in result.stderr


def test_unknown_report_format_exits_2():
    result = runner.invoke(app, ["validate", "--format", "xml", str(EXAMPLES / "plan-bundle.json")])
    assert result.exit_code == 2
