"""Probes, Prometheus metrics, request ids and JSON access logs."""

from __future__ import annotations

import json
import logging
import re

import pytest
from fastapi.testclient import TestClient

from tests.conftest import FFB, VASKE_SIG

pytest_plugins = ["curation_fixtures"]

LOOKUP = f"/fhir/CodeSystem/$lookup?system={FFB}&code={VASKE_SIG}"


def sample(text: str, name: str, **labels: str) -> float | None:
    """The value of one Prometheus sample in the text format, or None when absent."""
    want = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        m = re.fullmatch(r"([a-zA-Z_:]+)(?:\{(.*)\})? (\S+)", line)
        if not m or m.group(1) != name:
            continue
        got = ",".join(sorted(m.group(2).split(","))) if m.group(2) else ""
        if got == want:
            return float(m.group(3))
    return None


@pytest.fixture()
def fresh(vocab):
    """A private app, so counters start at zero."""
    from termserver.api.app import create_app
    from termserver.api.state import Snapshot
    from termserver.settings import Settings

    app = create_app(Snapshot(vocab=vocab, release="obs-test"), Settings())
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


def test_healthz_and_readyz_answer_ok_with_the_release(fresh):
    assert fresh.get("/healthz").json() == {"status": "ok"}
    ready = fresh.get("/readyz")
    assert ready.status_code == 200
    assert ready.json() == {
        "status": "ready",
        "release": "obs-test",
        "checks": {"snapshot": "ok"},
    }


def test_metrics_count_requests_by_route_template_and_status(fresh):
    for _ in range(3):
        assert fresh.get(LOOKUP).status_code == 200
    assert fresh.get(f"/fhir/CodeSystem/$lookup?system={FFB}&code=no-such-code").status_code == 404
    assert fresh.get(f"/api/concepts/ffb/{VASKE_SIG}").status_code == 200
    fresh.get("/wp-admin/setup.php")
    fresh.get("/.env")

    text = fresh.get("/metrics").text
    route = "/fhir/CodeSystem/$lookup"
    assert sample(text, "termserver_http_requests_total", method="GET", route=route, status="200")
    assert (
        sample(text, "termserver_http_requests_total", method="GET", route=route, status="200") == 3
    )
    assert (
        sample(text, "termserver_http_requests_total", method="GET", route=route, status="404") == 1
    )
    # The template, not the path: one series however many concepts are asked for.
    assert (
        sample(
            text,
            "termserver_http_requests_total",
            method="GET",
            route="/api/concepts/{scheme}/{code:path}",
            status="200",
        )
        == 1
    )
    # Unrouted paths share one series, so a scanner cannot blow up the metric's cardinality.
    assert (
        sample(
            text, "termserver_http_requests_total", method="GET", route="unmatched", status="404"
        )
        == 2
    )
    count = "termserver_http_request_duration_seconds_count"
    assert sample(text, count, method="GET", route=route) == 4
    assert sample(text, "termserver_release_info", release="obs-test") == 1
    assert sample(text, "termserver_http_requests_in_progress") == 1  # the scrape itself


def test_release_metric_follows_a_snapshot_swap(fresh, vocab):
    from termserver.api.state import Snapshot

    fresh.app.state.holder.swap(Snapshot(vocab=vocab, release="obs-test-2"))
    text = fresh.get("/metrics").text
    assert sample(text, "termserver_release_info", release="obs-test-2") == 1
    assert sample(text, "termserver_release_info", release="obs-test") is None
    assert fresh.get("/healthz").headers["X-Termserver-Release"] == "obs-test-2"


def test_request_id_is_echoed_when_sane_and_generated_otherwise(fresh):
    given = fresh.get(LOOKUP, headers={"X-Request-Id": "kmd-7f3a9c.42"})
    assert given.headers["X-Request-Id"] == "kmd-7f3a9c.42"
    assert given.headers["X-Termserver-Release"] == "obs-test"

    made = fresh.get(LOOKUP)
    other = fresh.get(LOOKUP)
    assert re.fullmatch(r"[0-9a-f]{32}", made.headers["X-Request-Id"])
    assert made.headers["X-Request-Id"] != other.headers["X-Request-Id"]

    for hostile in ("a b", "x" * 129, "id\u00e6", "<script>"):
        r = fresh.get(LOOKUP, headers={"X-Request-Id": hostile.encode("utf-8")})
        assert r.headers["X-Request-Id"] != hostile
        assert re.fullmatch(r"[0-9a-f]{32}", r.headers["X-Request-Id"])


