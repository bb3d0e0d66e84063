"""FHIR npm packages (``serve --fhir-package``), the shipped FHIR core content (``--fhir-core``)
and ``$versions``."""

from __future__ import annotations

import io
import json
import logging
import tarfile
from pathlib import Path

import httpx
import pytest

from termserver.errors import SourceError
from termserver.fhir.overlay import StartupView
from termserver.fhir.packages import load_fhir_core, load_fhir_packages, read_package
from tests.conftest import FFB, ONTOLOGY, VASKE_SIG, serving

GENDER_VS = "http://hl7.org/fhir/ValueSet/administrative-gender"
PKG_SYSTEM = "http://example.org/fhir/CodeSystem/colours"


def _codesystem(url: str, *codes: str) -> dict:
    concepts = [{"code": c, "display": c.title()} for c in codes]
    return {"resourceType": "CodeSystem", "url": url, "version": "1.0.0", "status": "active"} | {
        "content": "complete",
        "concept": concepts,
    }


def _package(path: Path, *resources: dict) -> Path:
    """An npm package .tgz holding ``resources`` (and the files a package also has)."""
    files = {"package/package.json": {"name": "example.pkg", "version": "1.0.0"}}
    files |= {f"package/{r['resourceType']}-{i}.json": r for i, r in enumerate(resources)}
    files["package/other/ignored.json"] = _codesystem("http://example.org/elsewhere", "x")
    with tarfile.open(path, "w:gz") as tar:
        for name, doc in files.items():
            data = json.dumps(doc).encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def test_a_package_gives_its_terminology_and_skips_what_the_loader_cannot_use(tmp_path, caplog):
    broken = _codesystem("http://example.org/broken", "a")
    broken["concept"][0]["designation"] = [{"use": {"system": "s"}, "value": "v"}]  # no code
    other = {"resourceType": "StructureDefinition", "url": "http://example.org/sd"}
    valueset = {"resourceType": "ValueSet", "url": "http://example.org/vs", "status": "active"}
    valueset["compose"] = {"include": [{"system": PKG_SYSTEM}]}
    pkg = _package(tmp_path / "p.tgz", _codesystem(PKG_SYSTEM, "red"), broken, other, valueset)
    assert [d["resourceType"] for d in read_package(pkg)] == [
        "CodeSystem",
        "CodeSystem",
        "ValueSet",
    ]
    with caplog.at_level(logging.WARNING, logger="termserver.fhir.packages"):
        kept = load_fhir_packages([pkg])
    assert [d["url"] for d in kept] == [PKG_SYSTEM, "http://example.org/vs"]
    assert "1 resource(s) skipped" in caplog.text and "required element is missing" in caplog.text
    # The same package unpacked reads the same.
    with tarfile.open(pkg) as tar:
        tar.extractall(tmp_path / "unpacked", filter="data")
    assert read_package(tmp_path / "unpacked") == read_package(pkg)


def test_an_unreadable_package_names_itself(tmp_path):
    bad = tmp_path / "bad.tgz"
    bad.write_bytes(b"not a tarball")
    with pytest.raises(SourceError, match=r"bad\.tgz"):
        read_package(bad)
    from typer.testing import CliRunner

    from termserver.cli import app

    result = CliRunner().invoke(app, ["serve", "--fhir-package", str(bad)])
    assert result.exit_code == 1 and "bad.tgz" in result.output.replace("\n", "")


def test_kl_content_wins_any_conflict_with_package_content(vocab):
    from termserver.valuesets import ValueSetIndex, load_valuesets

    index = ValueSetIndex(vocab, load_valuesets(ONTOLOGY / "valuesets"))
    kl_vs = next(iter(index.definitions()))
    impostor_vs = {"resourceType": "ValueSet", "url": kl_vs.url, "status": "draft"}
    impostor_vs["compose"] = {"include": [{"system": PKG_SYSTEM}]}
    impostor_cs = _codesystem(FFB, "not-ffb")
    view = StartupView([], beneath=[impostor_cs, impostor_vs, _codesystem(PKG_SYSTEM, "red")])
    shown = view.of(object(), vocab, index)
    assert shown.vocab.lookup(FFB, VASKE_SIG).code == VASKE_SIG
    assert shown.vocab.get(FFB, "not-ffb") is None
    assert [v.version for v in shown.vocab.versions(FFB)] == [
        v.version for v in vocab.versions(FFB)
    ]
    assert shown.valuesets.get(kl_vs.url) is index.get(kl_vs.url)
    assert shown.vocab.lookup(PKG_SYSTEM, "red").display == "Red"  # no conflict: shown


def test_the_shipped_fhir_core_content_loads_whole():
    docs = load_fhir_core()
    kinds = [d["resourceType"] for d in docs]
    assert (kinds.count("CodeSystem"), kinds.count("ValueSet")) == (442, 788)
    assert all(d.get("content") == "complete" for d in docs if d["resourceType"] == "CodeSystem")
    assert GENDER_VS in {d["url"] for d in docs}


def test_fhir_core_and_packages_are_served_on_fhir_only(tmp_path):
    pkg = _package(tmp_path / "p.tgz", _codesystem(PKG_SYSTEM, "red", "green"))
    with serving("--fhir-core", "--fhir-package", str(pkg)) as base:
        expand = {
            "resourceType": "Parameters",
            "parameter": [{"name": "url", "valueUri": GENDER_VS}],
        }
        r = httpx.post(f"{base}/fhir/r5/ValueSet/$expand", json=expand, timeout=30)
        assert r.status_code == 200, r.text
        codes = {c["code"] for c in r.json()["expansion"]["contains"]}
        assert codes == {"male", "female", "other", "unknown"}
        look = {"system": PKG_SYSTEM, "code": "green"}
        assert httpx.get(f"{base}/fhir/CodeSystem/$lookup", params=look, timeout=30).is_success
        schemes = httpx.get(f"{base}/api/schemes", timeout=30).text
        assert "administrative-gender" not in schemes and PKG_SYSTEM not in schemes
    with serving() as base:  # opt-in: without --fhir-core, FHIR's own value sets are unknown
        r = httpx.post(f"{base}/fhir/r5/ValueSet/$expand", json=expand, timeout=30)
        assert r.status_code == 404


def test_versions_says_which_fhir_version_each_endpoint_speaks(client):
    for path, version in (("/fhir/$versions", "4.0"), ("/fhir/r5/$versions", "5.0")):
        params = client.get(path).json()["parameter"]
        assert {"name": "default", "valueCode": version} in params
        assert {"name": "version", "valueCode": version} in params


def test_the_capability_statement_claims_only_what_we_do(client):
    statement = client.get("/fhir/r5/metadata").json()
    features = [
        {e["url"]: e for e in f["extension"]}["definition"]["valueCanonical"]
        for f in statement["extension"]
    ]
    assert features == [
        "http://hl7.org/fhir/uv/tx-ecosystem/FeatureDefinition/CodeSystemAsParameter"
    ]
    assert statement["rest"][0]["operation"] == [
        {
            "name": "versions",
            "definition": "http://hl7.org/fhir/OperationDefinition/CapabilityStatement-versions",
        }
    ]
    caps = client.get("/fhir/r5/metadata", params={"mode": "terminology"}).json()
    names = {p["name"] for p in caps["expansion"]["parameter"]}
    assert {"tx-resource", "force-system-version", "check-system-version", "property"} <= names
    # Only parameters $expand acts on are claimed (each has its own test in test_fhir_valueset).
    assert "cache-id" not in names and "tx-resource" in names
