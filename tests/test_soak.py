"""The loopback soak (bench/soak.py), shortened: no errors, bounded server RSS growth."""

from __future__ import annotations

import importlib.util
import socket
import sys
from pathlib import Path

import pytest

SOAK_PATH = Path(__file__).resolve().parent.parent / "bench" / "soak.py"


def load_soak():
    """bench/ is scripts, not a package: load soak.py by path."""
    spec = importlib.util.spec_from_file_location("bench_soak", SOAK_PATH)
    module = importlib.util.module_from_spec(spec)
    # dataclasses resolve string annotations through sys.modules.
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_soak_of_the_request_mix_has_no_errors_and_bounded_rss_growth():
    soak = load_soak()
    args = soak.parse_args(["--seconds", "12", "--calibrate-seconds", "3", "--clients", "8"])
    report = soak.run(args)

    assert report["errors"] == 0, report["error_samples"]
    assert set(report["statuses"]) == {"200"}
    # Every kind in the mix was exercised during the soak itself.
    assert set(report["latency_ms"]) == {
        "lookup",
        "expand",
        "expand_filter",
        "translate",
        "fhir_translate",
        "validate",
        "bundle_validate",
    }
    rss = report["rss_mb"]
    assert len(rss["samples"]) >= 5
    assert rss["growth"] < args.max_rss_growth_mb
    assert report["ok"] is True


def test_soak_fails_when_the_server_does_not_answer():
    soak = load_soak()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    # Nothing listens on the port once the socket is closed: every request is refused.
    argv = [
        "--server",
        f"http://127.0.0.1:{port}",
        "--seconds",
        "0.5",
        "--calibrate-seconds",
        "0.3",
        "--clients",
        "2",
        "--json",
    ]
    assert soak.main(argv) == 1
