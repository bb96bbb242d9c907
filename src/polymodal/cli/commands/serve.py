"""`polymodal serve`: the HTTP service (uvicorn) with its web page."""
from __future__ import annotations

import socket
import sys
from pathlib import Path

import torch
import uvicorn

from ...core.errors import InputError
from ...server import ServerConfig, create_app
from ...server.protocol import uvicorn_config
from .inputs import pairs


def serve(args) -> int:
    if args.threads:
        torch.set_num_threads(args.threads)
    config = ServerConfig(models=pairs(args.model, "--model"), max_batch=args.max_batch, max_wait_ms=args.max_wait_ms,
                          workers=args.workers, request_timeout_s=args.timeout,
                          max_upload_bytes=int(args.max_upload_mb * 2**20), max_pixels=args.max_pixels,
                          max_audio_seconds=args.max_audio_seconds,
                          max_video_seconds=args.max_video_seconds, memory_budget_mb=args.memory_budget_mb,
                          header_timeout_s=args.header_timeout, keep_alive_s=args.keep_alive,
                          contain_engines=not args.engines_in_process, chat_listener=args.listen,
                          files_root=checked_folder(args.files))
    check_address(args.host, args.port)              # before any model loads, and before saying where it serves
    app = create_app(config)
    if args.preload:
        for task in sorted(config.models or app.state.service.pool.describe()["configured"]):
            try:
                app.state.service.pool.get(task)
            except Exception as e:              # noqa: BLE001  (a task without a model stays unavailable)
                print(f"polymodal serve: {task} not loaded: {e}", file=sys.stderr)
    print(f"polymodal serve: http://{args.host}:{args.port}/  (API docs at /docs)", file=sys.stderr)
    uvicorn.Server(uvicorn_config(app, args.host, args.port, config.header_timeout_s, config.keep_alive_s)).run()
    return 0


def checked_folder(folder: str | None) -> str | None:
    if folder is not None and not Path(folder).expanduser().is_dir():
        raise InputError(f"--files {folder}: no such folder")
    return None if folder is None else str(Path(folder).expanduser().resolve())


def check_address(host: str, port: int) -> None:
    """The address can be served on: a host that does not resolve, a port taken or not ours
    is one line naming the address, and exit 2."""
    try:
        with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((host, port))
    except (OSError, UnicodeError) as e:
        raise InputError(f"--host {host} --port {port}: cannot serve there ({getattr(e, 'strerror', None) or e})") from None
