"""The ceiling for stub inference on this machine: only the work a request needs, nothing else.

A bare FastAPI app under the same uvicorn as winnow: read the body, parse the
JSON, decode the base64, read the JPEG header (its size), answer an empty
prediction. No model, no routing of model ids, no collection. It parses and
answers with orjson and decodes with pybase64, as winnow does, so that the ceiling is not lower than the
fastest way to do that work. ``bench_versus``
runs it with ``python -m uvicorn ceiling_app:app --app-dir bench``.
"""

from __future__ import annotations

import uuid

import orjson
import pybase64
import simplejpeg
from fastapi import FastAPI, Request
from fastapi.responses import Response

app = FastAPI()


@app.post("/infer/object_detection")
async def infer(request: Request) -> Response:
    """Parse, decode, read the header: what any stub answer must do at the least."""
    body = orjson.loads(await request.body())
    data = pybase64.b64decode(body["image"]["value"], validate=True)
    height, width, _, _ = simplejpeg.decode_jpeg_header(data)
    answer = {
        "inference_id": str(uuid.uuid4()),
        "time": 0.0,
        "image": {"width": width, "height": height},
        "predictions": [],
    }
    return Response(orjson.dumps(answer), media_type="application/json")
