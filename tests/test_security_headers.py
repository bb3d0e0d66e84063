"""Security headers: every response, and a Content-Security-Policy on the web pages."""

from __future__ import annotations

from conftest import VASKE_SIG


def test_every_kind_of_response_carries_the_common_headers(client):
    for path in ("/", "/api/schemes", "/fhir/metadata", f"/id/ffb/{VASKE_SIG}", "/no-such"):
        r = client.get(path)
        assert r.headers["x-content-type-options"] == "nosniff", path
        assert r.headers["x-frame-options"] == "DENY", path
        assert r.headers["referrer-policy"] == "same-origin", path


def test_pages_get_a_policy_that_allows_only_our_own_files(client):
    page = client.get(f"/begreb/ffb/{VASKE_SIG}")
    policy = page.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy
    assert "unsafe-inline" not in policy
    # the pages must then have no inline script or style attribute the policy would block
    assert "<script>" not in page.text and " style=" not in page.text
    assert "content-security-policy" not in client.get("/api/schemes").headers
    assert "content-security-policy" not in client.get("/docs").headers
