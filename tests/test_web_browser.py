"""The web pages in a real browser: Playwright driving Debian's Chromium against a live server.

Screenshots go to a temporary folder, and also to $TERMSERVER_SHOTS when set, for a person to
look at.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import EGENOMSORG, VASKE_SIG

sync_api = pytest.importorskip("playwright.sync_api", reason="pip install -e '.[test]'")
RELATIONER = "3856b434-f72e-42a5-b9d1-0cc93f48434b"
TIMEOUT_MS = 10_000


@pytest.fixture()
def page(browser):
    context = browser.new_context(viewport={"width": 1200, "height": 900}, locale="da-DK")
    context.set_default_timeout(TIMEOUT_MS)
    yield context.new_page()
    context.close()


def test_typing_vasek_suggests_vaske_sig_and_its_page_shows_place_and_mappings(
    page, live_server, shots
):
    expect = sync_api.expect
    page.goto(live_server + "/")
    page.get_by_label("Søg efter et begreb").press_sequentially("vasek", delay=40)
    suggestion = page.locator(f'#forslag-forside a[href="/begreb/ffb/{VASKE_SIG}"]')
    expect(suggestion).to_contain_text("Vaske sig")
    expect(suggestion).to_contain_text("FFB · Egenomsorg")
    shots(page, "suggestions")
    suggestion.click()
    page.wait_for_url(f"**/begreb/ffb/{VASKE_SIG}")
    expect(page.get_by_role("heading", level=1)).to_have_text("Vaske sig")
    crumbs = page.get_by_role("navigation", name="Placering i hierarkiet")
    expect(crumbs.get_by_role("link")).to_have_text(
        ["FFB", "FFB tilstande", "Aktivitet og deltagelse", "Egenomsorg"]
    )
    mappings = page.locator("table.mappings")
    expect(mappings).to_contain_text("closeMatch")
    expect(mappings.get_by_role("link", name="FSIII → FFB", exact=False)).to_be_visible()
    shots(page, "concept")
    # The header search works from any page: its suggestions float over the content.
    page.get_by_label("Søg efter et begreb").press_sequentially("egenomsor", delay=40)
    expect(page.locator(f'#forslag-top a[href="/begreb/ffb/{EGENOMSORG}"]')).to_be_visible()
    shots(page, "header-suggestions")


def test_tree_expands_with_the_mouse_and_with_the_keyboard(page, live_server, shots):
    expect = sync_api.expect
    page.goto(live_server + "/skema/ffb")
    # Keyboard first: Tab reaches the skip link, with a visible focus indicator.
    page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Gå til indholdet")
    expect(skip).to_be_focused()
    assert skip.evaluate("e => getComputedStyle(e).outlineStyle") == "solid"
    tree = page.get_by_role("list", name="Hierarki for FFB")
    top = tree.locator("details").filter(has=page.locator("summary", has_text="FFB tilstande"))
    top.locator("summary").first.click(position={"x": 4, "y": 8})  # the marker, not the link
    level2 = top.locator("summary", has_text="Aktivitet og deltagelse")
    expect(level2).to_be_visible()
    expect(top.get_by_role("link", name="Vis underbegreber")).to_have_count(0)
    level2.focus()
    page.keyboard.press("Enter")
    level3 = top.locator("summary", has_text="Egenomsorg")
    expect(level3).to_be_visible()
    level3.focus()
    page.keyboard.press("Space")
    leaf = tree.get_by_role("link", name="Vaske sig", exact=True)
    expect(leaf).to_be_visible()
    shots(page, "tree")
    leaf.focus()
    page.keyboard.press("Enter")
    page.wait_for_url(f"**/begreb/ffb/{VASKE_SIG}")


def test_translate_vum_socialt_liv_shows_ffb_relationer_and_the_path(page, live_server, shots):
    expect = sync_api.expect
    page.goto(live_server + "/oversaet")
    page.get_by_label("Redskab").select_option("vum-1")
    terms = page.get_by_label("Term i Voksenudredningsmetoden (VUM) 1.0")
    expect(terms).to_be_visible()  # loaded by htmx when the tool changed
    terms.select_option(label="Socialt liv")
    page.get_by_role("button", name="Oversæt").click()
    page.wait_for_url("**/oversaet?*kode=socialt-liv*")
    result = page.locator("section.translation")
    expect(result.locator(f'a[href="/begreb/ffb/{RELATIONER}"]').first).to_have_text("Relationer")
    path = result.locator("ol.path").first
    expect(path).to_contain_text("Socialt liv")
    expect(path).to_contain_text("closeMatch")
    expect(path.get_by_role("link", name="vum-1--ffb")).to_be_visible()
    shots(page, "translate")


def test_reading_works_with_javascript_disabled(browser, live_server, shots):
    expect = sync_api.expect
    context = browser.new_context(
        java_script_enabled=False, viewport={"width": 1000, "height": 800}
    )
    context.set_default_timeout(TIMEOUT_MS)
    try:
        page = context.new_page()
        page.goto(live_server + "/")
        page.get_by_label("Søg efter et begreb").fill("vasek")
        page.keyboard.press("Enter")
        page.wait_for_url("**/soeg?q=vasek")
        expect(page.locator("#forslag-top")).to_be_empty()  # no script ran
        hit = page.locator(f'ol.results a[href="/begreb/ffb/{VASKE_SIG}"]')
        expect(hit).to_have_text("Vaske sig")
        shots(page, "nojs-search")
        page.goto(live_server + "/skema/ffb")
        top = page.locator("details").filter(has=page.locator("summary", has_text="FFB tilstande"))
        top.locator("summary").first.click(position={"x": 4, "y": 8})
        top.get_by_role("link", name="Vis underbegreber").click()  # a full page, opened there
        page.wait_for_url("**/skema/ffb?aaben=*")
        expect(page.locator("summary", has_text="Aktivitet og deltagelse")).to_be_visible()
        shots(page, "nojs-tree")
    finally:
        context.close()


LAVE_MAD = "b947f321-7cdb-4b33-9653-f3ff800572b0"
EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "plans"


def test_uploading_a_plan_with_a_mistyped_code_shows_the_danish_finding_at_its_line(
    page, live_server, shots
):
    expect = sync_api.expect
    # The shipped example with one character dropped from one FFB code: one error.
    text = (EXAMPLES / "borgerens-plan.json").read_text("utf-8")
    assert text.count(LAVE_MAD) == 1
    broken = text.replace(LAVE_MAD, LAVE_MAD[:-1])
    line = next(n for n, s in enumerate(broken.splitlines(), 1) if LAVE_MAD[:-1] in s)
    page.goto(live_server + "/")
    page.get_by_role("link", name="Validér").click()
    page.wait_for_url("**/valider")
    page.get_by_label("… eller vælg en fil").set_input_files(
        files=[{"name": "plan.json", "mimeType": "application/json", "buffer": broken.encode()}]
    )
    page.get_by_role("button", name="Validér").click()
    summary = page.locator("p.summary")
    expect(summary).to_contain_text("Ugyldig")
    expect(summary).to_contain_text("1 fejl")
    finding = page.locator("ol.findings > li.error")
    expect(finding).to_have_count(1)
    expect(finding).to_contain_text(f"koden '{LAVE_MAD[:-1]}' findes ikke")
    expect(finding.locator("code.where")).to_have_text("$.conditions[0].code.code")
    expect(finding.locator("pre.quote")).to_contain_text(LAVE_MAD[:-1])
    finding.get_by_role("link", name=f"linje {line}").click()
    marked = page.locator(f"#linje-{line}")
    expect(marked).to_have_class("line mark-error")
    expect(marked).to_be_in_viewport()
    shots(page, "validate-upload")


def test_pasting_a_fhir_bundle_example_points_at_the_fhirpath_and_line(page, live_server, shots):
    expect = sync_api.expect
    page.goto(live_server + "/valider")
    page.get_by_role("link", name="FHIR Bundle med CarePlan").click()
    plan = page.get_by_label("Planen (JSON eller YAML)")
    text = plan.input_value()
    assert '"resourceType": "Bundle"' in text
    # As a paste: Playwright's fill() types a long multi-line text into a textarea too slowly.
    plan.evaluate("(el, v) => { el.value = v }", text.replace(LAVE_MAD, LAVE_MAD[:-1]))
    page.get_by_role("button", name="Validér").click()
    finding = page.locator("ol.findings > li.error")
    expect(finding).to_have_count(1)
    expect(finding.locator("code.where")).to_contain_text("Bundle.entry[")
    expect(finding.locator("code.where")).to_contain_text(".code.coding[0].code")
    expect(finding.locator("pre.quote")).to_contain_text(LAVE_MAD[:-1])
    shots(page, "validate-bundle")
