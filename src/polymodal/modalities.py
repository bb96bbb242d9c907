"""Input values: `Image`, `Text` and `Audio`, each opened from whatever a user hands over.

Every value is checked once, at `open`, so code downstream can trust it. A bad input raises
`InputError` with a one-line message that starts with the input's name (its path, or
"<bytes>", "<array>", ...), which the CLI prints as is.
"""
from __future__ import annotations

import io
import os
import struct
import warnings
from dataclasses import dataclass
from math import gcd
from pathlib import Path
from typing import Callable, Literal

import numpy as np
import soundfile as sf
from PIL import Image as PILImage
from PIL import ImageOps, UnidentifiedImageError
from scipy.signal import resample_poly

from .errors import ConfigError, InputError, TooLargeError

__all__ = ["DEFAULT_LIMITS", "Audio", "Image", "Limits", "Text"]


@dataclass(frozen=True)
class Limits:
    """Bounds on what `open` accepts, so one bad input cannot exhaust memory or time.

    max_pixels is checked from the image header, before decoding. PIL's own guard
    (PIL.Image.MAX_IMAGE_PIXELS, about 89M pixels) still applies on top of it.
    """

    max_pixels: int = 40_000_000
    max_file_bytes: int = 50 * 2**20
    max_audio_seconds: float = 600.0
    min_audio_samples: int = 16


DEFAULT_LIMITS = Limits()

_MAX_CHANNELS = 8  # a 2-D waveform's smaller side counts as channels only up to this many
# PIL documents OSError for damaged files; its format plugins let these others escape too.
_PIL_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, IndexError, struct.error)


def _error(name: str, problem: str) -> InputError:
    """The one message format; returned so that callers write `raise _error(...)`."""
    return InputError(" ".join(f"{name}: {problem}".splitlines()))


def _too_large(name: str, problem: str) -> TooLargeError:
    return TooLargeError(f"{name}: {problem}")


def _readonly(array: np.ndarray) -> np.ndarray:
    """A read-only view, so a value cannot change under code that already checked it."""
    view = array.view()
    view.flags.writeable = False
    return view


def _check_file_size(size: int, name: str, limits: Limits) -> None:
    if size > limits.max_file_bytes:
        raise _too_large(name, f"file is {size} bytes, over the limit of {limits.max_file_bytes}")


def _read_bytes(x: object, limits: Limits, expected: str) -> tuple[bytes, str]:
    """The content and name of a path or bytes input; anything else is rejected."""
    if isinstance(x, (bytes, bytearray, memoryview)):
        _check_file_size(len(x), "<bytes>", limits)
        return bytes(x), "<bytes>"
    if not isinstance(x, (str, os.PathLike)):
        raise _error(f"<{type(x).__name__}>", f"cannot be opened (expected {expected})")
    path = Path(x)
    name = str(path)
    try:
        _check_file_size(path.stat().st_size, name, limits)  # before reading any of it
        return path.read_bytes(), name
    except OSError as e:
        known = {FileNotFoundError: "no such file", IsADirectoryError: "is a directory, not a file"}
        raise _error(name, known.get(type(e), f"cannot read file ({e.strerror or e})")) from None


# --- images -------------------------------------------------------------------------------


def _check_pixels(width: int, height: int, name: str, limits: Limits) -> None:
    if width * height > limits.max_pixels:
        raise _too_large(name, f"image is {width}x{height} pixels, over the limit of {limits.max_pixels}")


