"""Connections that hold a socket without a request are closed: one that sends nothing, one
that sends its headers a byte at a time, and an idle keep-alive one (`serve --header-timeout`,
`--keep-alive`)."""
import socket
import time

import pytest
from server_fixture import live_server

from polymodal.server import ServerConfig

TIMEOUT = 0.5


@pytest.fixture(scope="module")
def address():
    with live_server(ServerConfig(header_timeout_s=TIMEOUT, keep_alive_s=TIMEOUT)) as url:
        host, port = url.removeprefix("http://").split(":")
        yield host, int(port)


def closed_after(s: socket.socket, limit: float = 5.0) -> float:
    """Seconds until the server closes `s` (reading only); fails past `limit`."""
    start = time.perf_counter()
    s.settimeout(limit)
    try:
        while s.recv(4096):
            pass
    except socket.timeout:
        pytest.fail(f"the connection was still open after {limit} s")
    except ConnectionResetError:
        pass
    return time.perf_counter() - start


def test_a_connection_that_sends_nothing_is_closed(address):
    with socket.create_connection(address) as s:
        assert TIMEOUT * 0.8 < closed_after(s) < TIMEOUT + 2


def test_headers_sent_a_byte_at_a_time_are_cut_off(address):
    with socket.create_connection(address) as s:
        start = time.perf_counter()
        with pytest.raises(OSError):            # the server closes it while the bytes still trickle in
            for byte in b"GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 1000:
                s.sendall(bytes([byte]))
                time.sleep(0.05)
        assert time.perf_counter() - start < TIMEOUT + 3


def test_an_idle_keep_alive_connection_is_closed_after_its_response(address):
    with socket.create_connection(address) as s:
        s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        s.settimeout(5)
        assert s.recv(4096).startswith(b"HTTP/1.1 200")
        assert closed_after(s) < TIMEOUT + 2


def test_a_request_within_the_deadlines_is_answered(address):
    with socket.create_connection(address) as s:
        s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        s.settimeout(5)
        assert s.recv(4096).startswith(b"HTTP/1.1 200")
