"""The OpenAI-compatible chat API: `POST /v1/chat/completions` (and `GET /v1/models`, in app.py).

A request is read the way OpenAI's API reads it (messages whose content is a text or a list of
`text`, `image_url` and `input_audio` parts; max_tokens, temperature, top_p, stop, seed, n = 1,
stream with stream_options.include_usage; modalities ["text", "audio"] for a spoken reply), so
that OpenAI's own client works against `polymodal serve` unchanged. Differences, on purpose:
temperature defaults to 0 (greedy: small models answer best that way; OpenAI's default is 1);
an image is sent inside the request as a data URL (a local path only below the folder the
server was started with, `--files`; the server fetches nothing); a parameter polymodal does
not implement is refused (400) rather than ignored.

Every error is OpenAI's error object, `{"error": {"message", "type", "param", "code"}}`, with a
4xx status for anything the request did wrong. Replies to requests that may share a batch
(same decoding options, not streamed) go through the server's dynamic batcher.
"""
from __future__ import annotations

import base64
import binascii
import re
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from ..core import values
from ..core.chat import Decoding, Message, Part
from ..core.errors import InputError, ModelNotFoundError, PolymodalError, TooLargeError
from ..modalities import Audio, Image, as_array

DATA_URL = re.compile(r"^data:([\w.+/-]*)((?:;[\w.+-]+=[\w.+-]+)*);base64,(.*)$", re.DOTALL)
ROLES = {"system": "system", "developer": "system", "user": "user", "assistant": "assistant"}
TOP_KEYS = {"model", "messages", "max_tokens", "max_completion_tokens", "temperature", "top_p", "n", "stream",
            "stream_options", "stop", "seed", "modalities", "audio", "user", "beams"}
# accepted at their default value only (what OpenAI's clients may send without being asked)
DEFAULT_ONLY = {"frequency_penalty": 0, "presence_penalty": 0, "logprobs": False, "parallel_tool_calls": True}
AUDIO_FORMATS = ("wav",)


class RequestError(Exception):
    """A request OpenAI's API would refuse: its status and error object."""

    def __init__(self, message: str, param: str | None = None, status: int = 400, code: str | None = None,
                 kind: str = "invalid_request_error"):
        super().__init__(printable(message))
        self.status, self.param, self.code, self.kind = status, None if param is None else printable(param), code, kind

    def body(self) -> dict:
        return {"error": {"message": str(self), "type": self.kind, "param": self.param, "code": self.code}}


