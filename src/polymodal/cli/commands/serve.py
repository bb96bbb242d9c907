"""`polymodal serve`: the HTTP service (uvicorn) with its web page."""
from __future__ import annotations

import sys

import torch
import uvicorn

from ...server import ServerConfig, create_app
from .inputs import pairs


def serve(args) -> int:
    if args.threads:
        torch.set_num_threads(args.threads)
    config = ServerConfig(models=pairs(args.model, "--model"), max_batch=args.max_batch, max_wait_ms=args.max_wait_ms,
                          workers=args.workers, request_timeout_s=args.timeout,
                          max_upload_bytes=int(args.max_upload_mb * 2**20), max_pixels=args.max_pixels,
                          max_audio_seconds=args.max_audio_seconds, memory_budget_mb=args.memory_budget_mb)
    app = create_app(config)
    if args.preload:
        for task in sorted(config.models or app.state.service.pool.describe()["configured"]):
            try:
                app.state.service.pool.get(task)
            except Exception as e:              # noqa: BLE001  (a task without a model stays unavailable)
                print(f"polymodal serve: {task} not loaded: {e}", file=sys.stderr)
    print(f"polymodal serve: http://{args.host}:{args.port}/  (API docs at /docs)", file=sys.stderr)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning", timeout_keep_alive=5)
    return 0
