"""MLflow's scoring server behind a guard for what a model cannot check (``recloop serve``).

MLflow's scoring server (FastAPI, ``mlflow.pyfunc.scoring_server``) reads and parses the
whole request body before the model sees it and has no size limit, answers a request
without a ``Content-Type`` header with 500 (it splits ``None``), and writes the request
back into its own error messages (invalid JSON: the whole body). :class:`RequestGuard`
is a plain ASGI wrapper around that same app:

- a body over ``max_body_bytes`` gets 413 without being parsed: at once when
  ``Content-Length`` says so, else as soon as the streamed body passes the limit;
- ``POST /invocations`` without ``Content-Type`` gets 400 instead of 500;
- an error body (4xx/5xx JSON) is rewritten to a short fixed message chosen by the start
  of MLflow's message (the request's data only ever follows that start), with no stack
  trace; the model's own refusals (``RequestRejected``) pass through unchanged.

Everything else (``/ping``, ``/health``, ``/version``, successful answers) is untouched.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

INVOCATIONS = "/invocations"
# error_class of the model's own refusals (pyfunc_model.RequestRejected): short already.
REJECTED_ERROR_CLASS = "RECLOOP_REQUEST_REJECTED"
CONTENT_TYPES = "application/json, text/csv or application/vnd.apache.parquet"
REQUEST_FORMAT = (
    'JSON like {"dataframe_records": [{"history": [item ids]}], '
    '"params": {"k": 10, "diversity_lambda": 0.7, "exclude": [item ids]}}'
)
# The start of each of MLflow's scoring-server messages -> what the client is told.
MLFLOW_MESSAGES = [
    ("Invalid input. Ensure that input is a valid JSON", "the body is not valid JSON"),
    ("Invalid input. Ensure that input is a valid UTF-8", "the body is not valid UTF-8"),
    ("Invalid input. Data is not compatible with model signature", None),  # see _column_error
    ("The input must be a JSON dictionary", f"the body must be {REQUEST_FORMAT}"),
    ("Failed to parse input as a Pandas DataFrame", "the body is not a readable table"),
    ("Failed to predict data", None),  # see _predict_error
    ("Encountered an unexpected error", "the model failed on this input"),
]
FALLBACK = f"the request does not fit the model's input: send {REQUEST_FORMAT}"


def short_error(message: str) -> str:
    """A short message for one of MLflow's error messages, never containing request data."""
    for start, answer in MLFLOW_MESSAGES:
        if message.startswith(start):
            if start.startswith("Invalid input. Data is not"):
                return _column_error(message)
            if start.startswith("Failed to predict"):
                return _predict_error(message)
            return answer
    return FALLBACK


def _column_error(message: str) -> str:
    """'... Failed to convert column history to type 'Array(long)'. Error: <data>'."""
    marker = "Failed to convert column "
    column = message.partition(marker)[2].split(" ", 1)[0] if marker in message else ""
    if column.isidentifier():  # a name from the model's schema, not from the request
        return f"column {column!r} does not have the type of the model's input schema"
    return "the rows do not match the model's input schema"


def _predict_error(message: str) -> str:
    """MLflow wraps schema and param checks as "Failed to predict data '<data>'. Error: ..."."""
    if "Invalid parameters found" in message:
        return "params must be k (integer), diversity_lambda (number), exclude (item ids)"
    if "Model is missing inputs" in message:
        return "the rows need a 'history' column of item-id lists"
    return "the rows do not match the model's input schema"


class RequestGuard:
    """ASGI middleware: body size limit, required Content-Type, short error bodies.

    Args:
        app: MLflow's scoring app (``mlflow.pyfunc.scoring_server.init(model)``).
        max_body_bytes: the largest request body read.
    """

    def __init__(self, app: ASGIApp, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != INVOCATIONS:
            await self.app(scope, receive, send)
            return
        headers = {k.lower(): v for k, v in scope.get("headers", [])}
        if not headers.get(b"content-type", b"").strip():
            await _reply(send, 400, f"a Content-Type header is required ({CONTENT_TYPES})")
            return
        length = headers.get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_body_bytes):
            await _reply(send, 413, self._too_large())
            return
        body = await self._read_body(receive)
        if body is None:
            await _reply(send, 413, self._too_large())
            return
        await self.app(scope, _replay(body, receive), _ShortErrors(send))

    def _too_large(self) -> str:
        return f"the body is larger than {self.max_body_bytes} bytes (the serving limit)"

    async def _read_body(self, receive: Receive) -> bytes | None:
        """The whole body, or None once it passes the limit (the rest is not read)."""
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return b"".join(chunks)
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                return None
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that hands the app the body already read, then the real stream."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


class _ShortErrors:
    """Wraps ``send``: error responses get a short JSON body instead of MLflow's."""

    def __init__(self, send: Send) -> None:
        self.send = send
        self.start: Message | None = None
        self.chunks: list[bytes] = []

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start" and message["status"] >= 400:
            self.start = message
            return
        if self.start is None:
            await self.send(message)
            return
        self.chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            status = self.start["status"]
            await _reply(self.send, status, _rewrite(status, b"".join(self.chunks)))


def _rewrite(status: int, body: bytes) -> str:
    """The short message for an error body (the model's own refusals are kept)."""
    try:
        error = json.loads(body)
    except ValueError:
        error = None
    if isinstance(error, dict) and isinstance(error.get("message"), str):
        if error.get("error_class") == REJECTED_ERROR_CLASS:
            return error["message"]
        return short_error(error["message"])
    # MLflow's plain-text answers: 415 repeats the Content-Type header, 504 is a timeout.
    return {
        415: f"Content-Type must be {CONTENT_TYPES} (charset utf-8)",
        500: "the model server failed on this request",
        504: "the request took longer than the server's time limit",
    }.get(status, FALLBACK)


async def _reply(send: Send, status: int, message: str) -> None:
    code = {413: "REQUEST_LIMIT_EXCEEDED", 415: "BAD_REQUEST"}.get(
        status, "INTERNAL_ERROR" if status >= 500 else "BAD_REQUEST"
    )
    body = json.dumps({"error_code": code, "message": message}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def guarded_scoring_app(model: Any, max_body_bytes: int) -> ASGIApp:
    """MLflow's scoring app for a loaded pyfunc ``model``, behind :class:`RequestGuard`."""
    from mlflow.pyfunc import scoring_server

    return RequestGuard(scoring_server.init(model), max_body_bytes)
