"""HTTP plumbing shared by the routers: fast orjson responses and bounded request bodies."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

FHIR_JSON = "application/fhir+json"


class FhirResponse(Response):
    """A FHIR JSON response."""

    media_type = FHIR_JSON

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


class JsonResponse(Response):
    """A plain JSON response rendered with orjson."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


async def read_body(request: Request, limit: int, too_large: Callable[[str], Exception]) -> bytes:
    """The request body, refused with ``too_large(message)`` as soon as it passes ``limit`` bytes.

    The declared Content-Length is checked first and the stream is counted as it arrives, so an
    oversized body is never held in memory whole.
    """
    message = f"the request body is larger than {limit} bytes"
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise too_large(message)
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise too_large(message)
    return bytes(body)
