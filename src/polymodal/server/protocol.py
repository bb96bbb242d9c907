"""How the service runs on uvicorn: its HTTP protocol with a deadline for each request's
headers, beside uvicorn's own timeout for idle keep-alive connections.

uvicorn closes a keep-alive connection that stays idle after a response, but a connection
that opens and never sends a request, or sends its headers a byte at a time, is otherwise
held for ever: each one holds a socket, and enough of them exhaust the server's."""
from __future__ import annotations

import asyncio

import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol


class HeaderDeadlineProtocol(H11Protocol):
    """uvicorn's h11 protocol, closing a connection whose next request's headers have not all
    arrived `header_timeout` seconds after it opened or after its last response."""

    header_timeout = 10.0

    def connection_made(self, transport: asyncio.Transport) -> None:
        super().connection_made(transport)
        self.header_deadline: asyncio.TimerHandle | None = None
        self.arm()

    def arm(self) -> None:
        self.disarm()
        self.header_deadline = self.loop.call_later(self.header_timeout, self.headers_overdue)

    def disarm(self) -> None:
        if self.header_deadline is not None:
            self.header_deadline.cancel()
            self.header_deadline = None

    def data_received(self, data: bytes) -> None:
        cycle = self.cycle
        super().data_received(data)
        if self.cycle is not cycle:          # a request's headers are complete: its body has its own guard
            self.disarm()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self.arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self.disarm()
        super().connection_lost(exc)

    def headers_overdue(self) -> None:
        self.header_deadline = None
        if (self.cycle is None or self.cycle.response_complete) and not self.transport.is_closing():
            self.transport.close()


def uvicorn_config(app, host: str, port: int, header_timeout_s: float, keep_alive_s: float) -> uvicorn.Config:
    """The uvicorn settings polymodal serves with (`polymodal serve`, the tests' live server)."""
    protocol = type("ServedProtocol", (HeaderDeadlineProtocol,), {"header_timeout": header_timeout_s})
    return uvicorn.Config(app, host=host, port=port, http=protocol, timeout_keep_alive=keep_alive_s,
                          log_level="warning")
