"""Hypothesis strategies for requests whose media look real: images and audio that decode,
that are cut short, or that only pretend to be media; texts from the world's words or any
unicode; numbers in and out of range; multipart or JSON. Shared by tests/test_server.py and
benchmarks/fuzz_server.py."""
from __future__ import annotations

import base64
import io

import numpy as np
from hypothesis import strategies as st

WORDS = ["the", "a", "red", "green", "blue", "circle", "square", "triangle", "left", "of", "is", "there",
         "what", "shape", "make", "remove", "above", "below", "how", "many", "yellow", "gray", "orange"]


@st.composite
def image_bytes(draw) -> bytes:
    kind = draw(st.sampled_from(["png", "jpeg", "gif", "gray", "rgba", "truncated", "garbage", "empty-ish"]))
    w, h = draw(st.integers(1, 160)), draw(st.integers(1, 160))
    pixels = np.random.default_rng(draw(st.integers(0, 2**32 - 1))).integers(0, 256, (h, w, 4), dtype=np.uint8)
    if kind == "garbage":
        return draw(st.binary(min_size=1, max_size=600))
    if kind == "empty-ish":
        return b"\x89PNG\r\n\x1a\n"
    from PIL import Image
    picture = Image.fromarray(pixels[..., 0] if kind == "gray" else pixels if kind == "rgba" else pixels[..., :3])
    buf = io.BytesIO()
    picture.save(buf, format={"jpeg": "JPEG", "gif": "GIF"}.get(kind, "PNG"))
    data = buf.getvalue()
    return data[:draw(st.integers(8, max(9, len(data) - 1)))] if kind == "truncated" else data


@st.composite
def audio_bytes(draw) -> bytes:
    kind = draw(st.sampled_from(["wav", "flac", "stereo", "silence", "clipped", "truncated", "garbage", "header-only"]))
    if kind == "garbage":
        return draw(st.binary(min_size=1, max_size=600))
    import soundfile as sf
    rate = draw(st.sampled_from([8000, 11025, 16000, 22050, 44100, 48000]))
    n = int(rate * draw(st.floats(0.0, 2.0)))
    wave = np.random.default_rng(draw(st.integers(0, 2**32 - 1))).normal(0, 0.2, (n, 2 if kind == "stereo" else 1))
    if kind == "silence":
        wave[:] = 0
    if kind == "clipped":
        wave = np.clip(wave * 50, -1, 1)
    buf = io.BytesIO()
    sf.write(buf, wave.astype(np.float32), rate, format="FLAC" if kind == "flac" else "WAV",
             subtype="PCM_16")
    data = buf.getvalue()
    if kind == "header-only":
        return data[:44]
    return data[:draw(st.integers(4, max(5, len(data) - 1)))] if kind == "truncated" else data


texts = st.one_of(st.lists(st.sampled_from(WORDS), min_size=1, max_size=12).map(" ".join),
                  st.text(max_size=120), st.just(""))


@st.composite
def number_for(draw, field):
    """Mostly in the field's range (so requests reach the model), else anything."""
    low, high = field.low if field.low is not None else -100, field.high if field.high is not None else 100
    if draw(st.floats(0, 1)) < 0.7:
        valid = st.integers(int(low), min(int(high), int(low) + 8)) if field.kind == "int" else st.floats(low, high)
        return draw(valid)
    return draw(st.one_of(st.integers(-5, 10**6), st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=8)))


def value_for(field) -> st.SearchStrategy:
    if field.kind == "image":
        return image_bytes()
    if field.kind == "images":
        return st.lists(image_bytes(), max_size=4)
    if field.kind == "audio":
        return audio_bytes()
    if field.kind in ("int", "float"):
        return number_for(field)
    if field.kind == "list":
        return st.one_of(texts, st.lists(st.sampled_from(WORDS), max_size=5).map(", ".join))
    return texts


@st.composite
def request_for(draw, fields) -> dict:
    """Keyword arguments for TestClient.post: some of the fields (required ones usually
    there), sent as multipart or JSON, sometimes with an extra unknown field."""
    values = {}
    for f in fields:
        if draw(st.floats(0, 1)) < (0.9 if f.required else 0.5):
            values[f.name] = draw(value_for(f))
    if draw(st.floats(0, 1)) < 0.05:
        values["unexpected"] = "x"
    def is_files(v):
        return isinstance(v, bytes) or (isinstance(v, list) and v and all(isinstance(x, bytes) for x in v))

    def encoded(v):
        return base64.b64encode(v).decode() if isinstance(v, bytes) else [encoded(x) for x in v] if is_files(v) else v
    if draw(st.booleans()):
        files = [(k, ("upload", b)) for k, v in values.items() if is_files(v) for b in (v if isinstance(v, list) else [v])]
        data = {k: str(v) for k, v in values.items() if not is_files(v)}
        return {"files": files or None, "data": data or None} if files or data else {"data": {"_": ""}}
    return {"json": {k: encoded(v) for k, v in values.items() if not (isinstance(v, float) and not np.isfinite(v))}}