def _decode_pil(get: Callable[[], PILImage.Image], name: str, limits: Limits) -> np.ndarray:
    """Run PIL under one guard: `get` returns a lazily opened image, decoded here in full."""
    try:
        with warnings.catch_warnings():
            # PIL only warns between its soft and hard bomb limits; an input must fail instead.
            warnings.simplefilter("error", PILImage.DecompressionBombWarning)
            pil = get()
            _check_pixels(*pil.size, name, limits)  # header only: nothing is decoded yet
            pil = ImageOps.exif_transpose(pil)  # phone photos store their rotation in EXIF
            return np.array(pil.convert("RGB"), dtype=np.uint8)  # convert() decodes it all
    except (PILImage.DecompressionBombWarning, PILImage.DecompressionBombError):
        raise _too_large(name, f"image too large (over PIL's limit of {PILImage.MAX_IMAGE_PIXELS} pixels)") from None
    except UnidentifiedImageError:
        raise _error(name, "not a readable image (unknown format, or not an image)") from None
    except _PIL_DECODE_ERRORS:
        raise _error(name, "not a readable image (truncated or corrupt file)") from None


def _array_to_rgb(a: np.ndarray, name: str, limits: Limits) -> np.ndarray:
    """A uint8 HxWx3 copy of an HxW, HxWx3 or HxWx4 array of uint8, or float in [0, 1]."""
    if a.ndim == 3 and a.shape[2] in (3, 4):
        a = a[..., :3]  # alpha is dropped, as PIL's convert("RGB") does
    elif a.ndim != 2:
        raise _error(name, f"wrong channel layout {a.shape} (expected HxW, HxWx3 or HxWx4)")
    if a.shape[0] == 0 or a.shape[1] == 0:
        raise _error(name, f"image has no pixels (shape {a.shape})")
    _check_pixels(a.shape[1], a.shape[0], name, limits)
    if np.issubdtype(a.dtype, np.floating):
        if np.isnan(a).any():
            raise _error(name, "image contains NaN values")
        if a.min() < 0 or a.max() > 1:
            raise _error(name, f"float image values must lie in [0, 1] (got {a.min():g} to {a.max():g})")
        a = np.round(a * 255)
    elif a.dtype != np.uint8:
        raise _error(name, f"unsupported dtype {a.dtype} (expected uint8, or float in [0, 1])")
    rgb = np.empty((a.shape[0], a.shape[1], 3), dtype=np.uint8)
    rgb[...] = a[..., None] if a.ndim == 2 else a  # gray repeats into all three channels
    return rgb


@dataclass(frozen=True, eq=False)
class Image:
    """An RGB image: `array` is uint8 [H, W, 3] and read-only; `source` names where it came from."""

    array: np.ndarray
    source: str = "<array>"

    def __post_init__(self) -> None:
        a = self.array
        if not (isinstance(a, np.ndarray) and a.dtype == np.uint8 and a.ndim == 3 and a.shape[2] == 3):
            raise _error(self.source, "Image.array must be uint8 HxWx3; use Image.open to convert")
        object.__setattr__(self, "array", _readonly(a))

    @classmethod
    def open(cls, x: object, limits: Limits = DEFAULT_LIMITS) -> Image:
        """From a path, bytes, a numpy array, a PIL image or an `Image` (returned as is)."""
        if isinstance(x, Image):
            return x
        if isinstance(x, np.ndarray):
            return cls(_array_to_rgb(x, "<array>", limits), "<array>")
        if isinstance(x, PILImage.Image):
            name = getattr(x, "filename", "") or "<PIL image>"
            return cls(_decode_pil(lambda: x, name, limits), name)
        data, name = _read_bytes(x, limits, "a path, bytes, numpy array or PIL image")
        return cls(_decode_pil(lambda: PILImage.open(io.BytesIO(data)), name, limits), name)

    @property
    def size(self) -> tuple[int, int]:
        """(width, height), PIL's order."""
        return self.array.shape[1], self.array.shape[0]

    def to_pil(self) -> PILImage.Image:
        return PILImage.fromarray(self.array)  # PIL copies: RGB is stored 4 bytes a pixel

    def resized(self, width: int, height: int) -> Image:
        if width < 1 or height < 1:
            raise _error(self.source, f"cannot resize to {width}x{height}")
        pil = self.to_pil().resize((int(width), int(height)), PILImage.Resampling.BILINEAR)
        return Image(np.asarray(pil), self.source)

    def save(self, path: str | os.PathLike) -> None:
        """Format follows the extension."""
        try:
            self.to_pil().save(path)
        except (OSError, ValueError, KeyError) as e:
            raise _error(str(path), f"cannot save image ({e})") from None


