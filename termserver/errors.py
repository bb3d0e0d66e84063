"""Errors that name the input that caused them and the place in it."""

from __future__ import annotations


class TermserverError(Exception):
    """Base of the errors this package raises on purpose."""


class SourceError(TermserverError):
    """A source file (FHIR JSON, Turtle, YAML) that cannot be used, and where it went wrong.

    ``location`` is a JSON path (``$.concept[3].code``) or ``line N`` / ``line N, column M``.
    """

    def __init__(self, source: str, location: str | None, message: str) -> None:
        self.source = source
        self.location = location
        self.message = message
        where = f"{source}: {location}" if location else source
        super().__init__(f"{where}: {message}")


class UnknownConceptError(TermserverError, LookupError):
    """A code, IRI, system or version that the vocabulary does not hold."""
