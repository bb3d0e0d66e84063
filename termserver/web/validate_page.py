"""``/valider``: paste or upload a plan and read the findings in Danish, each at its place.

The page only presents: parsing and rules are :func:`termserver.plans.validate.validate_bytes`,
the same engine ``POST /api/validate`` and ``termserver validate`` use.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.responses import HTMLResponse, Response

from termserver.plans.inputs import MAX_BYTES
from termserver.web.plan_view import MAX_LISTED_LINES, locate, marked_lines
from termserver.web.render import render

if TYPE_CHECKING:  # the rules are imported at the first validation: start-up does not wait
    from termserver.plans.validate import Report

#: The example plans shipped with the repository (absent when installed from a wheel).
EXAMPLES_DIR = Path(__file__).resolve().parents[2] / "examples" / "plans"
EXAMPLES = {
    "borgerens-plan.json": "Borgerens Plan (JSON)",
    "borgerens-plan.yaml": "Borgerens Plan (YAML)",
    "plan-bundle.json": "FHIR Bundle med CarePlan",
}
_LINE = re.compile(r"linje (\d+)")
_TOO_LARGE = f"Planen er større end {MAX_BYTES:,} bytes og kan ikke valideres her.".replace(
    ",", "."
)


def examples() -> list[dict[str, str]]:
    """The example plans that exist here, for links on the page."""
    return [
        {"name": name, "title": title}
        for name, title in EXAMPLES.items()
        if (EXAMPLES_DIR / name).is_file()
    ]


def _media_for(name: str) -> str | None:
    lowered = name.lower()
    if lowered.endswith((".yaml", ".yml")):
        return "application/yaml"
    if lowered.endswith(".json"):
        return "application/json"
    return None


def _decode(data: bytes) -> str:
    return data.decode("utf-8", errors="replace").removeprefix("\ufeff")


def _result(report: Report, text: str) -> dict:
    """What the page shows for one report: summary, located findings, the listed text."""
    lines = text.splitlines()
    ctx: dict = {"report": report, "findings": [], "listing": None, "error_line": None}
    if report.input_error is not None:
        m = _LINE.search(report.input_error.location or "")
        ctx["error_line"] = int(m.group(1)) if m else None
        marks = {ctx["error_line"]: "error"} if ctx["error_line"] else {}
    else:
        ctx["findings"] = locate(report, text)
        marks = marked_lines(ctx["findings"])
    if lines and len(lines) <= MAX_LISTED_LINES:
        ctx["listing"] = [(n, line, marks.get(n)) for n, line in enumerate(lines, 1)]
    return ctx


def build_router() -> APIRouter:
    """The validate page and the example plans it links to."""
    r = APIRouter(include_in_schema=False)

    @r.get("/valider", response_class=HTMLResponse)
    def validate_form(request: Request, eksempel: str = "") -> HTMLResponse:
        text, notice = "", None
        if eksempel:
            if eksempel in EXAMPLES and (EXAMPLES_DIR / eksempel).is_file():
                text = (EXAMPLES_DIR / eksempel).read_text("utf-8")
            else:
                notice = f"Eksemplet »{eksempel[:100]}« findes ikke."
        return render(
            request,
            "validate.html",
            {"text": text, "examples": examples(), "notice": notice, "result": None},
        )

    @r.get("/valider/eksempler/{name}")
    def example_file(request: Request, name: str) -> Response:
        if name not in EXAMPLES or not (EXAMPLES_DIR / name).is_file():
            return render(request, "not_found.html", {"message": "Eksemplet findes ikke."}, 404)
        media = "application/yaml" if name.endswith(".yaml") else "application/json"
        return Response((EXAMPLES_DIR / name).read_bytes(), media_type=f"{media}; charset=utf-8")

    @r.post("/valider", response_class=HTMLResponse)
    async def validate_submit(request: Request) -> HTMLResponse:
        ctx: dict = {"examples": examples(), "notice": None, "result": None, "text": ""}
        try:
            form = await request.form(max_files=1, max_fields=5, max_part_size=MAX_BYTES)
        except HTTPException:  # Starlette's answer to a malformed or oversized multipart body
            ctx["notice"] = "Formularen kunne ikke læses (for stor eller ødelagt). " + _TOO_LARGE
            return render(request, "validate.html", ctx, status_code=400)
        upload = form.get("fil")
        data, source, media = b"", "indsat tekst", None
        if isinstance(upload, UploadFile) and upload.filename:
            data = await upload.read(MAX_BYTES + 1)
            source, media = upload.filename[:200], _media_for(upload.filename)
        else:
            pasted = form.get("plan")
            data = pasted.encode("utf-8") if isinstance(pasted, str) else b""
        await form.close()
        if not data.strip():
            ctx["notice"] = "Indsæt en plan i feltet eller vælg en fil."
            return render(request, "validate.html", ctx, status_code=400)
        if len(data) > MAX_BYTES:
            ctx["notice"] = _TOO_LARGE
            return render(request, "validate.html", ctx, status_code=413)
        from termserver.plans.validate import validate_bytes  # deferred for start-up time

        snapshot = request.app.state.holder.current
        report = await run_in_threadpool(validate_bytes, data, snapshot, source, media)
        text = _decode(data)
        ctx["text"] = text
        ctx["result"] = await run_in_threadpool(_result, report, text)
        return render(request, "validate.html", ctx)

    return r
