"""The values users and clients give, checked once, where they enter: the command line's
parser, the manifest reader, the HTTP field reader and the config readers all call these, so
a value is refused with the same sentence wherever it comes from, and every layer below may
use what passes as it is (a native library only ever sees checked values).

Each check raises InputError "NAME: PROBLEM" (just "PROBLEM" without a name, for argparse,
which names the argument itself)."""
from __future__ import annotations

import math
import os

from .errors import InputError

MAX_SEED = 2**31 - 1        # every random generator polymodal seeds (numpy, torch) takes these
MAX_COUNT = 2**31 - 1       # counts and sizes (scenes, epochs, batch sizes, pixels) fit a signed 32-bit int
# The ranges of the values several entry points take (the CLI's flags, the HTTP fields):
GUIDANCE = (0.0, 30.0)      # a guidance scale (classifier-free for images; past the word prior for captions)
NOISE_SNR_DB = (-30.0, 100.0)    # white noise added at this signal-to-noise ratio
JPEG_QUALITY = (1, 100)


def named(name: str | None, problem: str) -> InputError:
    return InputError(f"{name}: {problem}" if name else problem)


def number(value, name: str | None = None, low: float | None = None, high: float | None = None,
           integer: bool = False) -> int | float:
    """A finite number (an integer if asked), within [low, high]; text is parsed."""
    what = "an integer" if integer else "a number"
    if isinstance(value, bool):
        raise named(name, f"{what} was expected, got {value!r}")
    if isinstance(value, str):
        text = value.strip()
        try:
            value = int(text) if integer else float(text)
        except ValueError:
            raise named(name, f"{text[:40]!r} is not {what}") from None
    if not isinstance(value, (int, float)):
        raise named(name, f"{what} was expected, got {type(value).__name__}")
    if not math.isfinite(value):
        raise named(name, f"{value} is not a finite number")
    if integer and not float(value).is_integer():
        raise named(name, f"{value} is not an integer")
    value = int(value) if integer else float(value)
    if (low is not None and value < low) or (high is not None and value > high):
        bounds = f"at least {shown(low)}" if high is None else f"at most {shown(high)}" if low is None else \
            f"between {shown(low)} and {shown(high)}"
        raise named(name, f"{shown(value)} is outside the allowed range: {bounds}")
    return value


def shown(value: float) -> str:
    """A number as a message shows it: 2147483647, 0.5, 1.2e+21."""
    if isinstance(value, int) or float(value).is_integer():
        return str(int(value)) if abs(value) < 1e15 else f"{float(value):.3g}"
    return f"{value:g}"


def seed(value, name: str | None = None) -> int:
    return number(value, name, 0, MAX_SEED, integer=True)


def text(value, name: str | None = None, max_chars: int | None = None, empty: bool = False) -> str:
    """Valid Unicode text (no lone surrogates: it must encode as UTF-8), without NUL
    characters, not blank unless `empty`, and at most `max_chars` long."""
    if not isinstance(value, str):
        raise named(name, f"text was expected, got {type(value).__name__}")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as e:
        raise named(name, f"not valid Unicode text (an unpaired surrogate at character {e.start})") from None
    if "\x00" in value:
        raise named(name, "contains a NUL character")
    if not empty and not value.strip():
        raise named(name, "empty text")
    if max_chars is not None and len(value) > max_chars:
        raise named(name, f"{len(value)} characters, over the limit of {max_chars}")
    return value


def path(value, name: str | None = None) -> str:
    """A file or folder name the operating system can take: non-blank text without NUL that
    encodes to bytes (an unpaired surrogate from a non-UTF-8 argv byte is kept, as Python's
    own file functions keep it)."""
    if not isinstance(value, (str, os.PathLike)):
        raise named(name, f"a path was expected, got {type(value).__name__}")
    value = os.fspath(value)
    if not isinstance(value, str) or not value.strip():
        raise named(name, "empty path")
    if "\x00" in value:
        raise named(name, "the path contains a NUL character")
    try:
        os.fsencode(value)
    except UnicodeEncodeError as e:
        raise named(name, f"not a valid path (an unpaired surrogate at character {e.start})") from None
    return value
