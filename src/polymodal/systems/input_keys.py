"""What makes two step inputs the same: a key from their content, so that a system runs each
step once on each distinct input of a run (a scene asked twenty questions is captioned once;
the same question spoken twice is transcribed once).

Images, audio and arrays are keyed by a hash of their bytes (two Image.open calls on one file
give two objects with one content); texts and numbers by their value. Any other value is
keyed by its identity: it is only shared with itself."""
from __future__ import annotations

import hashlib

import numpy as np
from PIL import Image as PILImage

from ..modalities import Audio, Image, Video


def digest(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=16).hexdigest()


def array_key(a: np.ndarray) -> tuple:
    return ("array", a.shape, a.dtype.str, digest(np.ascontiguousarray(a).tobytes()))


def value_key(value) -> tuple:
    if value is None or isinstance(value, (str, int, float, bool)):
        return ("value", type(value).__name__, value)
    if isinstance(value, bytes):
        return ("bytes", digest(value))
    if isinstance(value, np.ndarray):
        return array_key(value)
    if isinstance(value, Image):
        return ("image", array_key(value.array))
    if isinstance(value, Audio):
        return ("audio", value.rate, array_key(value.waveform))
    if isinstance(value, Video):
        return ("video", array_key(value.frames), tuple(value.times), value_key(value.audio))
    if isinstance(value, PILImage.Image):
        return ("pil", value.mode, value.size, digest(value.tobytes()))
    if isinstance(value, (list, tuple)):
        return ("sequence", tuple(value_key(v) for v in value))
    if isinstance(value, dict):
        return ("mapping", tuple((str(k), value_key(v)) for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))))
    return ("object", id(value))


def inputs_key(inputs: dict) -> tuple:
    """One step's inputs for one item ({input name: value}) -> a hashable key."""
    return tuple((name, value_key(inputs[name])) for name in sorted(inputs))
