"""What every modality value shares: the limits on what `open` accepts, reading a path or
bytes under them, and the one error format."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..core import values
from ..core.errors import InputError, TooLargeError


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
    max_video_seconds: float = 600.0           # a clip's duration, from its header: decoding time grows with it
    max_frame_pixels: int = 3840 * 2160        # one video frame (4K UHD); 8K frames are refused
    max_video_bytes: int = 2 * 2**30           # the decoded frames a Video keeps (uint8 RGB)
    max_video_file_bytes: int = 8 * 2**30      # a video file, read as it is decoded (bytes given: max_file_bytes)


DEFAULT_LIMITS = Limits()

def input_error(name: str, problem: str) -> InputError:
    """The one message format; returned so that callers write `raise input_error(...)`."""
    return InputError(" ".join(f"{name}: {problem}".splitlines()))


def too_large(name: str, problem: str) -> TooLargeError:
    return TooLargeError(f"{name}: {problem}")


def readonly(array: np.ndarray) -> np.ndarray:
    """A read-only view, so a value cannot change under code that already checked it."""
    view = array.view()
    view.flags.writeable = False
    return view


def check_file_size(size: int, name: str, limits: Limits) -> None:
    if size > limits.max_file_bytes:
        raise too_large(name, f"file is {size} bytes, over the limit of {limits.max_file_bytes}")


def read_bytes(x: object, limits: Limits, expected: str) -> tuple[bytes, str]:
    """The content and name of a path or bytes input; anything else is rejected."""
    source, name = readable(x, limits, expected)
    if isinstance(source, bytes):
        return source, name
    try:
        return source.read_bytes(), name
    except OSError as e:
        raise file_error(name, e) from None


def readable(x: object, limits: Limits, expected: str, max_bytes: int | None = None) -> tuple[bytes | Path, str]:
    """(the bytes, or the path of a file to read, after its size is checked; its name);
    max_bytes: a file's own limit (a video file is read as it is decoded), else the limits'."""
    if isinstance(x, (bytes, bytearray, memoryview)):
        check_file_size(len(x), "<bytes>", limits)
        return bytes(x), "<bytes>"
    if not isinstance(x, (str, os.PathLike)):
        raise input_error(f"<{type(x).__name__}>", f"cannot be opened (expected {expected})")
    try:
        path = Path(values.path(x, None))
    except InputError as e:
        raise input_error(repr(os.fspath(x))[:80], str(e)) from None
    name = str(path)
    try:
        size = path.stat().st_size
        if path.is_dir():
            raise IsADirectoryError(name)
    except OSError as e:
        raise file_error(name, e) from None
    if max_bytes is None:
        check_file_size(size, name, limits)  # before reading any of it
    elif size > max_bytes:
        raise too_large(name, f"file is {size} bytes, over the limit of {max_bytes}")
    return path, name


def file_error(name: str, e: OSError) -> InputError:
    known = {FileNotFoundError: "no such file", IsADirectoryError: "is a directory, not a file"}
    return input_error(name, known.get(type(e), f"cannot read file ({e.strerror or e})"))


def ffmpeg_reason(e: Exception) -> str:
    """FFmpeg's words for a refusal (PyAV's error), without its error number."""
    return (getattr(e, "strerror", None) or str(e)).rstrip(".")
