"""Template rendering and the Danish words the pages share (statuses, relations, URLs)."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode

from markupsafe import Markup, escape
from starlette.requests import Request
from starlette.responses import HTMLResponse

from termserver.mappings import BROAD, CLOSE, EXACT, NARROW, RELATED, short_name
from termserver.model import ACTIVE, DEPRECATED, RETIRED, Concept
from termserver.web.textdiff import word_diff

if TYPE_CHECKING:
    from jinja2 import Environment

HERE = Path(__file__).resolve().parent
TEMPLATES = HERE / "templates"
STATIC = HERE / "static"
#: Bumped with the vendored file, so browsers may cache it for long.
HTMX_VERSION = "2.0.11"

STATUS_DA = {ACTIVE: "aktiv", DEPRECATED: "frarådet", RETIRED: "udgået"}
MAPPING_STATUS_DA = {"published": "publiceret", "proposed": "foreslået"}
CHANGE_STATUS_DA = {
    "draft": "kladde",
    "proposed": "foreslået",
    "approved": "godkendt",
    "rejected": "afvist",
    "published": "udgivet",
}
ROLE_DA = {"reader": "læser", "editor": "redaktør", "approver": "godkender", "admin": "admin"}
#: The form field every curation form carries its CSRF token in.
CSRF_FIELD = "csrf"
#: How a row "fra <relation> til" reads in Danish; the SKOS name follows in the page.
RELATION_DA = {
    EXACT: "samme betydning",
    CLOSE: "næsten samme betydning",
    BROAD: "til-begrebet er bredere",
    NARROW: "til-begrebet er snævrere",
    RELATED: "beslægtet",
}


def concept_url(c: Concept, *, latest: bool = True) -> str:
    """The web page of a concept; ``latest=False`` pins the concept's own release."""
    url = f"/begreb/{quote(c.scheme, safe='')}/{quote(c.code, safe='/')}"
    return url if latest else f"{url}?{urlencode({'udgave': c.version})}"


def code_url(scheme: str, code: str) -> str:
    """The web page of ``scheme``/``code`` (for codes known only from a mapping row)."""
    return f"/begreb/{quote(scheme, safe='')}/{quote(code, safe='/')}"


def relation_da(predicate: str) -> str:
    """``skos:broadMatch`` → ``til-begrebet er bredere``."""
    return RELATION_DA.get(predicate, short_name(predicate))


def confidence_da(value: float | None) -> str:
    """0.6 → ``0,6``; None → ``ikke angivet``."""
    return "ikke angivet" if value is None else f"{value:.1f}".replace(".", ",")


def linkify(text: str | None) -> Markup:
    """A citation whose first word is a web address, with that address as a link."""
    head, _, rest = (text or "").partition(" ")
    if head.startswith(("https://", "http://")):
        return Markup('<a href="{0}">{0}</a>').format(head) + escape(f" {rest}" if rest else "")
    return escape(text or "")


def kind_da(kind: str) -> str:
    """``concept.definition`` → ``Ny definition``."""
    from termserver.curation.changes import KINDS

    spec = KINDS.get(kind)
    return spec.title[:1].upper() + spec.title[1:] if spec else kind


def diff_value(value: Any) -> str:
    """A value from a release diff as text: labels of concept references, lists joined."""
    if isinstance(value, tuple | list):
        return ", ".join(diff_value(v) for v in value)
    display = getattr(value, "display", None)
    if display is not None:
        return f"{display} ({value.code})"
    if value in STATUS_DA:
        return STATUS_DA[value]
    return "" if value is None else str(value)


def query_url(path: str, params: dict[str, Any]) -> str:
    """``path?params`` without empty values (for filter and paging links)."""
    kept = {k: v for k, v in params.items() if v not in (None, "", False)}
    return f"{path}?{urlencode(kept)}" if kept else path


@functools.cache
def _environment() -> Environment:
    # Built, and jinja2 imported, at the first page rather than with the app: ~30 ms of start-up.
    from jinja2 import Environment, FileSystemLoader, select_autoescape

    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals.update(
        concept_url=concept_url,
        code_url=code_url,
        query_url=query_url,
        linkify=linkify,
        status_da=lambda s: STATUS_DA.get(s, s),
        mapping_status_da=lambda s: MAPPING_STATUS_DA.get(s, s),
        relation_da=relation_da,
        relation_name=short_name,
        confidence_da=confidence_da,
        htmx_version=HTMX_VERSION,
        change_status_da=lambda s: CHANGE_STATUS_DA.get(s, s),
        role_da=lambda r: ROLE_DA.get(r, r),
        kind_da=kind_da,
        diff_value=diff_value,
        word_diff=word_diff,
        csrf_field=CSRF_FIELD,
    )
    return env


def render(
    request: Request, template: str, context: dict[str, Any], status_code: int = 200
) -> HTMLResponse:
    """Render a page (or fragment) with the context every page shares."""
    snapshot = request.app.state.holder.current
    shared = {
        "request": request,
        "release": snapshot.release,
        "q": request.query_params.get("q"),
        "curation_on": getattr(request.app.state, "curation", None) is not None,
        "web_user": getattr(request.state, "web_user", None),
    }
    html = _environment().get_template(template).render({**shared, **context})
    return HTMLResponse(html, status_code=status_code)
