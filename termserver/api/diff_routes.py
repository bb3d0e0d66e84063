"""``/api/diff``: the classified diff between two releases of a code system, and its impact."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field
from starlette.responses import Response

from termserver.api.responses import JsonResponse
from termserver.errors import UnknownConceptError
from termserver.fhir.outcome import bad_request, not_found

MAX_REF_CHARS = 300


class DiffOut(BaseModel):
    """The shape of a diff; ``schemes[].changes`` holds one list per class."""

    from_: str = Field(alias="from")
    to: str
    summary: dict[str, Any]
    schemes: list[dict[str, Any]]
    unchanged: list[str]
    schemesAdded: list[str]
    schemesRemoved: list[str]
    mappings: dict[str, Any]
    impact: dict[str, Any] | None = None


def build_router() -> APIRouter:
    """The ``/api/diff`` route."""
    r = APIRouter(prefix="/api", tags=["JSON API"])

    @r.get(
        "/diff",
        response_model=DiffOut,
        summary="Classified diff between two releases of one code system (and its impact)",
        description=(
            "Concepts are matched by code. Classes: added, removed, retired, reactivated, "
            "relabelled, redefined, moved, property. `impact=true` adds the mapping rows, KL "
            "value sets and plans that refer to changed concepts. `format=markdown` answers "
            "with the Danish changelog."
        ),
        responses={200: {"content": {"text/markdown": {}}}},
    )
    def diff(
        request: Request,
        from_: Annotated[
            str,
            Query(
                alias="from",
                max_length=MAX_REF_CHARS,
                description="Older release: ffb|20200908, ffb@20200908 or system|version.",
            ),
        ],
        to: Annotated[
            str,
            Query(max_length=MAX_REF_CHARS, description="Newer release, e.g. ffb|20240530."),
        ],
        with_impact: Annotated[bool, Query(alias="impact")] = False,
        fmt: Annotated[str, Query(alias="format", pattern="^(json|markdown)$")] = "json",
    ) -> Response:
        # A plain (sync) handler: the diff is CPU work, so it runs in the thread pool rather
        # than holding up the event loop.
        from termserver.diff import as_release_diff, changelog_markdown, diff_versions, impact

        snap = request.app.state.holder.current
        vocab = snap.vocab
        system_a, version_a = _ref(vocab, from_, "from")
        system_b, version_b = _ref(vocab, to, "to")
        if system_a != system_b:
            raise bad_request(
                f"from and to name different code systems ({system_a}, {system_b}); "
                "a diff compares releases of one code system",
                "to",
            )
        result = diff_versions(vocab, system_a, version_a, vocab, version_b)
        found = None
        if with_impact:
            found = impact(
                result, mapping_sets=snap.translator.mapping_sets, valuesets=snap.valuesets
            )
        if fmt == "markdown":
            return Response(
                changelog_markdown(result, impact=found), media_type="text/markdown; charset=utf-8"
            )
        doc = as_release_diff(result).to_dict()
        if found is not None:
            doc["impact"] = found.to_dict()
        return JsonResponse(doc)

    return r


def _ref(vocab, text: str, where: str) -> tuple[str, str]:
    # termserver.diff is imported here and in the handler, not with the routes: start-up time.
    from termserver.diff import parse_release_ref

    try:
        return parse_release_ref(vocab, text)
    except UnknownConceptError as exc:
        raise not_found(str(exc), where) from None
