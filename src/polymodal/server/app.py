"""The FastAPI app: routes for every endpoint and built-in system, error statuses, the page."""
from __future__ import annotations

import asyncio
import json
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, JSONResponse, PlainTextResponse, StreamingResponse
from fastapi.staticfiles import StaticFiles

from ..core.errors import ModelNotFoundError, PolymodalError, TooLargeError
from ..core.files import parse_json
from ..core.version import __version__
from ..encoders import embedding_cache
from ..modalities import Audio
from ..native import worker
from ..native.worker import EngineCrashed
from ..systems.core import ItemResult, SystemStepError
from ..systems.definition import builtin_systems
from .batching import Batcher, QueueFull, run_isolated
from .config import ServerConfig
from .endpoints import ENDPOINTS, wav_base64
from .guard import BodyGuard
from .inputs import Field, checked, read_fields
from .metrics import Metrics
from .models import ModelPool
from .openai_chat import (
    RequestError,
    as_request_error,
    chunk,
    completion,
    completion_id,
    model_list,
    parse,
    usage_chunk,
)

STATIC = Path(__file__).parent / "static"
MAX_BATCHERS = 64       # past this many, idle ones are dropped
log = logging.getLogger("polymodal.server")


def status_of(error: BaseException) -> int:
    """The HTTP status for an error: the client's fault is 4xx, only a bug is 500."""
    if isinstance(error, TooLargeError):
        return 413
    if isinstance(error, ModelNotFoundError):
        return 404
    if isinstance(error, QueueFull):
        return 429
    if isinstance(error, TimeoutError):
        return 504
    if isinstance(error, PolymodalError):
        return 422 if type(error).__name__ == "SystemStepError" else 400
    return 500


def error_response(error: BaseException) -> JSONResponse:
    status = status_of(error)
    if isinstance(error, EngineCrashed):                # the service goes on: say what happened
        log.error("%s", error)
        return JSONResponse({"error": str(error)}, status)
    if status == 500:
        log.exception("internal error", exc_info=error)
        return JSONResponse({"error": f"internal error ({type(error).__name__}); see the server log"}, status)
    if status == 504:
        return JSONResponse({"error": "the request took longer than the server's timeout"}, status)
    return JSONResponse({"error": " ".join(str(error).split())}, status)


def request_body(fields: tuple[Field, ...]) -> dict:
    """OpenAPI requestBody: the same fields as multipart/form-data or JSON."""
    required = [f.name for f in fields if f.required]

    def schema(multipart):
        return {"type": "object", "properties": {f.name: f.schema(multipart) for f in fields},
                **({"required": required} if required else {}), "additionalProperties": False}
    return {"required": True, "content": {"multipart/form-data": {"schema": schema(True)},
                                          "application/json": {"schema": schema(False)}}}


ERRORS = {str(code): {"description": text, "content": {"application/json": {"schema": {
    "type": "object", "properties": {"error": {"type": "string"}}}}}} for code, text in (
    (400, "bad input: the message names the field and what is wrong"), (404, "no such model on this server"),
    (408, "the upload stalled"), (413, "an input over the server's limits"), (422, "a system step failed on this input"),
    (429, "too many waiting requests: retry later"), (504, "took longer than the server's timeout"))}


class Service:
    """What the routes share: config, models, batchers, metrics, the worker threads."""

    def __init__(self, config: ServerConfig):
        self.config = config
        self.pool = ModelPool(config.models, config.memory_budget_mb * 2**20,
                              {"vlm": {"listener": config.chat_listener}} if config.chat_listener else {})
        self.metrics = Metrics()
        self.executor = ThreadPoolExecutor(config.workers, thread_name_prefix="polymodal-batch")
        self.batchers: dict[tuple, Batcher] = {}

    def batcher(self, name: str, key: tuple, run_batch) -> Batcher:
        known = self.batchers.get((name, key))
        if known is None or known.loop is not asyncio.get_running_loop():    # a new loop: tests, restarts
            if len(self.batchers) >= MAX_BATCHERS:        # keys come from requests (a voice name...)
                self.batchers = {k: b for k, b in self.batchers.items() if not b.idle()}
            self.batchers[name, key] = Batcher(run_batch, self.executor, self.config.max_batch,
                                               self.config.max_wait_ms / 1000, self.config.max_queue,
                                               on_batch=lambda n: self.metrics.batch(name, n))
        return self.batchers[name, key]

    def decode(self, fields, raw: dict, prepare=None) -> dict:
        """Checked values of a request (images and audio decoded), off the event loop: a
        large PNG takes milliseconds that other requests would otherwise wait for."""
        values = checked(list(fields), raw, self.config)
        if prepare:
            prepare(values)
        return values

    async def answer(self, name: str, key: tuple | None, run_batch, values: dict) -> dict:
        """The request's result: through its batcher, or (key None: it cannot share a pass)
        on its own in the worker threads."""
        if key is None:
            loop = asyncio.get_running_loop()
            work = loop.run_in_executor(self.executor, run_isolated, run_batch, [values])
            result = (await asyncio.wait_for(work, self.config.request_timeout_s))[0]
            if isinstance(result, Exception):
                raise result
            return result
        return await asyncio.wait_for(self.batcher(name, key, run_batch).submit(values), self.config.request_timeout_s)


