"""Curation in a real browser: an editor proposes, an approver approves and publishes.

Two users in two browser contexts (two separate cookie jars) against a live server with its own
temporary data directory. The users are made the way an operator makes them: with the CLI.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from conftest import ONTOLOGY, VASKE_SIG, serving
from test_web_browser import TIMEOUT_MS, sync_api

#: KL's definition repeats "der"; the editor's better definition is the same without it.
OLD_DEFINITION_START = "At vaske sig er en aktivitet, der der består"
NEW_DEFINITION = (
    "At vaske sig er en aktivitet, der består i at vaske og tørre sig på kroppen og kropsdele "
    "med anvendelse af vand og passende rensemidler. Eksempler på vask er bad, brusebad, vaske "
    "hænder og fødder, ansigt og hår og tørre sig med håndklæde."
)
REASON = "KL's definition har »der der«; rettet, ellers uændret."


def _add_user(env: dict, data_dir, name: str, role: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "termserver", "user", "add", name, "--role", role,
         "--data-dir", str(data_dir)],
        env=env, capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    token = done.stdout.strip()
    assert token.startswith("tsk_"), done.stderr
    return token


@pytest.fixture(scope="module")
def curation_server(tmp_path_factory):
    """A live server with curation on, and the tokens of an editor and an approver."""
    data_dir = tmp_path_factory.mktemp("curation-web") / "data"
    env = {**os.environ, "TERMSERVER_ONTOLOGY": str(ONTOLOGY)}
    tokens = {
        "ebba": _add_user(env, data_dir, "ebba", "editor"),
        "anna": _add_user(env, data_dir, "anna", "approver"),
    }
    with serving("--data-dir", str(data_dir)) as base:
        yield base, tokens


def _context(browser):
    context = browser.new_context(viewport={"width": 1200, "height": 900}, locale="da-DK")
    context.set_default_timeout(TIMEOUT_MS)
    return context


def _log_in(page, token: str) -> None:
    sync_api.expect(page.get_by_role("heading", level=1)).to_have_text("Log ind til kuratering")
    page.get_by_label("Token").fill(token)
    page.get_by_role("button", name="Log ind").click()


def test_editor_proposes_a_definition_approver_approves_and_publishes_concept_page_shows_it(
    browser, curation_server, shots
):
    expect = sync_api.expect
    base, tokens = curation_server
    editor_ctx, approver_ctx = _context(browser), _context(browser)
    try:
        # The editor finds Vaske sig and proposes a better definition from its page.
        editor = editor_ctx.new_page()
        editor.goto(f"{base}/begreb/ffb/{VASKE_SIG}")
        expect(editor.locator("p.definition")).to_contain_text(OLD_DEFINITION_START)
        editor.get_by_role("link", name="Foreslå ændring").click()
        shots(editor, "curation-login")
        _log_in(editor, tokens["ebba"])
        editor.wait_for_url(f"**/kuratering/foreslaa/ffb/{VASKE_SIG}")
        field = editor.get_by_label("Ny definition")
        assert field.input_value().startswith(OLD_DEFINITION_START)  # starts from the current
        field.fill(NEW_DEFINITION)
        editor.get_by_label("Begrundelse").fill(REASON)
        shots(editor, "curation-propose")
        editor.get_by_role("button", name="Send til godkendelse").click()
        editor.wait_for_url("**/kuratering/forslag/*?sendt=1")
        proposal_url = editor.url.split("?")[0]
        expect(editor.get_by_role("status")).to_contain_text("sendt til godkendelse")
        cells = editor.locator("table.diff tbody td")
        before, after = cells.nth(0), cells.nth(1)
        expect(before).to_contain_text(OLD_DEFINITION_START)
        expect(after).to_have_text(NEW_DEFINITION)
        expect(before.locator("del")).to_have_text("der ")  # only the removed word is marked
        expect(after.locator("ins")).to_have_count(0)
        # Four eyes: the author is told why there is no approve button for them.
        expect(editor.get_by_role("button", name="Godkend")).to_have_count(0)
        expect(editor.locator("#fire-oejne")).to_contain_text(
            "Du kan ikke godkende dit eget forslag"
        )
        shots(editor, "curation-proposal-author")

        # The approver signs in, in another browser, and finds the proposal in the list.
        approver = approver_ctx.new_page()
        approver.goto(f"{base}/kuratering")
        _log_in(approver, tokens["anna"])
        approver.wait_for_url("**/kuratering")
        row = approver.locator("tbody tr", has_text="Vaske sig")
        expect(row).to_contain_text("ebba")
        expect(row).to_contain_text("foreslået")
        shots(approver, "curation-list")
        row.get_by_role("link", name="Ny definition").click()
        approver.wait_for_url(proposal_url)
        approver.get_by_label("Kommentar til afgørelsen").fill("Fint, tak.")
        approver.get_by_role("button", name="Godkend").click()
        expect(approver.locator(".badge.change-approved")).to_have_text("godkendt")
        expect(approver.locator("dl.facts")).to_contain_text("Fint, tak.")

        approver.get_by_role("link", name="Udgivelser").first.click()
        approver.get_by_role("button", name="Udgiv 1 ændring som ny udgivelse").click()
        approver.wait_for_url("**/kuratering/sammenlign?*udgivet=1*")
        expect(approver.get_by_role("status")).to_contain_text("er nu den gældende")
        redefined = approver.locator("table.diff", has_text="Ændrede definitioner")
        expect(redefined.get_by_role("link", name="Vaske sig")).to_be_visible()
        expect(redefined.locator("tbody td").nth(1)).to_have_text(NEW_DEFINITION)
        expect(redefined.locator("del")).to_have_text("der ")
        shots(approver, "curation-compare")

        # The published release is served at once: the concept page has the new definition.
        editor.goto(f"{base}/begreb/ffb/{VASKE_SIG}")
        expect(editor.locator("p.definition")).to_have_text(NEW_DEFINITION)
        shots(editor, "curation-concept-after")
    finally:
        editor_ctx.close()
        approver_ctx.close()


def test_a_stale_proposal_form_shows_the_conflict_and_keeps_the_users_text(
    browser, curation_server, shots
):
    expect = sync_api.expect
    base, tokens = curation_server
    first_ctx, second_ctx = _context(browser), _context(browser)
    try:
        first, second = first_ctx.new_page(), second_ctx.new_page()
        for page in (first, second):
            page.goto(f"{base}/kuratering/foreslaa/ffb/{VASKE_SIG}?type=betegnelse")
            _log_in(page, tokens["ebba"])
            page.wait_for_url("**/kuratering/foreslaa/ffb/*type=betegnelse*")
        first.get_by_label("Ny betegnelse").fill("Vaske sig selv")
        first.get_by_label("Begrundelse").fill("Tydeligere")
        first.get_by_role("button", name="Send til godkendelse").click()
        first.wait_for_url("**/kuratering/forslag/*")
        # The second form was read before the first proposal existed.
        second.get_by_label("Ny betegnelse").fill("Personlig hygiejne")
        second.get_by_label("Begrundelse").fill("Som i FSIII")
        second.get_by_role("button", name="Send til godkendelse").click()
        expect(second.locator("#konflikt")).to_contain_text("ændret, mens du skrev")
        expect(second.locator("#konflikt")).to_contain_text("ebba")
        expect(second.get_by_label("Ny betegnelse")).to_have_value("Personlig hygiejne")
        expect(second.get_by_label("Begrundelse")).to_have_value("Som i FSIII")
        shots(second, "curation-conflict")
    finally:
        first_ctx.close()
        second_ctx.close()


def test_approver_filters_the_audit_log_and_reads_the_qa_report(browser, curation_server, shots):
    expect = sync_api.expect
    base, tokens = curation_server
    context = _context(browser)
    try:
        page = context.new_page()
        page.goto(f"{base}/kuratering/log")
        _log_in(page, tokens["anna"])
        page.wait_for_url("**/kuratering/log")
        page.get_by_label("Bruger").fill("ebba")
        page.get_by_role("button", name="Vis").click()
        page.wait_for_url("**/kuratering/log?bruger=ebba*")
        actors = page.locator("tbody tr td:nth-child(2)")
        expect(actors.first).to_have_text("ebba")
        assert set(actors.all_text_contents()) == {"ebba"}
        expect(page.locator("tbody")).to_contain_text("change.propose")
        shots(page, "curation-audit")
        page.get_by_role("link", name="Kvalitetsrapport").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Kvalitetsrapport")
        expect(page.locator("main")).to_contain_text("0 fejl")
        expect(page.get_by_role("link", name="duplicate-label", exact=True)).to_be_visible()
        expect(page.locator("#daekning + table")).to_contain_text("Voksenudredningsmetoden")
        shots(page, "curation-qa")
    finally:
        context.close()
