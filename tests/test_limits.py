"""Configurable limits: body size, expansion size, SPARQL time and result size, per-client rate."""

from __future__ import annotations

import ipaddress

import pytest
from fastapi.testclient import TestClient

from tests.conftest import FFB, ONTOLOGY, VASKE_SIG

AD = "http://fhir.kl.dk/term/ValueSet/KLConditionADCodesFFB"
LOOKUP = f"/fhir/CodeSystem/$lookup?system={FFB}&code={VASKE_SIG}"
ENDLESS = "SELECT (COUNT(*) AS ?n) WHERE { ?a ?p ?b . ?c ?q ?d . ?e ?r ?f . ?g ?s ?h }"


def make_client(vocab, settings, client=("198.51.100.7", 40000)) -> TestClient:
    from termserver.api.app import create_app
    from termserver.api.state import Snapshot
    from termserver.valuesets import ValueSetIndex, load_valuesets

    index = ValueSetIndex(vocab, load_valuesets(ONTOLOGY / "valuesets"))
    app = create_app(Snapshot(vocab=vocab, release="limits", valuesets=index), settings)
    return TestClient(app, raise_server_exceptions=False, client=client)


def parameters(n_chars: int) -> dict:
    return {
        "resourceType": "Parameters",
        "parameter": [
            {"name": "system", "valueUri": FFB},
            {"name": "code", "valueCode": VASKE_SIG},
            {"name": "displayLanguage", "valueCode": "x" * n_chars},
        ],
    }


# --- settings -----------------------------------------------------------------------------------


def test_settings_from_env_read_every_limit_and_the_older_sparql_names():
    from termserver.settings import Settings

    s = Settings.from_env(
        {
            "TERMSERVER_MAX_BODY_BYTES": "2048",
            "TERMSERVER_SPARQL_TIMEOUT": "3.5",
            "TERMSERVER_MAX_RESULTS": "77",
            "TERMSERVER_MAX_EXPANSION": "500",
            "TERMSERVER_RATE_LIMIT": "5",
            "TERMSERVER_TRUSTED_PROXIES": "10.0.0.5, 192.168.0.0/16",
            "TERMSERVER_LOG_FORMAT": "TEXT",
        }
    )
    assert (s.max_body_bytes, s.query_timeout, s.max_results, s.max_expansion) == (
        2048,
        3.5,
        77,
        500,
    )
    assert s.rate_limit == 5 and s.rate_burst == 10  # burst defaults to two seconds' worth
    assert s.trusted_proxies == (
        ipaddress.ip_network("10.0.0.5/32"),
        ipaddress.ip_network("192.168.0.0/16"),
    )
    assert s.log_format == "text"
    # The new name wins over the old one.
    both = {"TERMSERVER_QUERY_TIMEOUT": "2", "TERMSERVER_SPARQL_TIMEOUT": "9"}
    assert Settings.from_env(both).query_timeout == 2
    # Nothing set: generous defaults, no rate limit.
    default = Settings.from_env({})
    assert default.rate_limit == 0 and default.max_body_bytes == 10 * 1024 * 1024


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"TERMSERVER_MAX_BODY_BYTES": "ten"}, "TERMSERVER_MAX_BODY_BYTES"),
        ({"TERMSERVER_RATE_LIMIT": "-1"}, "rate_limit"),
        ({"TERMSERVER_MAX_EXPANSION": "0"}, "max_expansion"),
        ({"TERMSERVER_TRUSTED_PROXIES": "proxy.example"}, "TERMSERVER_TRUSTED_PROXIES"),
        ({"TERMSERVER_LOG_FORMAT": "xml"}, "log_format"),
    ],
)
def test_a_malformed_setting_is_refused_naming_it(env, named):
    from termserver.settings import Settings, SettingsError

    with pytest.raises(SettingsError, match=named):
        Settings.from_env(env)


@pytest.fixture()
def no_default_data_dir(monkeypatch, tmp_path):
    """``serve`` turns curation on when the default data directory exists: not in these tests."""
    from termserver.curation import config

    monkeypatch.setattr(config, "DEFAULT_DATA_DIR", tmp_path / "no-data")
    monkeypatch.delenv("TERMSERVER_DATA", raising=False)