def add_endpoint(app: FastAPI, service: Service, name: str) -> None:
    endpoint = ENDPOINTS.get(name)

    async def handle(request: Request):
        try:
            raw = await read_fields(request, service.config.limits)
            values = await asyncio.to_thread(service.decode, endpoint.fields, raw, endpoint.prepare)
            result = await service.answer(name, endpoint.key(values), lambda batch: endpoint.run(service.pool, batch),
                                          values)
            return JSONResponse(result)
        except Exception as error:              # noqa: BLE001  (every error becomes a status)
            return error_response(error)
    app.post(f"/v1/{name}", summary=endpoint.summary, tags=["tasks"], name=name,
             openapi_extra={"requestBody": request_body(endpoint.fields)}, responses=ERRORS)(handle)


def system_fields(spec: dict) -> tuple[Field, ...]:
    kinds = {"image": "image", "audio": "audio", "text": "text"}
    return tuple(Field(name, kinds.get(modality, "text"), f"the system's input {name} ({modality})", required=True)
                 for name, modality in spec["inputs"].items())


def system_outputs(result) -> dict:
    if result.error:
        raise SystemStepError(result.error)
    return {name: wav_base64(v) if isinstance(v, Audio) else v for name, v in result.outputs.items()}


def add_system(app: FastAPI, service: Service, name: str, spec: dict) -> None:
    fields = system_fields(spec)

    def run_batch(batch):
        results = service.pool.system(name).run(batch)
        return [r if r.error else system_outputs(r) for r in results]

    async def handle(request: Request):
        try:
            raw = await read_fields(request, service.config.limits)
            values = await asyncio.to_thread(service.decode, fields, raw)
            result = await service.answer(f"system:{name}", (), run_batch, values)
            return JSONResponse(system_outputs(result) if isinstance(result, ItemResult) else result)
        except Exception as error:              # noqa: BLE001
            return error_response(error)
    app.post(f"/v1/systems/{name}", summary=spec.get("description", name), tags=["systems"], name=f"system-{name}",
             openapi_extra={"requestBody": request_body(fields)}, responses=ERRORS)(handle)


def chat_error(error: BaseException) -> JSONResponse:
    """An error of the OpenAI-compatible routes, as OpenAI's error object."""
    found = as_request_error(error) or (RequestError("too many waiting requests; retry later", status=429,
                                                     kind="rate_limit_error") if isinstance(error, QueueFull) else None)
    if found is None:
        response = error_response(error)            # 5xx: logged there, said briefly here
        message = parse_json(response.body, "error")["error"]
        return JSONResponse({"error": {"message": message, "type": "server_error", "param": None, "code": None}},
                            response.status_code)
    return JSONResponse(found.body(), found.status)


def sse(data: dict | str) -> str:
    """One server-sent event carrying a JSON object (or a word such as [DONE])."""
    return f"data: {data if isinstance(data, str) else json.dumps(data)}\n\n"


