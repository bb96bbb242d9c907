"""Requests the HTTP service must answer with a 4xx naming what is wrong (or, a few, answer)."""
from __future__ import annotations

import base64
import json
from pathlib import Path

from . import ANSWERED, REFUSED, Case
from .cli_cases import LONG_VARIANT
from .files import nested

DEEP_BODY = nested().encode()


def b64(path: str) -> str:
    return base64.b64encode(Path(path).read_bytes()).decode()


def raw_json(text: str) -> dict:
    """A body sent as written (NaN, Infinity, \\ud800 escapes and all), as a hostile client can."""
    return {"content": text.encode("utf-8", "surrogatepass"), "headers": {"content-type": "application/json"}}


def valid(f: dict) -> dict[str, dict]:
    """A valid JSON body of every endpoint (each case changes one thing)."""
    scene = b64(f["scene.png"])
    return {
        "caption": {"image": scene},
        "ask": {"image": scene, "question": "what shape is the red object?"},
        "ground": {"image": scene, "phrase": "the red circle"},
        "classify": {"image": scene, "labels": "red circle,blue square"},
        "embed": {"text": "a red circle"},
        "search": {"gallery": [scene, scene], "text": "a red circle"},
        "generate": {"prompt": "a red circle", "steps": 2},
        "edit": {"image": b64(f["shapes.png"]), "instruction": f"make the {f['shapes-object']} green", "steps": 2},
        "transcribe": {"audio": b64(f["speech.wav"])},
        "speak": {"text": "hello"},
    }


TEXT_FIELDS = {"ask": ["question"], "ground": ["phrase"], "classify": ["labels"], "embed": ["text"],
               "search": ["text"], "generate": ["prompt", "scheduler"], "edit": ["instruction", "scheduler"],
               "speak": ["text", "voice"]}
NUMBER_FIELDS = {"caption": ["beams"], "search": ["k"], "generate": ["seed", "steps", "guidance"],
                 "edit": ["seed", "steps", "guidance"]}
HOSTILE_TEXTS = (("surrogate", '"a \\ud800 b"', "surrogate"), ("NUL", '"a \\u0000 b"', "NUL"),
                 ("blank", '"  \\t "', "empty"), ("nested", nested(2000), "nested"),
                 ("number", "7", "text"), ("object", '{"a": 1}', "text"), ("huge", json.dumps("x" * 100_000), "limit"))
HOSTILE_NUMBERS = (("NaN", "NaN", "finite"), ("Infinity", "Infinity", "finite"), ("-Infinity", "-Infinity", "finite"),
                   ("1e309", "1e309", "finite"), ("2**70", str(2**70), "range"), ("-1", "-1", "range"),
                   ("a word", '"ten"', "not"), ("true", "true", "was expected"), ("a list", "[1]", ""),
                   ("nested", nested(2000, 1), ""))


def with_field(body: dict, field: str, literal: str) -> dict:
    """`body` as JSON text, with `field` set to the JSON literal `literal` (whatever it is)."""
    rest = json.dumps({k: v for k, v in body.items() if k != field})
    return raw_json(rest[:-1] + (", " if len(rest) > 2 else "") + f'"{field}": {literal}}}')


def fields(f: dict) -> list[Case]:
    bodies, cases = valid(f), []
    for route, names in TEXT_FIELDS.items():
        for name in names:
            for label, literal, words in HOSTILE_TEXTS:
                cases.append(Case(f"/v1/{route} {name} {label}", REFUSED, words, route=f"/v1/{route}",
                                  request=with_field(bodies[route], name, literal)))
    for route, names in NUMBER_FIELDS.items():
        for name in names:
            for label, literal, words in HOSTILE_NUMBERS:
                cases.append(Case(f"/v1/{route} {name} {label}", REFUSED, words, route=f"/v1/{route}",
                                  request=with_field(bodies[route], name, literal)))
    return cases


