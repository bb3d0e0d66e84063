"""The snapshot's release name and the app's answer to an unknown address."""

from __future__ import annotations

from termserver.api.state import release_name


def test_release_name_is_the_newest_dated_release_not_an_undated_tool(vocab):
    versions = {s.version for s in vocab.schemes()}
    assert "udateret" in versions  # the misbrug compass has no date: it must not win
    assert release_name(vocab) == "20250530"


def test_unknown_address_is_a_danish_page_for_browsers_and_json_for_programs(client):
    page = client.get("/no-such-page", headers={"accept": "text/html,application/xhtml+xml"})
    assert page.status_code == 404
    assert page.headers["content-type"].startswith("text/html")
    assert 'lang="da"' in page.text and "findes ikke" in page.text
    api = client.get("/api/no-such-thing", headers={"accept": "text/html"})
    assert api.status_code == 404 and api.json()["error"] == "not-found"
    plain = client.get("/no-such-page")
    assert plain.status_code == 404 and plain.json()["error"] == "not-found"
