"""Images: an RGB uint8 array, opened from a path, bytes, an array or a PIL image."""
from __future__ import annotations

import io
import os
import struct
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from PIL import Image as PILImage
from PIL import ImageOps, UnidentifiedImageError

from .inputs import DEFAULT_LIMITS, Limits, input_error, read_bytes, readonly, too_large

# PIL documents OSError for damaged files; its format plugins let these others escape too.
_PIL_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, IndexError, struct.error)


def _check_pixels(width: int, height: int, name: str, limits: Limits) -> None:
    if width * height > limits.max_pixels:
        raise too_large(name, f"image is {width}x{height} pixels, over the limit of {limits.max_pixels}")


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
        raise too_large(name, f"image too large (over PIL's limit of {PILImage.MAX_IMAGE_PIXELS} pixels)") from None
    except UnidentifiedImageError:
        raise input_error(name, "not a readable image (unknown format, or not an image)") from None
    except _PIL_DECODE_ERRORS:
        raise input_error(name, "not a readable image (truncated or corrupt file)") from None


def _array_to_rgb(a: np.ndarray, name: str, limits: Limits) -> np.ndarray:
    """A uint8 HxWx3 copy of an HxW, HxWx3 or HxWx4 array of uint8, or float in [0, 1]."""
    if a.ndim == 3 and a.shape[2] in (3, 4):
        a = a[..., :3]  # alpha is dropped, as PIL's convert("RGB") does
    elif a.ndim != 2:
        raise input_error(name, f"wrong channel layout {a.shape} (expected HxW, HxWx3 or HxWx4)")
    if a.shape[0] == 0 or a.shape[1] == 0:
        raise input_error(name, f"image has no pixels (shape {a.shape})")
    _check_pixels(a.shape[1], a.shape[0], name, limits)
    if np.issubdtype(a.dtype, np.floating):
        if np.isnan(a).any():
            raise input_error(name, "image contains NaN values")
        if a.min() < 0 or a.max() > 1:
            raise input_error(name, f"float image values must lie in [0, 1] (got {a.min():g} to {a.max():g})")
        a = np.round(a * 255)
    elif a.dtype != np.uint8:
        raise input_error(name, f"unsupported dtype {a.dtype} (expected uint8, or float in [0, 1])")
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
            raise input_error(self.source, "Image.array must be uint8 HxWx3; use Image.open to convert")
        object.__setattr__(self, "array", readonly(a))

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
        data, name = read_bytes(x, limits, "a path, bytes, numpy array or PIL image")
        return cls(_decode_pil(lambda: PILImage.open(io.BytesIO(data)), name, limits), name)

    @property
    def size(self) -> tuple[int, int]:
        """(width, height), PIL's order."""
        return self.array.shape[1], self.array.shape[0]

    def to_pil(self) -> PILImage.Image:
        return PILImage.fromarray(self.array)  # PIL copies: RGB is stored 4 bytes a pixel

    def resized(self, width: int, height: int) -> Image:
        if width < 1 or height < 1:
            raise input_error(self.source, f"cannot resize to {width}x{height}")
        pil = self.to_pil().resize((int(width), int(height)), PILImage.Resampling.BILINEAR)
        return Image(np.asarray(pil), self.source)

    def save(self, path: str | os.PathLike) -> None:
        """Format follows the extension."""
        try:
            self.to_pil().save(path)
        except (OSError, ValueError, KeyError) as e:
            raise input_error(str(path), f"cannot save image ({e})") from None


def as_array(image) -> np.ndarray:
    """The uint8 HxWx3 pixels of an `Image`, or the array itself (already checked pixels, such
    as a generated scene or a drawn image)."""
    return image.array if isinstance(image, Image) else image
