"""Shared fixtures: the real content, loaded once per test session."""

from __future__ import annotations

import contextlib
import copy
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data"
KL = ROOT / "data" / "kl"
ONTOLOGY = ROOT / "ontology"

FFB = "urn:oid:1.2.208.176.2.22"
KL_SCHEMES = {"ffb", "fsiii", "caresocialcodes", "fboe", "ltt"}
LOCAL_SCHEMES = {
    "vum-1",
    "sel-50",
    "barnets-lov",
    "ics",
    "ics-dubu",
    "forandringskompas-misbrug",
    "forandringskompas-plejetilbud",
}
VASKE_SIG = "885400cc-dd71-479e-8993-3fc48fdd6710"
EGENOMSORG = "da3f488f-1742-4d00-b247-a7d47500b36b"
AKTIVITET_OG_DELTAGELSE = "93433530-b85c-4d04-a4fb-5ae26cf16f1c"
FFB_TILSTANDE = "b3ddc7d7-f6c1-4d47-8280-456992cbe0a6"


@pytest.fixture(scope="session")
def vocab():
    from termserver.content import load_vocabulary

    return load_vocabulary(ONTOLOGY)


@pytest.fixture()
def ffb_slice() -> dict:
    """A fresh copy of the FFB slice fixture (real KL concepts) for a test to modify."""
    return copy.deepcopy(json.loads((DATA / "codesystem-ffb-slice.json").read_text("utf-8")))


def write_json(path: Path, doc) -> Path:
    path.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def client(vocab):
    from fastapi.testclient import TestClient

    from termserver.api.app import create_app
    from termserver.api.state import Snapshot
    from termserver.core_model import load_core_model
    from termserver.kinds import KindIndex
    from termserver.translate import Translator
    from termserver.valuesets import ValueSetIndex, load_valuesets

    index = ValueSetIndex(vocab, load_valuesets(ONTOLOGY / "valuesets"))
    kinds = KindIndex(vocab, load_core_model(ONTOLOGY / "ffb-core.ttl"))
    translator = Translator.from_directory(vocab, ROOT / "mappings")
    snapshot = Snapshot(
        vocab=vocab, release="test", valuesets=index, kinds=kinds, translator=translator
    )
    app = create_app(snapshot)
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def serving(*args: str, env: dict | None = None) -> Iterator[str]:
    """Run `termserver serve` with ``args`` on a free loopback port; yields its base URL once it
    answers, and stops it afterwards."""
    import os
    import subprocess
    import sys
    import time
    import urllib.request

    port = free_port()
    env = {**os.environ, "TERMSERVER_ONTOLOGY": str(ONTOLOGY), **(env or {})}
    command = [sys.executable, "-m", "termserver", "serve", "--port", str(port)]
    proc = subprocess.Popen(
        [*command, "--log-level", "warning", *args],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{base}/fhir/metadata", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None:
                raise RuntimeError(f"server exited: {proc.stderr.read().decode()[-2000:]}")
            if time.monotonic() > deadline:
                raise RuntimeError("server did not start within 60 s")
            time.sleep(0.1)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture(scope="session")
def live_server():
    """A real `termserver` HTTP server on a loopback port, for real client libraries."""
    with serving() as base:
        yield base


@pytest.fixture(scope="session")
def core_server():
    """A real server as `python -m termserver.conformance` starts it: with FHIR's own code
    systems (``--fhir-core``)."""
    with serving("--fhir-core") as base:
        yield base


# --- the browser (Playwright driving Debian's Chromium) -----------------------------------------

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def browser():
    """Debian's Chromium under Playwright, one per test module."""
    sync_api = pytest.importorskip("playwright.sync_api", reason="pip install -e '.[test]'")
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture(scope="module")
def shots(request, tmp_path_factory):
    """``take(page, name)``: a full-page screenshot in a temporary folder, also copied to
    $TERMSERVER_SHOTS when set, for a person to look at."""
    import os
    import shutil

    folder = tmp_path_factory.mktemp(f"shots-{request.module.__name__}")
    extra = os.environ.get("TERMSERVER_SHOTS")

    def take(page, name: str) -> Path:
        path = folder / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        assert path.stat().st_size > 1000
        if extra:
            Path(extra).mkdir(parents=True, exist_ok=True)
            shutil.copy(path, Path(extra) / path.name)
        return path

    return take
