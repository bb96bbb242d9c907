"""Hypothesis strategies for requests to the HTTP service: media that decode, that are cut
short, that only pretend to be media or whose headers lie (a WAV claiming 2 GHz, a PNG
claiming 100,000 x 100,000); texts from the world's words, any Unicode including unpaired
surrogates and NUL, blank or 100,000 characters long; numbers in range, or NaN, Infinity,
huge, negative, words, booleans; any field nested 100,000 deep; multipart or JSON written as
a hostile client writes it. Shared by tests/test_server.py and benchmarks/fuzz_server.py."""
from __future__ import annotations

import base64
import io
import json

import numpy as np
from bad_inputs.files import nested, png_claiming, wav_claiming
from hypothesis import strategies as st

WORDS = ["the", "a", "red", "green", "blue", "circle", "square", "triangle", "left", "of", "is", "there",
         "what", "shape", "make", "remove", "above", "below", "how", "many", "yellow", "gray", "orange"]


@st.composite
def image_bytes(draw) -> bytes:
    kind = draw(st.sampled_from(["png", "jpeg", "gif", "gray", "rgba", "truncated", "garbage", "empty-ish", "lying"]))
    if kind == "lying":
        return png_claiming(draw(st.integers(0, 2**31 - 1)), draw(st.integers(0, 2**31 - 1)))
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
    kind = draw(st.sampled_from(["wav", "flac", "mp3", "stereo", "silence", "clipped", "truncated", "mp3-cut",
                                 "garbage", "header-only", "lying"]))
    if kind == "garbage":
        return draw(st.binary(min_size=1, max_size=600))
    if kind == "lying":
        return wav_claiming(draw(st.one_of(st.integers(0, 2**32 - 1), st.sampled_from([1, 999_983, 2_000_000_011]))),
                            draw(st.integers(0, 8000)))
    import soundfile as sf
    rate = draw(st.sampled_from([8000, 11025, 16000, 22050, 44100, 48000]))
    n = int(rate * draw(st.floats(0.0, 2.0)))
    wave = np.random.default_rng(draw(st.integers(0, 2**32 - 1))).normal(0, 0.2, (n, 2 if kind == "stereo" else 1))
    if kind == "silence":
        wave[:] = 0
    if kind == "clipped":
        wave = np.clip(wave * 50, -1, 1)
    buf = io.BytesIO()
    if kind.startswith("mp3"):                 # decoded by FFmpeg (modalities/audio.py)
        sf.write(buf, np.clip(wave, -1, 1).astype(np.float32), rate, format="MP3")
    else:
        sf.write(buf, wave.astype(np.float32), rate, format="FLAC" if kind == "flac" else "WAV", subtype="PCM_16")
    data = buf.getvalue()
    if kind == "mp3-cut":
        return data[:draw(st.integers(1, max(2, len(data) - 1)))]
    if kind == "header-only":
        return data[:44]
    return data[:draw(st.integers(4, max(5, len(data) - 1)))] if kind == "truncated" else data


any_unicode = st.text(alphabet=st.characters(exclude_categories=()), max_size=120)     # surrogates included
texts = st.one_of(st.lists(st.sampled_from(WORDS), min_size=1, max_size=12).map(" ".join), any_unicode,
                  st.sampled_from(["", " ", " \t\n", "a\x00b", "\ud800", "en-us+m3", "en-us+" + "a" * 40, "klingon"]),
                  st.integers(1_000, 100_000).map(lambda n: "x" * n))


@st.composite
def number_for(draw, field):
    """Mostly in the field's range (so requests reach the model), else anything (as a JSON
    literal: NaN and Infinity as a hostile client writes them)."""
    low, high = field.low if field.low is not None else -100, field.high if field.high is not None else 100
    if draw(st.floats(0, 1)) < 0.6:
        valid = st.integers(int(low), min(int(high), int(low) + 8)) if field.kind == "int" else st.floats(low, high)
        return draw(valid)
    return Literal(draw(st.one_of(
        st.sampled_from(["NaN", "Infinity", "-Infinity", "1e309", "-1e309", str(2**70), "-1", "true", "null", "[]",
                         "{}", '"ten"', '""', "1.5", "0"]),
        st.integers(-2**64, 2**64).map(str), st.floats(allow_nan=False, allow_infinity=False).map(repr))))


class Literal(str):
    """A value already written as JSON (NaN, 1e309, a nested list...), sent as it is."""


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
        return st.one_of(texts, st.lists(st.sampled_from(WORDS), max_size=5).map(", ".join),
                         st.lists(texts, max_size=4))
    return texts