@pytest.mark.usefixtures("no_default_data_dir")
def test_serve_options_reach_the_app_and_uvicorn_through_one_settings_read(monkeypatch):
    import uvicorn
    from typer.testing import CliRunner

    from termserver.cli import app
    from termserver.settings import Settings

    for env in ("TERMSERVER_RATE_LIMIT", "TERMSERVER_TRUSTED_PROXIES", "TERMSERVER_LOG_FORMAT"):
        monkeypatch.setenv(env, "")  # restored after the test; serve sets them
    seen = {}
    monkeypatch.setattr(uvicorn, "run", lambda target, **kw: seen.update(kw, target=target))
    args = ["serve", "--rate-limit", "5", "--trusted-proxies", "10.0.0.2", "--log-format", "text"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    # Each worker process builds its app from the environment serve left behind.
    settings = Settings.from_env()
    assert settings.rate_limit == 5 and str(settings.trusted_proxies[0]) == "10.0.0.2/32"
    assert seen["forwarded_allow_ips"] == "10.0.0.2/32"
    handler = seen["log_config"]["formatters"]["default"]
    assert "format" in handler and "request_id" in handler["format"]


@pytest.mark.usefixtures("no_default_data_dir")
def test_serve_trusts_no_proxy_by_default(monkeypatch):
    import uvicorn
    from typer.testing import CliRunner

    from termserver.cli import app

    monkeypatch.delenv("TERMSERVER_TRUSTED_PROXIES", raising=False)
    seen = {}
    monkeypatch.setattr(uvicorn, "run", lambda target, **kw: seen.update(kw))
    assert CliRunner().invoke(app, ["serve"]).exit_code == 0
    assert seen["forwarded_allow_ips"] == ""  # uvicorn alone would trust 127.0.0.1
    assert "()" in seen["log_config"]["formatters"]["default"]  # JSON by default


@pytest.mark.usefixtures("no_default_data_dir")
def test_serve_refuses_a_malformed_setting_before_starting(monkeypatch):
    from typer.testing import CliRunner

    from termserver.cli import app

    monkeypatch.setenv("TERMSERVER_TRUSTED_PROXIES", "not-an-address")
    result = CliRunner().invoke(app, ["serve", "--port", "1"])
    assert result.exit_code == 2
    assert "TERMSERVER_TRUSTED_PROXIES" in result.output


# --- body size ----------------------------------------------------------------------------------


def test_body_over_the_limit_is_413_operation_outcome_under_fhir(vocab):
    from termserver.settings import Settings

    with make_client(vocab, Settings(max_body_bytes=1000)) as http:
        small = http.post("/fhir/CodeSystem/$lookup", json=parameters(10))
        assert small.status_code != 413
        big = http.post("/fhir/CodeSystem/$lookup", json=parameters(2000))
        assert big.status_code == 413
        issue = big.json()["issue"][0]
        assert big.json()["resourceType"] == "OperationOutcome"
        assert issue["code"] == "too-costly" and "1,000 bytes" in issue["diagnostics"]


def test_body_over_the_limit_is_413_json_under_api(vocab):
    from termserver.settings import Settings

    with make_client(vocab, Settings(max_body_bytes=1000)) as http:
        big = http.post(
            "/api/validate", content=b"{" + b" " * 5000 + b"}", headers={"content-type": "x"}
        )
        assert big.status_code == 413
        assert big.headers["content-type"] == "application/json"
        assert big.json()["error"] == "too-costly"


def test_a_streamed_body_without_length_is_cut_off_at_the_limit(vocab):
    from termserver.settings import Settings

    sent = []

    def chunks():
        for _ in range(100):
            sent.append(1)
            yield b"x" * 500

    with make_client(vocab, Settings(max_body_bytes=1000)) as http:
        r = http.post(
            "/fhir/CodeSystem/$lookup",
            content=chunks(),
            headers={"content-type": "application/fhir+json"},
        )
    assert r.status_code == 413
    assert r.json()["issue"][0]["code"] == "too-costly"


def test_malformed_content_length_is_400(vocab):
    from termserver.settings import Settings

    with make_client(vocab, Settings()) as http:
        r = http.post("/api/validate", content=b"{}", headers={"content-length": "12abc", "x": "y"})
        assert r.status_code == 400


# --- expansion and result size ------------------------------------------------------------------


def test_expansion_size_follows_the_setting(vocab):
    from termserver.settings import Settings

    with make_client(vocab, Settings(max_expansion=5)) as http:
        page = http.get("/fhir/ValueSet/$expand", params={"url": AD, "count": 5})
        assert page.status_code == 200 and len(page.json()["expansion"]["contains"]) == 5
        too_big_page = http.get("/fhir/ValueSet/$expand", params={"url": AD, "count": 6})
        assert too_big_page.status_code == 400
        assert too_big_page.json()["issue"][0]["expression"] == ["count"]
        unpaged = http.get("/fhir/ValueSet/$expand", params={"url": AD})
        assert unpaged.status_code == 422
        assert unpaged.json()["issue"][0]["code"] == "too-costly"
    # The same request on an app with the default limit is answered whole.
    with make_client(vocab, Settings()) as http:
        assert http.get("/fhir/ValueSet/$expand", params={"url": AD}).status_code == 200


def test_sparql_result_size_and_query_time_follow_the_settings(vocab):
    from termserver.settings import Settings

    settings = Settings(max_results=3, query_timeout=1.0)
    with make_client(vocab, settings) as http:
        engine = http.app.state.sparql
        assert (engine.max_results, engine.timeout) == (3, 1.0)
        many = http.get("/sparql", params={"query": "SELECT ?s WHERE { ?s ?p ?o }"})
        assert many.status_code == 400
        assert many.json()["error"] == "too-many-results"
        endless = http.get("/sparql", params={"query": ENDLESS})
        assert endless.status_code == 503
        assert endless.json()["error"] == "timeout" and "Retry-After" in endless.headers


# --- rate limit ---------------------------------------------------------------------------------


def test_rate_limit_answers_429_with_retry_after_once_the_burst_is_spent(vocab):
    from termserver.settings import Settings

    with make_client(vocab, Settings(rate_limit=0.5, rate_burst=3)) as http:
        assert [http.get(LOOKUP).status_code for _ in range(3)] == [200, 200, 200]
        refused = http.get(LOOKUP)
        assert refused.status_code == 429
        assert int(refused.headers["Retry-After"]) in (1, 2)
        issue = refused.json()["issue"][0]
        assert issue["code"] == "throttled" and "too many requests" in issue["diagnostics"]
        api = http.get(f"/api/concepts/ffb/{VASKE_SIG}")
        assert api.status_code == 429 and api.json()["error"] == "throttled"
        # Probes and scrapes are never throttled.
        assert http.get("/healthz").status_code == 200
        assert http.get("/readyz").status_code == 200
        # Refused before routing: counted under the one series of unrouted requests.
        metrics = http.get("/metrics").text
        assert 'method="GET",route="unmatched",status="429"} 2.0' in metrics


def test_each_client_address_has_its_own_bucket(vocab):
    from termserver.settings import Settings

    settings = Settings(rate_limit=0.5, rate_burst=1)
    with make_client(vocab, settings, client=("198.51.100.7", 1)) as first:
        assert first.get(LOOKUP).status_code == 200
        assert first.get(LOOKUP).status_code == 429
        # X-Forwarded-For from an untrusted peer is ignored: no way around the limit.
        spoof = first.get(LOOKUP, headers={"X-Forwarded-For": "203.0.113.9"})
        assert spoof.status_code == 429
        app = first.app
    with TestClient(app, client=("198.51.100.8", 1)) as second:
        assert second.get(LOOKUP).status_code == 200


def test_behind_a_trusted_proxy_the_forwarded_client_is_limited(vocab):
    from termserver.settings import Settings, parse_networks

    settings = Settings(rate_limit=0.5, rate_burst=1, trusted_proxies=parse_networks("10.0.0.2"))
    with make_client(vocab, settings, client=("10.0.0.2", 1)) as proxy:
        a = {"X-Forwarded-For": "203.0.113.9"}
        b = {"X-Forwarded-For": "203.0.113.10"}
        assert proxy.get(LOOKUP, headers=a).status_code == 200
        assert proxy.get(LOOKUP, headers=a).status_code == 429
        assert proxy.get(LOOKUP, headers=b).status_code == 200
        # A client's own forged entry on the left does not help: the proxy appended the real one.
        forged = {"X-Forwarded-For": "192.0.2.1, 203.0.113.9"}
        assert proxy.get(LOOKUP, headers=forged).status_code == 429


def test_client_of_takes_the_rightmost_untrusted_forwarded_address():
    from termserver.api.limits import client_of
    from termserver.settings import parse_networks

    trusted = parse_networks("10.0.0.0/8")
    scope = {"client": ("10.0.0.2", 1)}

    def xff(value: str) -> list:
        return [(b"x-forwarded-for", value.encode())]

    assert client_of(scope, xff("203.0.113.9, 10.1.1.1"), trusted) == "203.0.113.9"
    assert client_of(scope, xff("1.2.3.4, 203.0.113.9"), trusted) == "203.0.113.9"
    assert client_of(scope, xff("not-an-ip"), trusted) == "10.0.0.2"
    assert client_of(scope, [], trusted) == "10.0.0.2"
    assert client_of({"client": ("198.51.100.1", 1)}, xff("1.2.3.4"), trusted) == "198.51.100.1"


def test_token_bucket_refills_at_the_configured_rate():
    from termserver.api.limits import TokenBuckets

    buckets = TokenBuckets(rate=2.0, burst=2)
    assert buckets.take("a", now=0.0) == 0
    assert buckets.take("a", now=0.0) == 0
    assert buckets.take("a", now=0.0) == pytest.approx(0.5)
    assert buckets.take("a", now=0.5) == 0  # one token back after half a second
    assert buckets.take("b", now=0.5) == 0  # others are untouched
