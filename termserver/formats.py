"""The formats we serve, by media type, and content negotiation over them.

One table serves the IRI resolver, exports and any endpoint that negotiates, so adding a format
means adding a row here.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Format:
    """A serialisation: its media type, rdflib format name (if RDF) and file extension."""

    media_type: str
    extension: str
    rdflib_name: str | None = None


FORMATS: tuple[Format, ...] = (
    Format("text/html", "html"),
    Format("text/turtle", "ttl", "turtle"),
    Format("application/ld+json", "jsonld", "json-ld"),
    Format("application/rdf+xml", "rdf", "xml"),
    Format("application/n-triples", "nt", "nt"),
    Format("application/json", "json"),
)
BY_MEDIA_TYPE = {f.media_type: f for f in FORMATS}
BY_EXTENSION = {f.extension: f for f in FORMATS}
RDF_FORMATS = tuple(f for f in FORMATS if f.rdflib_name)


def negotiate(accept: str | None, offered: tuple[Format, ...] = FORMATS) -> Format | None:
    """The best offered format for an Accept header (q-values honoured; ties keep our order)."""
    if not accept or not accept.strip():
        return offered[0]
    best: tuple[float, int, Format] | None = None
    for rank, item in enumerate(accept.split(",")[:32]):
        media, *params = (p.strip() for p in item.split(";"))
        q = 1.0
        for p in params:
            if p.startswith("q="):
                try:
                    q = max(0.0, min(1.0, float(p[2:])))
                except ValueError:
                    q = 0.0
        if q <= 0:
            continue
        fmt = next((f for f in offered if _matches(media.lower(), f.media_type)), None)
        # Highest q wins; at equal q the type listed first in the header wins.
        if fmt is not None and (best is None or (q, -rank) > best[:2]):
            best = (q, -rank, fmt)
    return best[2] if best else None


def _matches(pattern: str, media_type: str) -> bool:
    if pattern in ("*/*", media_type):
        return True
    if pattern.endswith("/*"):
        return media_type.startswith(pattern[:-1])
    return False