def json_literal(value) -> str:
    """A value as JSON text: bytes as base64, unpaired surrogates as \\ud800 escapes."""
    if isinstance(value, Literal):
        return value
    if isinstance(value, bytes):
        return json.dumps(base64.b64encode(value).decode())
    if isinstance(value, list):
        return "[" + ", ".join(json_literal(v) for v in value) + "]"
    return json.dumps(value)            # ensure_ascii: a surrogate becomes an escape, as a client may send


@st.composite
def request_for(draw, fields) -> dict:
    """Keyword arguments for a POST: some of the fields (required ones usually there), as
    multipart or JSON, sometimes with an unknown field or one field nested 100,000 deep."""
    values = {}
    for f in fields:
        if draw(st.floats(0, 1)) < (0.9 if f.required else 0.5):
            values[f.name] = draw(value_for(f))
    if draw(st.floats(0, 1)) < 0.05:
        values["unexpected"] = "x"
    if values and draw(st.floats(0, 1)) < 0.05:
        values[draw(st.sampled_from(sorted(values)))] = Literal(nested(draw(st.sampled_from([50, 2000, 100_000]))))

    def is_files(v):
        return isinstance(v, bytes) or (isinstance(v, list) and v and all(isinstance(x, bytes) for x in v))
    if draw(st.booleans()) and not any(isinstance(v, Literal) for v in values.values()):
        files = [(k, ("upload", b)) for k, v in values.items() if is_files(v) for b in (v if isinstance(v, list) else [v])]
        for k, v in values.items():
            if not is_files(v):
                for item in v if isinstance(v, list) else [v]:
                    files.append((k, (None, str(item).encode("utf-8", "surrogatepass"))))
        return {"files": files} if files else {"data": {"_": ""}}
    body = "{" + ", ".join(f"{json.dumps(k)}: {json_literal(v)}" for k, v in values.items()) + "}"
    return {"content": body.encode("utf-8"), "headers": {"content-type": "application/json"}}


ANY_JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
                        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner,
                                                                                     max_size=3), max_leaves=8)


@st.composite
def chat_part(draw) -> object:
    """A content part of /v1/chat/completions as any client might send it: right, of an unknown
    type, with a data URL that is malformed or carries broken media, a path, a URL, or any JSON."""
    kind = draw(st.sampled_from(["text", "image", "audio", "unknown", "any"]))
    if kind == "text":
        return {"type": "text", "text": draw(st.sampled_from([" ".join(draw(st.lists(st.sampled_from(WORDS),
                                                                                       max_size=8))),
                                                                draw(st.text(max_size=40))]))}
    if kind == "image":
        url = draw(st.sampled_from(["data", "malformed", "path", "http"]))
        data = base64.b64encode(draw(image_bytes())).decode()
        return {"type": "image_url", "image_url": {"url": {
            "data": f"data:image/png;base64,{data}", "malformed": f"data:image/png,{data[:30]}",
            "path": draw(st.sampled_from(["/etc/passwd", "../x.png", "file:///etc/hosts"])),
            "http": "http://example.com/x.png"}[url]}}
    if kind == "audio":
        return {"type": "input_audio", "input_audio": {"data": base64.b64encode(draw(audio_bytes())).decode(),
                                                       "format": draw(st.sampled_from(["wav", "mp3", 3]))}}
    if kind == "unknown":
        return {"type": draw(st.text(max_size=12)), "value": draw(ANY_JSON)}
    return draw(ANY_JSON)


@st.composite
def chat_body(draw, model: str) -> dict:
    """A /v1/chat/completions body: messages of any roles and parts, options in and out of
    range, unknown keys, the served model's name or another."""
    messages = draw(st.lists(st.fixed_dictionaries({
        "role": st.one_of(st.sampled_from(["user", "assistant", "system", "tool", "developer"]), ANY_JSON),
        "content": st.one_of(st.text(max_size=30), st.lists(chat_part(), max_size=3), ANY_JSON)}), max_size=3))
    body = {"model": draw(st.sampled_from([model, model, "gpt-4o", 3])), "messages": messages}
    options = {"max_tokens": st.one_of(st.integers(-5, 10), st.floats(), st.text(max_size=4)),
               "temperature": st.one_of(st.floats(-1, 3), st.just(float("nan")), st.text(max_size=3)),
               "top_p": st.floats(-1, 2), "stream": st.one_of(st.booleans(), st.integers()),
               "stop": st.one_of(st.text(max_size=5), st.lists(st.text(max_size=5), max_size=6), ANY_JSON),
               "seed": st.one_of(st.integers(-5, 2**70), st.text(max_size=3)), "n": st.integers(-1, 3),
               "beams": st.integers(-1, 20), "logit_bias": ANY_JSON,
               "modalities": st.one_of(ANY_JSON, st.lists(st.sampled_from(["text", "audio", ["audio"]]), max_size=3))}
    for key in draw(st.lists(st.sampled_from(sorted(options)), unique=True, max_size=4)):
        body[key] = draw(options[key])
    return body
