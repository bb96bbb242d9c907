"""ASGI middleware that reads each request body before the app sees it, so that an upload
over the size limit gets 413 without being stored, and a client that stalls mid-upload
gets 408 instead of holding a connection open forever."""
from __future__ import annotations

import asyncio
import json


async def send_error(send, status: int, message: str, openai: bool = False) -> None:
    """openai: as OpenAI's error object (the routes of server/openai_chat.py)."""
    error = {"message": message, "type": "invalid_request_error", "param": None, "code": None} if openai else message
    body = json.dumps({"error": error}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})


class BodyGuard:
    def __init__(self, app, max_bytes: int, chunk_timeout_s: float):
        self.app, self.max_bytes, self.chunk_timeout_s = app, max_bytes, chunk_timeout_s

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            return await self.app(scope, receive, send)
        openai = scope.get("path", "").startswith("/v1/chat/")
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            return await send_error(send, 413, f"request body is {int(declared)} bytes, over the limit of {self.max_bytes}", openai)
        chunks, size = [], 0
        while True:
            try:
                message = await asyncio.wait_for(receive(), self.chunk_timeout_s)
            except TimeoutError:
                return await send_error(send, 408, f"the request body stalled for over {self.chunk_timeout_s:g} s", openai)
            if message["type"] == "http.disconnect":
                return None                       # the client left: nothing to answer
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > self.max_bytes:
                return await send_error(send, 413, f"request body is over the limit of {self.max_bytes} bytes", openai)
            if not message.get("more_body", False):
                break
        body, replayed = b"".join(chunks), False

        async def replay():
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()
        return await self.app(scope, replay, send)
