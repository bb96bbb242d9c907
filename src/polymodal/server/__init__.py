"""The HTTP service: one endpoint per task and per system, dynamic batching, a web page.

    polymodal serve --port 8000            # then open http://127.0.0.1:8000/

`create_app(ServerConfig(...))` gives the ASGI app for tests or another server.
"""
from .app import create_app
from .config import ServerConfig

__all__ = ["ServerConfig", "create_app"]