def bodies(f: dict) -> list[Case]:
    cases = []
    for route, body in valid(f).items():
        r = f"/v1/{route}"
        cases += [
            Case(f"{r} a body nested 100,000 deep", REFUSED, "nested", route=r, request=raw_json(DEEP_BODY.decode())),
            Case(f"{r} a field nested 100,000 deep", REFUSED, "nested", route=r,
                 request=with_field(body, next(iter(body)), DEEP_BODY.decode())),
            Case(f"{r} not JSON", REFUSED, "JSON", route=r, request=raw_json("{image: x")),
            Case(f"{r} a JSON list", REFUSED, "object", route=r, request=raw_json("[1, 2]")),
            Case(f"{r} an empty body", REFUSED, "", route=r, request=raw_json("")),
            Case(f"{r} non-UTF-8 bytes", REFUSED, "", route=r,
                 request={"content": b'{"x": "\xff\xfe"}', "headers": {"content-type": "application/json"}}),
            Case(f"{r} text/plain", REFUSED, "content type", route=r,
                 request={"content": b"hello", "headers": {"content-type": "text/plain"}}),
            Case(f"{r} an unknown field", REFUSED, "unknown field", route=r, request={"json": {**body, "flavour": 1}}),
            Case(f"{r} as JSON, valid", ANSWERED, route=r, request={"json": body}),
        ]
    return cases


def media(f: dict) -> list[Case]:
    cases, scene = [], b64(f["scene.png"])
    for name in ("empty.png", "truncated.png", "header-only.png", "text-renamed.png", "wav-renamed.png",
                 "garbage.png", "bomb.png", "zero-size.png"):
        cases.append(Case(f"/v1/caption image {name}", REFUSED, "field image", route="/v1/caption",
                          request={"json": {"image": b64(f[name])}} if name != "empty.png" else
                          {"files": {"image": ("x.png", b"")}}))
        cases.append(Case(f"/v1/search gallery with {name}", REFUSED, "gallery", route="/v1/search",
                          request={"json": {"gallery": [scene, b64(f[name])], "text": "a red circle"}}))
    cases.append(Case("/v1/caption image not base64", REFUSED, "base64", route="/v1/caption",
                      request={"json": {"image": "not base64 at all!"}}))
    for name in ("zero-frames.mp4", "index-cut-off.mp4", "frames-cut-off.mp4", "cut-in-half.mp4", "audio-only.mp4",
                 "4-hours.mp4", "8K-frames.mp4", "text-renamed.mp4", "empty-file.mp4"):
        for route, body in (("ask-video", {"question": "does it move?"}), ("classify-video", {})):
            cases.append(Case(f"/v1/{route} video {name}", REFUSED, "field video", route=f"/v1/{route}",
                              request={"json": {**body, "video": b64(f[name])}}))
    for name in ("header-only.wav", "truncated.wav", "garbage.wav", "png-renamed.wav", "rate-2000000011.wav",
                 "rate-999983.wav", "rate-1.wav", "rate-0.wav"):
        for route, body in (("transcribe", {}), ("ask", {"image": scene})):
            cases.append(Case(f"/v1/{route} audio {name}", REFUSED, "field audio", route=f"/v1/{route}",
                              request={"json": {**body, "audio": b64(f[name])}}))
    return cases


