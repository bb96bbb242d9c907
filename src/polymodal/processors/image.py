"""Image processing: resize to the model's input size and scale to [-1, 1] channels-first."""
from __future__ import annotations

import numpy as np
import torch

from ..modalities import Image, as_array


class ImageProcessor:
    def __init__(self, size: int):
        self.size = size

    def __call__(self, images: list) -> torch.Tensor:
        arrays = [self.prepare(im) for im in images]
        batch = torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2)
        return batch.float().div_(127.5).sub_(1.0)

    def prepare(self, image) -> np.ndarray:
        """Accepts a modalities.Image or a uint8 HxWx3 array (the generator's output)."""
        array = as_array(image)
        if array.shape[0] != self.size or array.shape[1] != self.size:
            from PIL import Image as PILImage
            pil = PILImage.fromarray(array).resize((self.size, self.size), PILImage.BILINEAR)
            array = np.asarray(pil)
        return array


def to_uint8(images: torch.Tensor) -> np.ndarray:
    """The inverse of ImageProcessor: [B, 3, H, W] in -1..1 -> uint8 [B, H, W, 3]."""
    return ((images.clamp(-1, 1) + 1) * 127.5).round().byte().permute(0, 2, 3, 1).cpu().numpy()


def jpeg_roundtrip(array: np.ndarray, quality: int) -> np.ndarray:
    """The same image after a lossy JPEG save and load: a training augmentation, so a model
    does not learn to rely on exact pixel values that re-encoding changes."""
    import io

    from PIL import Image as PILImage
    buf = io.BytesIO()
    PILImage.fromarray(array).save(buf, format="JPEG", quality=int(quality))
    buf.seek(0)
    return np.asarray(PILImage.open(buf).convert("RGB"))


def maybe_jpeg(image, rng, probability: float, quality: tuple) -> object:
    """Training augmentation: `probability` of the time, the image (array, modalities.Image or
    path) as a JPEG re-encoded array of a quality drawn from `quality` (low, high); otherwise
    the image unchanged. Draws one number, plus the quality when it re-encodes."""
    if rng.random() >= probability:
        return image
    if not isinstance(image, np.ndarray):
        image = Image.open(image).array
    return jpeg_roundtrip(image, rng.integers(quality[0], quality[1] + 1))


def shifted(array: np.ndarray, rng: np.random.Generator, max_shift: int) -> np.ndarray:
    """The image moved by up to `max_shift` px each way, the uncovered strip filled with the
    colour of its top-left corner (the background, in most pictures of one thing)."""
    h, w, _ = array.shape
    dy, dx = (int(v) for v in rng.integers(-max_shift, max_shift + 1, size=2))
    out = np.empty_like(array)
    out[:] = array[0, 0]
    out[max(dy, 0):h + min(dy, 0), max(dx, 0):w + min(dx, 0)] = array[max(-dy, 0):h - max(dy, 0), max(-dx, 0):w - max(dx, 0)]
    return out


def augmented_view(array: np.ndarray, rng: np.random.Generator, max_shift: int = 8) -> np.ndarray:
    """Another view of the same scene for self-supervision: shifted by up to `max_shift` px
    (the uncovered strip filled with the background colour of the corner), maybe mirrored
    either way, and its colour channels permuted. Permuting colours is what makes two views
    of one scene agree by their shapes and layout rather than by their palette."""
    out = shifted(array, rng, max_shift)
    if rng.random() < 0.5:
        out = out[:, ::-1]
    if rng.random() < 0.5:
        out = out[::-1]
    return np.ascontiguousarray(out[..., rng.permutation(3)])
