"""Fast JSON responses: orjson bytes straight into the response, no model validation."""

from __future__ import annotations

from typing import Any

import orjson
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