def add_chat(app: FastAPI, service: Service) -> None:
    """POST /v1/chat/completions (server/openai_chat.py): whole replies through the batcher,
    streamed ones token by token in the worker threads, between other batches."""

    def run_batch(batch):
        pipe = service.pool.get("vlm")
        replies = pipe.reply([r.messages for r in batch], batch[0].decoding)
        return [completion(r, reply, wav_base64(pipe.speak(reply.text, r.voice)) if r.speak else None)
                for r, reply in zip(batch, replies)]

    open_streams = [0]          # streams bypass the batcher's queue: they count against its bound here

    async def streamed(pipe, request) -> StreamingResponse:
        """Each piece is asked for in a worker thread (the first runs the recogniser and the
        prompt too); whenever the stream ends (its end, an error, the deadline, the client gone)
        it is closed, which stops the decoding, once the thread has handed its piece over."""
        if open_streams[0] >= service.config.max_queue:
            raise QueueFull
        open_streams[0] += 1
        loop = asyncio.get_running_loop()
        deadline = loop.time() + service.config.request_timeout_s
        pieces = pipe.stream(request.messages, request.decoding)
        state: dict = {"asked": None, "closed": False}

        async def following():
            left = deadline - loop.time()
            if left <= 0:
                raise TimeoutError
            state["asked"] = service.executor.submit(next, pieces, None)
            return await asyncio.wait_for(asyncio.wrap_future(state["asked"]), left)

        def close():
            if state["closed"]:
                return
            state["closed"] = True
            open_streams[0] -= 1
            if state["asked"] is None:
                pieces.close()
            else:     # closed in the thread that runs it, once that thread has handed its piece over
                state["asked"].add_done_callback(lambda _: pieces.close())
        try:
            first = await following()        # the request's errors come before the response starts: a 4xx
        except BaseException:
            close()
            raise
        ident = completion_id()

        async def events():
            yield sse(chunk(ident, request, {"role": "assistant", "content": ""}))
            piece = first
            try:
                while piece is not None:
                    if isinstance(piece, str):
                        yield sse(chunk(ident, request, {"content": piece}))
                    else:
                        yield sse(chunk(ident, request, {}, piece.finish))
                        if request.include_usage:
                            yield sse(usage_chunk(ident, request, piece))
                        break
                    piece = await following()
            except Exception as error:          # noqa: BLE001  (said in the stream: its status is sent)
                yield sse(parse_json(chat_error(error).body, "error"))
            finally:
                close()
            yield sse("[DONE]")
        return StreamingResponse(events(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})

    @app.post("/v1/chat/completions", tags=["openai"], summary="OpenAI-compatible chat with the vision-language model")
    async def chat_completions(request: Request):
        try:
            try:
                body = parse_json(await request.body(), "request body")
            except PolymodalError as e:
                raise RequestError(str(e)) from None
            served = service.pool.name("vlm")
            pipe = await asyncio.to_thread(service.pool.get, "vlm")
            chat = await asyncio.to_thread(parse, body, served, service.config, pipe.hears)
            if chat.stream:
                return await streamed(pipe, chat)
            return JSONResponse(await service.answer("chat", chat.decoding.key + (chat.speak, chat.voice),
                                                     run_batch, chat))
        except Exception as error:              # noqa: BLE001  (every error becomes OpenAI's error object)
            return chat_error(error)


def create_app(config: ServerConfig | None = None):
    """The ASGI app (FastAPI inside a guard that bounds request bodies)."""
    config = config or ServerConfig()
    worker.contain(config.contain_engines, config.request_timeout_s)
    embedding_cache.keep_new(False)              # clients' inputs are unbounded: use the cache, add nothing
    service = Service(config)
    app = FastAPI(title="polymodal", version=__version__,
                  description="Multimodal tasks and systems over images, text and audio. Every task endpoint "
                              "takes multipart/form-data (files as uploads) or JSON (files as base64).")
    app.state.service = service

    @app.middleware("http")
    async def count(request: Request, call_next):
        start = time.perf_counter()
        response = await call_next(request)
        route = request.scope.get("route")
        service.metrics.request(getattr(route, "path", "other"), response.status_code, time.perf_counter() - start)
        return response

    for name in ENDPOINTS.names():
        add_endpoint(app, service, name)
    add_chat(app, service)
    systems = builtin_systems()
    for name, spec in systems.items():
        add_system(app, service, name, spec)

    @app.get("/health", tags=["service"])
    def health():
        return {"status": "ok", "uptime_s": round(time.time() - service.metrics.started, 1),
                "models_loaded": list(service.pool.loaded)}

    @app.get("/metrics", tags=["service"], response_class=PlainTextResponse)
    def metrics():
        return service.metrics.text(service.pool.describe())

    @app.get("/v1/models", tags=["openai"])
    def models():
        return model_list(service.pool)

    @app.get("/v1/pool", tags=["service"])
    def pool():
        return service.pool.describe()

    @app.get("/v1/systems", tags=["service"])
    def systems_list():
        return {name: {"description": spec.get("description", ""), "inputs": spec["inputs"],
                       "outputs": spec["outputs"]} for name, spec in systems.items()}

    @app.get("/", include_in_schema=False)
    def page():
        return FileResponse(STATIC / "index.html")

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    body_limit = config.max_upload_bytes * 4 // 3 + 2**16      # base64 and multipart framing on top
    guarded = BodyGuard(app, body_limit, config.body_timeout_s)
    guarded.state = app.state
    guarded.openapi = app.openapi
    return guarded


