"""Reading a FHIR JSON request body: the one place that says what was wrong with it."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import Request

from termserver.api.responses import read_body
from termserver.fhir.outcome import FhirError, bad_request
from termserver.fhir.params import check_depth

JSON_TYPES = ("application/fhir+json", "application/json")


async def read_fhir_json(
    request: Request, *, expected: str, limit: int, type_required: bool = False
) -> Any:
    """The body as JSON: 415 unless JSON (or, without ``type_required``, unlabelled), 413 past
    ``limit`` bytes, 400 when empty, not JSON or nested deeper than any FHIR resource.

    ``expected`` names what the body should be ("a Parameters resource") in the messages.
    """
    ctype = request.headers.get("content-type")
    if (ctype is None and type_required) or (
        ctype is not None and ctype.split(";")[0].strip().lower() not in JSON_TYPES
    ):
        raise FhirError(
            415,
            "not-supported",
            f"unsupported content type {ctype!r}; send {expected} as application/fhir+json",
        )
    body = await read_body(request, limit, lambda m: FhirError(413, "too-costly", m))
    if not body.strip():
        raise bad_request(f"the request body is empty; expected {expected}")
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise bad_request(f"the request body is not valid JSON: {exc}") from None
    check_depth(doc)
    return doc