# --- text ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Text:
    """A non-empty string without NUL characters; `source` names where it came from."""

    text: str
    source: str = "<text>"

    def __post_init__(self) -> None:
        if not isinstance(self.text, str) or not self.text.strip():
            raise _error(self.source, "empty or whitespace-only text")
        if "\0" in self.text:
            raise _error(self.source, "text contains NUL characters (a binary file?)")

    @classmethod
    def open(cls, x: object, limits: Limits = DEFAULT_LIMITS) -> Text:
        """From a str (the text itself), a path (a UTF-8 file), bytes (UTF-8) or a `Text`."""
        if isinstance(x, Text):
            return x
        if isinstance(x, str):
            return cls(x)
        data, name = _read_bytes(x, limits, "a str, a path or bytes")
        try:
            return cls(data.decode("utf-8-sig"), name)  # -sig drops the BOM some editors write
        except UnicodeDecodeError as e:
            raise _error(name, f"not UTF-8 text (bad byte at offset {e.start})") from None


# --- audio --------------------------------------------------------------------------------


def _is_rate(rate: object) -> bool:
    return isinstance(rate, (int, np.integer)) and not isinstance(rate, bool) and rate > 0


def _sf_reason(e: Exception) -> str:
    """libsndfile's own words, without soundfile's prefix (which may hold a BytesIO repr)."""
    return (getattr(e, "error_string", "") or str(e)).rstrip(".")


def _check_duration(frames: int, rate: int, name: str, limits: Limits) -> None:
    if frames > limits.max_audio_seconds * rate:
        raise _too_large(name, f"audio is {frames / rate:.1f} s long, over the limit of {limits.max_audio_seconds:g} s")


def _check_wav_complete(data: bytes, name: str) -> None:
    """Reject a WAV whose data chunk is shorter than its header says.

    libsndfile reads such a file without error: it clamps the frame count to the bytes
    present, so neither an exception nor soundfile.info's frame count reveals the cut.
    """
    if data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        return
    pos = 12
    while pos + 8 <= len(data):
        size = int.from_bytes(data[pos + 4 : pos + 8], "little")
        if data[pos : pos + 4] == b"data":
            held = len(data) - pos - 8
            if size != 0xFFFFFFFF and size > held:  # 0xFFFFFFFF: streamed, length unknown
                raise _error(name, f"truncated WAV file (header promises {size} data bytes, file holds {held})")
            return
        pos += 8 + size + (size & 1)  # chunks are padded to even length


def _decode_audio(data: bytes, name: str, limits: Limits) -> tuple[np.ndarray, int]:
    """[channels, frames] float32 samples and the rate of a file soundfile can read."""
    _check_wav_complete(data, name)
    try:
        with sf.SoundFile(io.BytesIO(data)) as f:
            _check_duration(f.frames, f.samplerate, name, limits)  # before decoding anything
            samples = f.read(dtype="float32", always_2d=True)
            if len(samples) < f.frames:
                raise _error(name, f"truncated audio file (read {len(samples)} of {f.frames} frames)")
            return samples.T, f.samplerate
    except (sf.SoundFileError, RuntimeError) as e:  # LibsndfileError is both
        raise _error(name, f"not a readable audio file ({_sf_reason(e)})") from None


