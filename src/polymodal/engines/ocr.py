"""Reading text in images with an offline OCR engine (RapidOCR: its wheel bundles the ONNX
detection and recognition models; `pip install polymodal[ocr]`)."""
from __future__ import annotations

import numpy as np

from ..modalities import as_array
from ..native.worker import Native

UPSCALE = 2          # small renders read better enlarged ...
MARGIN = 32          # ... and away from the image's edges (measured on the signs preset)


class RapidOCRReader:
    """image -> the words it reads, left to right, joined by spaces, in lower case."""

    def __init__(self):
        self.engine = Native("polymodal.native.ocr", "Reader")
        self.engine.start()

    def read(self, image) -> str:
        from PIL import Image as PILImage
        array = as_array(image)
        h, w = array.shape[:2]
        big = PILImage.fromarray(array).resize((w * UPSCALE, h * UPSCALE), PILImage.BICUBIC)
        canvas = PILImage.new("RGB", (big.width + 2 * MARGIN, big.height + 2 * MARGIN), "white")
        canvas.paste(big, (MARGIN, MARGIN))
        lines = self.engine.call("read", np.asarray(canvas))
        return " ".join(text for _, text in sorted(lines)).lower().strip()

    def batch(self, images) -> list[str]:
        """Each image read in turn (a system gives each distinct image once: systems/input_keys.py)."""
        return [self.read(im) for im in images]
