"""Request bodies -> checked values. Every endpoint takes the same fields two ways:
multipart/form-data (files as uploads) or JSON (files as base64 strings, data URLs too).
Anything wrong is an InputError naming the field, which the app answers with a 4xx."""
from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

from ..core import values
from ..core.errors import InputError
from ..core.files import parse_json
from ..modalities import Audio, Image, Video

KINDS = ("image", "images", "audio", "video", "text", "int", "float", "list")
MAX_FILES = 256         # images in one request (a search gallery)
VIDEO_FRAMES = 64       # an uploaded clip is kept as this many frames, at the centres of equal parts
                        # (with their times, so a model samples its own from them)


@dataclass(frozen=True)
class Field:
    name: str
    kind: str                   # one of KINDS; list: comma-separated text, or a JSON list of texts;
                                # images: the field repeated (multipart) or a JSON list of base64
    description: str
    required: bool = False
    default: object = None
    low: float | None = None    # bounds of an int or float
    high: float | None = None

    def schema(self, multipart: bool) -> dict:
        """This field in the OpenAPI schema of one content type."""
        if self.kind in ("image", "audio", "video", "images"):
            s = {"type": "string", "format": "binary"} if multipart else {"type": "string", "contentEncoding": "base64"}
            if self.kind == "images":
                s = {"type": "array", "items": s, "maxItems": MAX_FILES}
        elif self.kind in ("int", "float"):
            s = {"type": "integer" if self.kind == "int" else "number"}
            s.update({k: v for k, v in (("minimum", self.low), ("maximum", self.high)) if v is not None})
        elif self.kind == "list" and not multipart:
            s = {"oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]}
        else:
            s = {"type": "string"}
        if self.default is not None:
            s["default"] = self.default
        return {**s, "description": self.description}


async def read_fields(request, limits) -> dict:
    """The raw fields of a multipart or JSON body: name -> bytes (uploads) or text/JSON value."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind == "application/json":
        body = parse_json(await request.body(), "request body")
        if not isinstance(body, dict):
            raise InputError("request body: a JSON object of fields was expected")
        return body
    if kind in ("multipart/form-data", "application/x-www-form-urlencoded"):
        try:
            form = await request.form(max_files=MAX_FILES, max_fields=64, max_part_size=limits.max_file_bytes)
        except Exception as e:                  # noqa: BLE001  (python-multipart's errors vary by version)
            raise InputError(f"request body: not a readable form ({e})") from None
        fields: dict = {}
        for name, value in form.multi_items():
            value = await value.read() if hasattr(value, "read") else value
            if name not in fields:
                fields[name] = value
            elif isinstance(fields[name], list):        # a repeated field (a gallery): a list
                fields[name].append(value)
            else:
                fields[name] = [fields[name], value]
        return fields
    raise InputError(f"content type {kind or '(none)'!r}: send multipart/form-data or application/json")


def file_bytes(name: str, value) -> bytes:
    if isinstance(value, bytes):
        return value
    if not isinstance(value, str):
        raise InputError(f"field {name}: a file upload or a base64 string was expected")
    if value.startswith("data:"):
        value = value.partition(",")[2]          # a data URL: data:image/png;base64,....
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise InputError(f"field {name}: not valid base64") from None


def text_value(name: str, value, max_chars: int, empty: bool = False) -> str:
    if isinstance(value, bytes):
        try:
            value = value.decode("utf-8")
        except UnicodeDecodeError:
            raise InputError(f"field {name}: not UTF-8 text") from None
    return values.text(value, f"field {name}", max_chars, empty)


def number_value(f: Field, value, max_chars: int):
    if isinstance(value, bytes):
        value = text_value(f.name, value, max_chars)
    return values.number(value, f"field {f.name}", f.low, f.high, integer=f.kind == "int")


def list_value(f: Field, value, max_chars: int) -> list[str]:
    """Comma-separated text, a JSON list of texts, or (multipart) the field repeated."""
    if isinstance(value, list):
        items = [text_value(f.name, v, max_chars, empty=True) for v in value]
    else:
        items = text_value(f.name, value, max_chars).split(",")
    items = [v.strip() for v in items if v.strip()]
    if not items:
        raise InputError(f"field {f.name}: at least one item was expected")
    return items


def opened(f: Field, data: bytes, limits, name: str | None = None):
    """An Image, Audio or Video from uploaded bytes; its errors name the field, not '<bytes>'."""
    try:
        if f.kind == "video":
            return Video.open(data, limits, frames=VIDEO_FRAMES)
        return (Audio if f.kind == "audio" else Image).open(data, limits)
    except InputError as e:
        raise type(e)(f"field {name or f.name}: {str(e).removeprefix('<bytes>: ')}") from None


def checked(fields: list[Field], raw: dict, config) -> dict:
    """raw fields -> values by the endpoint's field list (unknown fields are refused)."""
    known = {f.name for f in fields}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise InputError(f"unknown field{'s' if len(unknown) > 1 else ''}: {', '.join(unknown)} "
                         f"(this endpoint takes {', '.join(sorted(known))})")
    out = {}
    for f in fields:
        value = raw.get(f.name)
        if value is None or value == "" or value == b"" or value == []:
            if f.required:
                raise InputError(f"field {f.name} is required: {f.description}")
            out[f.name] = f.default
        elif f.kind == "images":
            values = value if isinstance(value, list) else [value]
            if len(values) > MAX_FILES:
                raise InputError(f"field {f.name}: {len(values)} images, over the limit of {MAX_FILES}")
            out[f.name] = [opened(f, file_bytes(f"{f.name}[{i}]", v), config.limits, f"{f.name}[{i}]")
                           for i, v in enumerate(values)]
        elif f.kind == "list":
            out[f.name] = list_value(f, value, config.max_text_chars)
        elif isinstance(value, list):
            raise InputError(f"field {f.name}: given more than once")
        elif f.kind in ("image", "audio", "video"):
            out[f.name] = opened(f, file_bytes(f.name, value), config.limits)
        elif f.kind in ("int", "float"):
            out[f.name] = number_value(f, value, config.max_text_chars)
        else:
            out[f.name] = text_value(f.name, value, config.max_text_chars)
    return out
