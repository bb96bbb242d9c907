"""`polymodal serve` in a process of its own on loopback, for the benchmarks that load it."""
from __future__ import annotations

import subprocess
import sys
import time


def start_server(port: int, flags: list[str]) -> subprocess.Popen:
    """The server, started with `flags`, once its /health answers (or a RuntimeError with the
    end of its stderr)."""
    import httpx
    cmd = [sys.executable, "-m", "polymodal", "serve", "--port", str(port), *flags]
    server = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    for _ in range(600):
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return server
        except httpx.HTTPError:
            time.sleep(0.1)
    server.kill()
    raise RuntimeError(f"the server did not start: {server.stderr.read()[-2000:]}")
