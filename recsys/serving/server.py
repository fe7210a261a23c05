"""What ``recsys serve`` runs: MLflow's own scoring app behind a cap on the request body.

MLflow's scoring server reads the whole body, then parses it, before the model
sees a row: a 200 MB ``image_base64`` costs the worker a gigabyte before the
model can refuse it. This ASGI middleware answers 413 from the
``Content-Length`` header alone, before a byte of the body is read, and counts a
body sent without one (chunked) as it arrives, refusing it at the cap.
"""

from __future__ import annotations

import json
import math

from recsys.data.images import max_image_bytes
from recsys.formats import mib_setting

MAX_BODY_MB_ENV = "RECSYS_SERVING_MAX_BODY_MB"
#: room for a request's JSON around its photos
JSON_OVERHEAD_MB = 1


def default_max_body_mb() -> int:
    """One photo at the image cap, base64 encoded (4/3 of its bytes), and the JSON around it."""
    return math.ceil(max_image_bytes() / 2**20 * 4 / 3) + JSON_OVERHEAD_MB


def max_body_bytes() -> int:
    """``RECSYS_SERVING_MAX_BODY_MB`` MiB, else :func:`default_max_body_mb`."""
    return mib_setting(MAX_BODY_MB_ENV, default_max_body_mb())


class BodyCap:
    """ASGI middleware: an HTTP request whose body is over ``max_bytes`` is answered
    413 (with MLflow's error JSON) and never reaches ``app``; one within it reaches
    ``app`` as sent."""

    def __init__(self, app, max_bytes: int):
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            return await self._refuse(send, f"{int(declared):,} bytes (its Content-Length)")
        body, size, more = [], 0, True
        while more:  # read up to the cap; the app gets the body as one message
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                return await self._refuse(send, f"over {self.max_bytes:,} bytes (sent without a length)")
            body.append(chunk)
            more = message.get("more_body", False)
        return await self.app(scope, _replay(b"".join(body), receive), send)

    async def _refuse(self, send, found: str):
        message = (f"request body of {found}: the cap is {self.max_bytes / 2**20:g} MiB "
                   f"({MAX_BODY_MB_ENV} or recsys serve --max-body-mb); send fewer rows or smaller photos per request")
        content = json.dumps({"error_code": "REQUEST_LIMIT_EXCEEDED", "message": message}).encode()
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(content)).encode()),
                                (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": content})


def scoring_app(model_folder: str, max_bytes: int):
    """MLflow's scoring app (what ``mlflow models serve`` runs) for the MLflow model in
    ``model_folder``, behind :class:`BodyCap`."""
    from mlflow.pyfunc import scoring_server

    return BodyCap(scoring_server.init(scoring_server.load_model_with_mlflow_config(model_folder)), max_bytes)


def _replay(body: bytes, receive):
    """A ``receive`` that gives the body read already, then waits on the connection (for its end)."""
    sent = False

    async def replay():
        nonlocal sent
        if sent:
            return await receive()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay
