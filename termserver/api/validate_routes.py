"""Plan validation over HTTP.

``POST /fhir/Bundle/$validate`` takes a FHIR Bundle (or a ``Parameters`` with a ``resource``) and
answers an OperationOutcome; ``POST /api/validate`` takes a native "Borgerens Plan" (JSON or YAML
by Content-Type; a Bundle is accepted too) and answers a JSON report; ``POST /api/validate/ndjson``
takes NDJSON and answers NDJSON, one report per line, streamed as each plan is done.

Bodies are capped (10 MB → 413) while they are read; parsing and rules run in plain ``def``
handlers, so FastAPI puts the CPU work on its thread pool instead of the event loop.
"""

from __future__ import annotations

from collections.abc import Iterator

import orjson
from fastapi import APIRouter, Depends, Request
from starlette.concurrency import iterate_in_threadpool
from starlette.responses import StreamingResponse

from termserver.api.responses import FhirResponse, JsonResponse
from termserver.fhir.outcome import FhirError
from termserver.plans.inputs import MAX_BYTES, PlanInputError, parse_any, parse_json
from termserver.plans.model import FHIR

# The rules (termserver.plans.validate, .report) are imported by the handlers, at the first
# validation: the server's start-up does not wait for them.

_TOO_LARGE = (
    f"forespørgslens indhold er større end {MAX_BYTES:,} bytes "
    f"(request body larger than {MAX_BYTES:,} bytes)"
)


async def _body(request: Request) -> bytes:
    """The request body, read on the event loop with the size cap enforced while it streams."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > MAX_BYTES:
        raise FhirError(413, "too-costly", _TOO_LARGE)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BYTES:
            raise FhirError(413, "too-costly", _TOO_LARGE)
        chunks.append(chunk)
    body = b"".join(chunks)
    if not body.strip():
        raise FhirError(400, "invalid", "forespørgslen har intet indhold (empty request body)")
    return body


def _input_error(exc: PlanInputError) -> FhirError:
    code = "too-costly" if exc.status == 413 else ("processing" if exc.status == 422 else "invalid")
    if exc.location and exc.location.startswith(("linje", "byte")):
        # A place in the text, not an element: say it in the message, not as a FHIRPath.
        return FhirError(exc.status, code, f"{exc.location}: {exc.message}")
    return FhirError(exc.status, code, exc.message, exc.location)


def build_router() -> APIRouter:
    """The validation routes; the snapshot is read from ``request.app.state.holder`` per request."""
    router = APIRouter()

    @router.post("/fhir/Bundle/$validate", tags=["validate"], response_class=FhirResponse)
    def validate_bundle(request: Request, body: bytes = Depends(_body)) -> FhirResponse:
        """Validér en plan som FHIR Bundle (eller Parameters med 'resource'): OperationOutcome."""
        from termserver.plans.report import to_operation_outcome
        from termserver.plans.validate import unwrap, validate_document

        snapshot = request.app.state.holder.current
        try:
            doc = parse_json(body, "body")
            fmt, _ = unwrap(doc, "body")
        except PlanInputError as exc:
            raise _input_error(exc) from None
        if fmt != FHIR:
            raise FhirError(
                422,
                "processing",
                "forventede et FHIR Bundle; brug POST /api/validate til Borgerens Plan "
                "(expected a FHIR Bundle)",
                "resourceType",
            )
        report = validate_document(doc, snapshot, "body")
        if report.input_error is not None:
            raise _input_error(report.input_error)
        return FhirResponse(to_operation_outcome(report))

    @router.post("/api/validate", tags=["validate"], response_class=JsonResponse)
    def validate_native(request: Request, body: bytes = Depends(_body)) -> JsonResponse:
        """Validér Borgerens Plan (JSON eller YAML efter Content-Type) eller et FHIR Bundle."""
        from termserver.plans.report import to_json
        from termserver.plans.validate import validate_document

        snapshot = request.app.state.holder.current
        media = request.headers.get("content-type", "")
        try:
            doc = parse_any(body, "body", media)
        except PlanInputError as exc:
            raise _input_error(exc) from None
        report = validate_document(doc, snapshot, "body")
        if report.input_error is not None:
            raise _input_error(report.input_error)
        return JsonResponse(to_json(report))

    @router.post("/api/validate/ndjson", tags=["validate"])
    def validate_bulk(request: Request, body: bytes = Depends(_body)) -> StreamingResponse:
        """Validér mange planer (NDJSON, én pr. linje); svarer NDJSON, én rapport pr. linje."""
        from termserver.plans.report import to_json
        from termserver.plans.validate import validate_ndjson

        snapshot = request.app.state.holder.current

        def lines() -> Iterator[bytes]:
            for report in validate_ndjson(body.splitlines(), snapshot, "body"):
                yield orjson.dumps(to_json(report)) + b"\n"

        return StreamingResponse(iterate_in_threadpool(lines()), media_type="application/x-ndjson")

    return router
