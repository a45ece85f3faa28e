"""The raw HTTP limit: the smallest FastAPI + uvicorn app that answers a JSON POST with 202."""

from __future__ import annotations

import sys

import orjson
import uvicorn
from fastapi import FastAPI, Request, Response

app = FastAPI()


@app.post("/v1/feedback", status_code=202)
async def accept(request: Request) -> Response:
    """Parse the body and answer 202, doing nothing else."""
    orjson.loads(await request.body())
    return Response(b'{"id":"0"}', status_code=202, media_type="application/json")


if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning", access_log=False)