def semantics(f: dict) -> list[Case]:
    scene = b64(f["scene.png"])
    cases = [Case(f"/v1/speak voice {label}", REFUSED, "voice", route="/v1/speak",
                  request={"json": {"text": "hello", "voice": voice}})
             for label, voice in (("klingon", "klingon"), ("unknown variant", "en-us+nosuchvariant"),
                                  ("40-character variant", LONG_VARIANT), ("1000 characters", "x" * 1000),
                                  ("only a plus", "+"), ("path traversal", "../../etc/passwd"))]
    cases += [
        Case("/v1/speak voice with a surrogate", REFUSED, "surrogate", route="/v1/speak",
             request=raw_json('{"text": "hello", "voice": "en-us+\\ud800"}')),
        Case("/v1/speak text with a surrogate (the request that gave 500)", REFUSED, "surrogate", route="/v1/speak",
             request=raw_json('{"text": "hello \\ud800 world"}')),
        Case("/v1/speak a real voice", ANSWERED, route="/v1/speak", request={"json": {"text": "hello", "voice": "en-us+m3"}}),
        Case("/v1/classify labels as a JSON array", ANSWERED, route="/v1/classify",
             request={"json": {"image": scene, "labels": ["red circle", "blue square"]}}),
        Case("/v1/classify example_labels as a JSON array", ANSWERED, route="/v1/classify",
             request={"json": {"image": scene, "examples": [scene, scene], "example_labels": ["a", "b"]}}),
        Case("/v1/classify labels as an array of numbers", REFUSED, "text", route="/v1/classify",
             request={"json": {"image": scene, "labels": [1, 2]}}),
        Case("/v1/classify one label", REFUSED, "two", route="/v1/classify", request={"json": {"image": scene, "labels": "a"}}),
        Case("/v1/classify labels and examples both", REFUSED, "labels", route="/v1/classify",
             request={"json": {"image": scene, "labels": "a,b", "examples": [scene], "example_labels": ["a"]}}),
        Case("/v1/classify method unknown", REFUSED, "method", route="/v1/classify",
             request={"json": {"image": scene, "examples": [scene, scene], "example_labels": ["a", "b"],
                               "method": "magic"}}),
        Case("/v1/embed image and text both", REFUSED, "one of", route="/v1/embed",
             request={"json": {"image": scene, "text": "a"}}),
        Case("/v1/search 257 gallery images", REFUSED, "limit", route="/v1/search",
             request={"json": {"gallery": [scene] * 257, "text": "a"}}),
        Case("/v1/generate scheduler unknown", REFUSED, "scheduler", route="/v1/generate",
             request={"json": {"prompt": "a red circle", "scheduler": "fastest"}}),
        Case("/v1/generate steps 201", REFUSED, "range", route="/v1/generate",
             request={"json": {"prompt": "a red circle", "steps": 201}}),
        Case("/v1/generate a word it does not know", REFUSED, "", route="/v1/generate",
             request={"json": {"prompt": "a purple hexagon", "steps": 2}}),
        Case("/v1/edit an instruction it cannot parse", REFUSED, "", route="/v1/edit",
             request={"json": {"image": scene, "instruction": "paint it black"}}),
        Case("/v1/ask neither question nor audio", REFUSED, "question", route="/v1/ask", request={"json": {"image": scene}}),
        Case("/v1/ask question given twice (multipart)", REFUSED, "more than once", route="/v1/ask",
             request={"files": [("image", ("s.png", Path(f["scene.png"]).read_bytes())), ("question", (None, b"what?")),
                                ("question", (None, b"which?"))]}),
        # Starlette reads a multipart text field that is not UTF-8 as Latin-1: here 'ÿ', no word of the model's
        Case("/v1/ask question not UTF-8 (multipart)", REFUSED, "unknown word", route="/v1/ask",
             request={"files": [("image", ("s.png", Path(f["scene.png"]).read_bytes())),
                                ("question", (None, b"what \xff?"))]}),
        Case("/v1/ask question given as a list in JSON", REFUSED, "more than once", route="/v1/ask",
             request={"json": {"image": scene, "question": ["what?", "which?"]}}),
        Case("/v1/systems/read-and-answer question blank", REFUSED, "empty", route="/v1/systems/read-and-answer",
             request={"json": {"image": scene, "question": "   "}}),
        Case("/v1/systems/voice-assistant audio lying about its rate", REFUSED, "field audio",
             route="/v1/systems/voice-assistant", request={"json": {"image": scene, "audio": b64(f["rate-2000000011.wav"])}}),
        Case("/v1/systems/vqa-by-caption a body nested 100,000 deep", REFUSED, "nested",
             route="/v1/systems/vqa-by-caption", request=raw_json(DEEP_BODY.decode())),
    ]
    return cases


def cases(f: dict) -> list[Case]:
    return fields(f) + bodies(f) + media(f) + semantics(f)