def test_error_answers_also_carry_the_request_id_and_release(fresh):
    r = fresh.get("/fhir/CodeSystem/$lookup?system=urn:x", headers={"X-Request-Id": "err-1"})
    assert r.status_code in (400, 404)
    assert r.headers["X-Request-Id"] == "err-1"
    assert r.headers["X-Termserver-Release"] == "obs-test"


def test_access_log_is_one_json_object_with_request_id_route_and_status(fresh):
    from termserver.api.observability import JsonFormatter, RequestIdFilter

    lines: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(self.format(record))

    handler = Collect()
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RequestIdFilter())
    logger = logging.getLogger("termserver.access")
    old_level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        fresh.get(LOOKUP, headers={"X-Request-Id": "log-test-1"})
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)

    assert len(lines) == 1
    entry = json.loads(lines[0])
    assert entry["request_id"] == "log-test-1"
    assert entry["level"] == "info" and entry["logger"] == "termserver.access"
    assert entry["http"]["route"] == "/fhir/CodeSystem/$lookup"
    assert entry["http"]["status"] == 200 and entry["http"]["method"] == "GET"
    assert entry["http"]["duration_ms"] >= 0
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", entry["time"])


def test_log_config_builds_working_json_and_text_handlers():
    import logging.config

    from termserver.api.observability import log_config

    for fmt in ("json", "text"):
        logging.config.dictConfig(log_config("warning", fmt))
    # Leave logging as pytest expects it.
    logging.getLogger("termserver").handlers.clear()
    logging.getLogger("termserver").propagate = True
    logging.getLogger("uvicorn").handlers.clear()
    logging.getLogger("uvicorn").propagate = True


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_with_curation_readyz_checks_the_database_and_metrics_show_the_queue(curation, people):
    from termserver.api.app import create_app
    from termserver.curation.server import attach

    app = attach(create_app(curation.snapshot()), curation)
    with TestClient(app, raise_server_exceptions=False) as http:
        ready = http.get("/readyz").json()
        assert ready["checks"] == {"snapshot": "ok", "database": "ok"}

        ebba = {"Authorization": f"Bearer {people['ebba'][1]}"}
        etag = http.get(f"/api/curation/concepts/ffb/{VASKE_SIG}", headers=ebba).headers["ETag"]
        made = http.post(
            "/api/curation/changes",
            headers={**ebba, "If-Match": etag},
            json={
                "kind": "concept.label",
                "payload": {"scheme": "ffb", "code": VASKE_SIG, "label": "Vaske sig selv"},
                "reason": "Tydeligere",
            },
        )
        assert made.status_code == 201
        text = http.get("/metrics").text
        assert sample(text, "termserver_curation_queue", status="proposed") == 0
        proposed = http.post(
            f"/api/curation/changes/{made.json()['id']}/propose",
            headers={**ebba, "If-Match": made.headers["ETag"]},
        )
        assert proposed.status_code == 200, proposed.text
        text = http.get("/metrics").text
        assert sample(text, "termserver_curation_queue", status="proposed") == 1
        assert sample(text, "termserver_curation_queue", status="approved") == 0

        # The database goes away: not ready (503), while liveness still says the process is up.
        curation.store.close()
        broken = curation.store._connect

        def refuse():
            raise OSError("database is gone")

        curation.store._connect = refuse
        try:
            down = http.get("/readyz")
            assert down.status_code == 503
            assert down.json()["checks"]["database"] == "unreachable"
            assert http.get("/healthz").status_code == 200
            assert http.get("/metrics").status_code == 200
        finally:
            curation.store._connect = broken