def _channels_first(waveform: object, name: str) -> np.ndarray:
    """[channels, samples] from a 1-D or a 2-D waveform of either orientation."""
    w = np.asarray(waveform)
    if w.size == 0:
        raise _error(name, f"no audio samples (shape {w.shape})")
    if not np.issubdtype(w.dtype, np.floating):
        raise _error(name, f"unsupported dtype {w.dtype} (expected float samples in [-1, 1])")
    if w.ndim == 1:
        return w[None]
    if w.ndim == 2 and min(w.shape) <= _MAX_CHANNELS:
        return w if w.shape[0] <= w.shape[1] else w.T
    raise _error(name, f"wrong channel layout {w.shape} (expected [samples], or 2-D with at most {_MAX_CHANNELS} channels)")


def _to_mono(channels: np.ndarray, name: str, mono: str) -> np.ndarray:
    if channels.shape[0] > 1:
        if mono == "error":
            raise _error(name, f"audio has {channels.shape[0]} channels, mono required")
        channels = channels.mean(axis=0, keepdims=True)
    return np.ascontiguousarray(channels[0], dtype=np.float32)


@dataclass(frozen=True, eq=False)
class Audio:
    """Mono audio: `waveform` is float32 [n] and read-only, `rate` in Hz; `source` names its origin."""

    waveform: np.ndarray
    rate: int
    source: str = "<waveform>"

    def __post_init__(self) -> None:
        w, rate = self.waveform, self.rate
        if not (isinstance(w, np.ndarray) and w.dtype == np.float32 and w.ndim == 1):
            raise _error(self.source, "Audio.waveform must be float32 1-D; use Audio.open to convert")
        if not _is_rate(rate):
            raise _error(self.source, f"sample rate must be a positive integer (got {rate!r})")
        if w.size == 0:
            raise _error(self.source, "no audio samples (empty or truncated)")
        if not np.isfinite(w).all():
            raise _error(self.source, "audio contains NaN or infinite samples")
        object.__setattr__(self, "waveform", _readonly(w))
        object.__setattr__(self, "rate", int(rate))

    @classmethod
    def open(cls, x: object, limits: Limits = DEFAULT_LIMITS, mono: Literal["mix", "error"] = "mix") -> Audio:
        """From a path or bytes (WAV, FLAC, OGG...), a (waveform, rate) tuple, or an `Audio`."""
        if mono not in ("mix", "error"):
            raise ConfigError(f"mono must be 'mix' or 'error', not {mono!r}")
        if isinstance(x, Audio):
            return x
        if isinstance(x, tuple) and len(x) == 2:
            name = "<waveform>"
            channels, rate = _channels_first(x[0], name), x[1]
        else:
            data, name = _read_bytes(x, limits, "a path, bytes or a (waveform, rate) tuple")
            channels, rate = _decode_audio(data, name, limits)
        audio = cls(_to_mono(channels, name, mono), rate, name)
        _check_duration(len(audio.waveform), audio.rate, name, limits)
        if len(audio.waveform) < limits.min_audio_samples:
            raise _error(name, f"audio has {len(audio.waveform)} samples, fewer than {limits.min_audio_samples}")
        return audio

    @property
    def duration(self) -> float:
        """Seconds."""
        return len(self.waveform) / self.rate

    def resampled(self, rate: int) -> Audio:
        """Polyphase resampling by the reduced ratio rate/self.rate (its own anti-alias filter)."""
        if rate == self.rate:
            return self
        if not _is_rate(rate):
            raise _error(self.source, f"cannot resample to {rate!r} Hz")
        g = gcd(self.rate, int(rate))
        waveform = resample_poly(self.waveform, int(rate) // g, self.rate // g)
        return Audio(waveform.astype(np.float32), int(rate), self.source)

    def save(self, path: str | os.PathLike) -> None:
        """16-bit PCM WAV; libsndfile clips samples outside [-1, 1]."""
        try:
            sf.write(path, self.waveform, self.rate, subtype="PCM_16", format="WAV")
        except (sf.SoundFileError, RuntimeError, OSError) as e:
            raise _error(str(path), f"cannot save audio ({_sf_reason(e)})") from None
