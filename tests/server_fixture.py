"""A real polymodal server on a free loopback port, run by uvicorn in a thread (for the
browser test and the load benchmark; API tests use TestClient instead)."""
from __future__ import annotations

import contextlib
import socket
import threading
import time


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def live_server(config=None):
    import httpx
    import uvicorn

    from polymodal.server import ServerConfig, create_app
    from polymodal.server.protocol import uvicorn_config
    port = free_port()
    config = config or ServerConfig()
    server = uvicorn.Server(uvicorn_config(create_app(config), "127.0.0.1", port, config.header_timeout_s,
                                           config.keep_alive_s))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    for _ in range(200):
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                break
        time.sleep(0.05)
    try:
        yield url
    finally:
        server.should_exit = True
        thread.join(10)
