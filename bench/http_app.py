"""The real app plus one bare endpoint, for bench_http.py only.

``/bench/constant`` returns a constant body the size of a real ``$lookup`` answer through the
same framework, middleware and response class: the physical limit our ``$lookup`` is compared to.
"""

from __future__ import annotations

import orjson
from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool

from termserver.api.app import create_app
from termserver.api.responses import FhirResponse
from termserver.api.state import build_snapshot
from termserver.fhir import codesystem_ops
from termserver.fhir.params import OperationParams

snapshot = build_snapshot()
app = create_app(snapshot)

_sample = codesystem_ops.lookup(
    snapshot.vocab,
    OperationParams.from_query(
        [("system", "urn:oid:1.2.208.176.2.22"), ("code", "885400cc-dd71-479e-8993-3fc48fdd6710")]
    ),
)
_size = len(orjson.dumps(_sample))
CONSTANT = {"resourceType": "Parameters", "parameter": [{"name": "pad", "valueString": ""}]}
CONSTANT["parameter"][0]["valueString"] = "x" * (_size - len(orjson.dumps(CONSTANT)))

router = APIRouter()


@router.get("/bench/constant")
async def constant() -> FhirResponse:
    return FhirResponse(CONSTANT)


@router.get("/bench/lookup-threadpool")
async def lookup_threadpool(request: Request) -> FhirResponse:
    """The real $lookup, run in the threadpool as the heavy operations are: its cost there."""
    params = OperationParams.from_query(request.query_params.multi_items())
    vocab = request.app.state.holder.current.vocab
    return FhirResponse(await run_in_threadpool(codesystem_ops.lookup, vocab, params))


app.include_router(router)
