"""Generate a large, realistic FHIR CodeSystem for load and search benchmarks.

Labels recombine the words of the real FFB and FSIII labels, so token lengths and the Danish
letters are distributed as in the real content; codes are UUIDs from a seeded generator, so the
same arguments always give the same file.
"""

from __future__ import annotations

import json
import random
import re
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CACHE = Path("/tmp/termserver-bench")


def real_words() -> list[str]:
    """Distinct words of the real KL labels (FFB 20240530 and FSIII)."""
    words: set[str] = set()

    def walk(items: list) -> None:
        for c in items:
            words.update(w for w in re.split(r"[\s,/()\-]+", c.get("display", "")) if len(w) > 1)
            walk(c.get("concept", []))

    for name in ("CodeSystem-FFB-20240530.json", "CodeSystem-FSIII.json"):
        walk(json.loads((ROOT / "data" / "kl" / name).read_text("utf-8"))["concept"])
    return sorted(words)


def generate_codesystem(n: int, seed: int = 42, branching: int = 12) -> dict:
    """A CodeSystem with ``n`` concepts in an is-a tree of the given branching factor."""
    rnd = random.Random(seed)
    words = real_words()
    concepts: list[dict] = []
    frontier: list[dict] = []
    for i in range(n):
        k = rnd.choice((1, 2, 2, 3, 3, 4))
        label = " ".join(rnd.choice(words) for _ in range(k)).capitalize()
        node = {
            "code": str(uuid.UUID(int=rnd.getrandbits(128), version=4)),
            "display": label,
            "definition": f"Genereret begreb nummer {i} til ydelsesmåling.",
        }
        if not frontier:
            concepts.append(node)
        else:
            parent = frontier[0]
            parent.setdefault("concept", []).append(node)
            if len(parent["concept"]) >= branching:
                frontier.pop(0)
        frontier.append(node)
    return {
        "resourceType": "CodeSystem",
        "id": "bench",
        "url": "http://example.org/termserver/bench",
        "version": f"{n}",
        "name": "Bench",
        "status": "active",
        "content": "complete",
        "hierarchyMeaning": "is-a",
        "description": "Generated benchmark content; not KL content.",
        "concept": concepts,
    }


def generated_scheme_dir(n: int, seed: int = 42) -> Path:
    """An ontology directory holding one generated scheme of ``n`` concepts (cached on disk)."""
    from termserver.importer import import_codesystem

    target = CACHE / f"bench-{n}-{seed}"
    schemes = target / "schemes"
    if not (schemes / f"bench-{n}.ttl").exists():
        target.mkdir(parents=True, exist_ok=True)
        src = target / "codesystem.json"
        src.write_text(json.dumps(generate_codesystem(n, seed), ensure_ascii=False), "utf-8")
        import_codesystem(src, schemes)
    return target
