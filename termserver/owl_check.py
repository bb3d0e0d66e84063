"""Check an OWL ontology in Turtle for consistency and unsatisfiable classes with HermiT.

HermiT is run through owlready2, which needs a Java runtime. Each check loads the ontology into
its own fresh ``owlready2.World`` so that nothing leaks into owlready2's default world (or from
one check into the next), and all temporary files live in a private directory that is removed
afterwards.
"""

from __future__ import annotations

import functools
import shutil
import tempfile
import threading
import types
from dataclasses import dataclass, field
from pathlib import Path

import owlready2
import owlready2.reasoning
import rdflib

from termserver.errors import SourceError, TermserverError

# owlready2 writes the ontology for HermiT to tempfile.NamedTemporaryFile() and does not delete it
# when HermiT fails or reports an inconsistency. Checks swap owlready2's view of ``tempfile`` for
# one bound to their own directory; the lock keeps two checks from swapping at the same time.
_REASONER_LOCK = threading.Lock()
_OWL_NOTHING = "http://www.w3.org/2002/07/owl#Nothing"


@dataclass
class OwlReport:
    """The reasoner's verdict on one ontology file."""

    consistent: bool
    unsatisfiable: list[str] = field(default_factory=list)
    classes: int = 0
    properties: int = 0
    message: str = ""


def check_owl_consistency(path: Path) -> OwlReport:
    """Run HermiT on a Turtle ontology and report consistency and unsatisfiable classes.

    Raises :class:`SourceError` if the file cannot be read as Turtle, and
    :class:`TermserverError` if Java is missing or the reasoner fails for another reason.
    """
    path = Path(path)
    java = shutil.which(owlready2.JAVA_EXE)
    if java is None:
        raise TermserverError(
            f"cannot check {path}: Java ({owlready2.JAVA_EXE!r}) not found; owlready2 runs the "
            "HermiT reasoner on a Java runtime, so install one (Java 8 or later) or set "
            "owlready2.JAVA_EXE"
        )
    graph = rdflib.Graph()
    try:
        graph.parse(path, format="turtle")
    except OSError as exc:
        raise SourceError(str(path), None, f"cannot read file: {exc}") from exc
    except Exception as exc:  # rdflib raises several unrelated types for bad syntax
        raise SourceError(str(path), None, f"invalid Turtle: {exc}") from exc

    with tempfile.TemporaryDirectory(prefix="termserver-owl-") as tmp:
        ntriples = Path(tmp) / "ontology.nt"
        graph.serialize(ntriples, format="nt", encoding="utf-8")
        world = owlready2.World()
        try:
            with ntriples.open("rb") as f:
                ontology = world.get_ontology(ntriples.as_uri()).load(fileobj=f, format="ntriples")
            classes = sum(1 for _ in ontology.classes())
            properties = sum(1 for _ in ontology.properties())
            try:
                _run_hermit(world, tmp)
            except owlready2.OwlReadyInconsistentOntologyError:
                return OwlReport(
                    consistent=False,
                    classes=classes,
                    properties=properties,
                    message=f"{path.name}: inconsistent (HermiT found no model)",
                )
            # owl:Nothing is always empty; only the ontology's own classes are news.
            unsatisfiable = sorted(
                c.iri for c in world.inconsistent_classes() if c.iri != _OWL_NOTHING
            )
        finally:
            world.close()

    if unsatisfiable:
        message = f"{path.name}: consistent, but {len(unsatisfiable)} unsatisfiable class(es)"
    else:
        message = f"{path.name}: consistent, {classes} classes, no unsatisfiable class"
    return OwlReport(
        consistent=True,
        unsatisfiable=unsatisfiable,
        classes=classes,
        properties=properties,
        message=message,
    )


def _run_hermit(world: owlready2.World, tmp: str) -> None:
    """Classify ``world`` with HermiT, keeping owlready2's temporary file inside ``tmp``."""
    private_tempfile = types.SimpleNamespace(
        NamedTemporaryFile=functools.partial(tempfile.NamedTemporaryFile, dir=tmp)
    )
    with _REASONER_LOCK:
        saved = owlready2.reasoning.tempfile
        owlready2.reasoning.tempfile = private_tempfile
        try:
            owlready2.sync_reasoner_hermit(world, infer_property_values=False, debug=0)
        except owlready2.OwlReadyJavaError as exc:
            raise TermserverError(f"the HermiT reasoner failed: {exc}") from exc
        except OSError as exc:
            raise TermserverError(f"could not run Java for the HermiT reasoner: {exc}") from exc
        finally:
            owlready2.reasoning.tempfile = saved
