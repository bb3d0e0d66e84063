"""Regenerate data/fhir-core/fhir-core-terminology.json.gz from the FHIR core npm package.

    npm pack hl7.fhir.r5.core@5.0.0          # hl7.fhir.r5.core-5.0.0.tgz (shasum in SOURCES.md)
    python scripts/extract_fhir_core.py hl7.fhir.r5.core-5.0.0.tgz

Keeps every CodeSystem whose content is complete and every ValueSet, as published, without
their narrative (``text``: HTML the terminology services never show); drops what termserver's
loader cannot use (listed on stderr and in SOURCES.md). Writes one gzipped FHIR collection
Bundle, byte-for-byte reproducible (sorted by file name, no gzip timestamp).
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import sys
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "data" / "fhir-core" / "fhir-core-terminology.json.gz"


def main(argv: list[str] | None = None) -> int:
    """Extract; print counts, sizes and the package's SHA-1 (npm's shasum)."""
    sys.path.insert(0, str(ROOT))
    from termserver.fhir.outcome import FhirError
    from termserver.fhir.overlay import parse_resources
    from termserver.fhir.packages import read_package

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("package", type=Path, help="hl7.fhir.r5.core-5.0.0.tgz (or its folder)")
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args(argv)
    kept, dropped = [], []
    for doc in read_package(args.package):
        rtype = doc["resourceType"]
        if rtype == "ConceptMap" or (rtype == "CodeSystem" and doc.get("content") != "complete"):
            continue  # not terminology we can answer for: maps, stubs, examples, supplements
        doc = {k: v for k, v in doc.items() if k != "text"}
        try:
            parse_resources([doc], where=f"{rtype}/{doc.get('id')}", single=True)
        except FhirError as exc:
            dropped.append(exc.diagnostics)
            continue
        kept.append(doc)
    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"resource": d} for d in kept],
    }
    raw = orjson.dumps(bundle)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_bytes(gzip.compress(raw, compresslevel=9, mtime=0))
    counts = {t: sum(d["resourceType"] == t for d in kept) for t in ("CodeSystem", "ValueSet")}
    print(f"kept {counts}, {len(raw)} bytes JSON, {args.out.stat().st_size} bytes gzipped")
    for reason in dropped:
        print(f"dropped: {reason}", file=sys.stderr)
    if args.package.is_file():
        sha1 = hashlib.sha1(args.package.read_bytes()).hexdigest()
        print(f"package shasum (SHA-1) {sha1}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