def printable(text: str) -> str:
    """Text that encodes as UTF-8: a request's key or value quoted in an error may hold an
    unpaired surrogate (valid JSON, not valid Unicode), which is written as its escape."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def as_request_error(error: BaseException) -> RequestError | None:
    """polymodal's own errors as OpenAI error objects (None: not the request's fault)."""
    if isinstance(error, RequestError):
        return error
    if isinstance(error, ModelNotFoundError):
        return RequestError(" ".join(str(error).split()), "model", 404, "model_not_found")
    if isinstance(error, PolymodalError):           # bad input, an input over a limit, a refused config
        return RequestError(" ".join(str(error).split()))
    return None


@dataclass
class ChatRequest:
    model: str
    messages: list[Message]
    decoding: Decoding
    stream: bool = False
    include_usage: bool = False
    speak: bool = False              # also say the reply (modalities includes "audio")
    voice: str | None = None


def parse(body: object, served: str, config, hears: bool) -> ChatRequest:
    """A request body (parsed JSON) -> checked values; a RequestError for anything wrong."""
    if not isinstance(body, dict):
        raise RequestError("the request body must be a JSON object")
    unknown = sorted(set(body) - TOP_KEYS - set(DEFAULT_ONLY))
    if unknown:
        raise RequestError(f"Unrecognized request argument supplied: {unknown[0]}", unknown[0])
    for key, default in DEFAULT_ONLY.items():
        if key in body and body[key] not in (default, None):
            raise RequestError(f"{key} is not supported by this server", key)
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise RequestError("you must provide a model parameter", "model")
    if model != served:
        raise RequestError(f"The model `{model}` does not exist; this server's chat model is `{served}`", "model",
                           404, "model_not_found")
    if body.get("n", 1) not in (1, None):
        raise RequestError("n: this server writes one choice per request", "n")
    stream = checked_bool(body.get("stream", False), "stream")
    options = body.get("stream_options") or {}
    if not isinstance(options, dict) or set(options) - {"include_usage"}:
        raise RequestError("stream_options: only include_usage is supported", "stream_options")
    speak, voice = spoken_reply(body)
    if speak and stream:
        raise RequestError("a spoken reply (modalities with audio) is not streamed: send stream false", "modalities")
    try:
        decoding = Decoding(max_new_tokens=first_given(body, "max_completion_tokens", "max_tokens", default=64),
                            temperature=given(body, "temperature", 0.0), top_p=given(body, "top_p", 1.0),
                            beams=given(body, "beams", 1), stop=stop_strings(body.get("stop")),
                            seed=body.get("seed"))
    except InputError as e:
        raise RequestError(str(e)) from None
    messages = [message(m, i, config, hears) for i, m in enumerate(checked_list(body.get("messages"), "messages"))]
    if not messages or messages[-1].role != "user":
        raise RequestError("messages: the last message must be the user's", "messages")
    return ChatRequest(model, messages, decoding, stream, bool(options.get("include_usage")), speak, voice)


def given(body: dict, key: str, default):
    value = body.get(key)
    return default if value is None else value


def first_given(body: dict, *keys: str, default):
    return next((body[k] for k in keys if body.get(k) is not None), default)


def checked_bool(value, name: str) -> bool:
    if not isinstance(value, bool):
        raise RequestError(f"{name}: true or false was expected", name)
    return value


def checked_list(value, name: str) -> list:
    if not isinstance(value, list) or not value:
        raise RequestError(f"{name}: a non-empty list was expected", name)
    return value


def stop_strings(value) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and all(isinstance(s, str) for s in value):
        return tuple(value)
    raise RequestError("stop: a string or a list of strings was expected", "stop")


def spoken_reply(body: dict) -> tuple[bool, str | None]:
    modalities = body.get("modalities") or ["text"]
    if (not isinstance(modalities, list) or not all(isinstance(m, str) for m in modalities)
            or not set(modalities) <= {"text", "audio"} or "text" not in modalities):
        raise RequestError('modalities: ["text"] or ["text", "audio"]', "modalities")
    if "audio" not in modalities:
        if body.get("audio") is not None:
            raise RequestError('audio: give it with modalities ["text", "audio"]', "audio")
        return False, None
    audio = body.get("audio") or {}
    if not isinstance(audio, dict) or set(audio) - {"voice", "format"}:
        raise RequestError("audio: an object with voice and format", "audio")
    if audio.get("format", "wav") not in AUDIO_FORMATS:
        raise RequestError(f"audio.format: this server writes {', '.join(AUDIO_FORMATS)}", "audio.format")
    voice = audio.get("voice")
    if voice is not None and not (isinstance(voice, str) and re.fullmatch(r"[\w.+-]{1,40}", voice)):
        raise RequestError("audio.voice: a voice name was expected", "audio.voice")
    return True, voice


def message(m, i: int, config, hears: bool) -> Message:
    where = f"messages[{i}]"
    if not isinstance(m, dict):
        raise RequestError(f"{where}: an object with role and content was expected", where)
    role = m.get("role")
    if not isinstance(role, str) or role not in ROLES:
        raise RequestError(f"{where}.role: {role!r} is not supported (system, developer, user, assistant)",
                           f"{where}.role")
    extra = sorted(set(m) - {"role", "content", "name"})
    if extra:
        raise RequestError(f"{where}: {extra[0]} is not supported", f"{where}.{extra[0]}")
    content = m.get("content")
    if isinstance(content, str):
        return Message(ROLES[role], [Part("text", text(content, f"{where}.content", config))])
    parts = [part(p, f"{where}.content[{j}]", config, hears, role) for j, p in
             enumerate(checked_list(content, f"{where}.content"))]
    return Message(ROLES[role], parts)


def text(value, where: str, config) -> str:
    try:       # OpenAI takes an empty content; a model reads it as no words
        return values.text(value, where, config.max_text_chars, empty=True)
    except InputError as e:
        raise RequestError(str(e), where) from None


def part(p, where: str, config, hears: bool, role: str) -> Part:
    if not isinstance(p, dict) or not isinstance(p.get("type"), str):
        raise RequestError(f"{where}: a content part with a type was expected", where)
    kind = p["type"]
    if kind == "text":
        return Part("text", text(p.get("text"), f"{where}.text", config))
    if role != "user":
        raise RequestError(f"{where}: a {role} message holds text parts only", where)
    if kind == "image_url":
        url = p.get("image_url")
        url = url.get("url") if isinstance(url, dict) else url
        if not isinstance(url, str):
            raise RequestError(f"{where}.image_url.url: a string was expected", f"{where}.image_url")
        return Part("image", as_array(opened(Image, image_bytes(url, where, config), where, config)))
    if kind == "input_audio":
        if not hears:
            raise RequestError(f"{where}: this model takes no audio", where, code="unsupported_content")
        audio = p.get("input_audio")
        if not isinstance(audio, dict) or not isinstance(audio.get("data"), str):
            raise RequestError(f"{where}.input_audio: an object with data (base64) and format was expected",
                               f"{where}.input_audio")
        return Part("audio", opened(Audio, decoded(audio["data"], f"{where}.input_audio.data"), where, config))
    raise RequestError(f"{where}.type: {kind!r} is not supported (text, image_url, input_audio)", f"{where}.type",
                       code="unsupported_content")


def image_bytes(url: str, where: str, config) -> bytes:
    """A data URL's bytes, or a local file's below the server's --files folder."""
    if url.startswith("data:"):
        found = DATA_URL.match(url)
        if not found:
            raise RequestError(f"{where}.image_url: a malformed data URL (data:<type>;base64,<data> was expected)",
                               f"{where}.image_url")
        return decoded(found.group(3), f"{where}.image_url")
    if re.match(r"^[a-z][a-z0-9+.-]*://", url) and not url.startswith("file://"):
        raise RequestError(f"{where}.image_url: this server fetches nothing; send the image as a data URL",
                           f"{where}.image_url")
    root = config.files_root
    if root is None:
        raise RequestError(f"{where}.image_url: local paths are read only by a server started with --files DIR; "
                           f"send the image as a data URL", f"{where}.image_url")
    path = (Path(root) / url.removeprefix("file://"))
    try:       # a name with NUL (ValueError) or too long for the file system (OSError) is no file
        path = path.resolve()
        found = path.is_relative_to(Path(root).resolve()) and path.is_file()
        size = path.stat().st_size if found else 0
    except (OSError, ValueError):
        found = False
    if not found:
        raise RequestError(f"{where}.image_url: no such file under the server's --files folder", f"{where}.image_url")
    if size > config.max_upload_bytes:
        raise RequestError(f"{where}.image_url: the file is over the limit of {config.max_upload_bytes} bytes",
                           f"{where}.image_url")
    return path.read_bytes()


def decoded(data: str, where: str) -> bytes:
    try:
        return base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise RequestError(f"{where}: not valid base64", where) from None


def opened(kind, data: bytes, where: str, config):
    try:
        return kind.open(data, config.limits)
    except (InputError, TooLargeError) as e:
        raise RequestError(f"{where}: {str(e).removeprefix('<bytes>: ')}", where) from None


# -- responses ----------------------------------------------------------------------------
def completion_id() -> str:
    return f"chatcmpl-{uuid.uuid4().hex}"


def usage(reply) -> dict:
    return {"prompt_tokens": reply.prompt_tokens, "completion_tokens": reply.completion_tokens,
            "total_tokens": reply.prompt_tokens + reply.completion_tokens}


def completion(request: ChatRequest, reply, spoken: str | None = None) -> dict:
    """The response to a request answered whole; spoken: the reply said, as base64 WAV."""
    said = None
    if spoken is not None:
        said = {"id": f"audio-{uuid.uuid4().hex}", "data": spoken,
                "expires_at": int(time.time()) + 3600, "transcript": reply.text}
    return {"id": completion_id(), "object": "chat.completion", "created": int(time.time()), "model": request.model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": reply.text,
                                                 **({"audio": said} if said else {})},
                         "finish_reason": reply.finish, "logprobs": None}],
            "usage": usage(reply)}


def chunk(ident: str, request: ChatRequest, delta: dict, finish: str | None = None) -> dict:
    return {"id": ident, "object": "chat.completion.chunk", "created": int(time.time()), "model": request.model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}]}


def usage_chunk(ident: str, request: ChatRequest, reply) -> dict:
    return {"id": ident, "object": "chat.completion.chunk", "created": int(time.time()), "model": request.model,
            "choices": [], "usage": usage(reply)}


def model_list(pool) -> dict:
    """GET /v1/models in OpenAI's shape; each model also says which tasks it serves here and
    whether it is loaded (the pool's budget is at /v1/pool)."""
    described = pool.describe()
    tasks_of: dict[str, list[str]] = {}
    for task, name in described["configured"].items():
        tasks_of.setdefault(name, []).append(task)
    loaded = described["loaded"]
    return {"object": "list", "data": [
        {"id": name, "object": "model", "created": 0, "owned_by": "polymodal", "tasks": tasks,
         "loaded": any(t in loaded for t in tasks)} for name, tasks in sorted(tasks_of.items())]}
