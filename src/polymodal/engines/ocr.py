"""Reading text in images with an offline OCR engine (RapidOCR: its wheel bundles the ONNX
detection and recognition models; `pip install polymodal[ocr]`)."""
from __future__ import annotations

import numpy as np

from ..core.errors import ModelNotFoundError
from ..modalities import as_array

UPSCALE = 2          # small renders read better enlarged ...
MARGIN = 32          # ... and away from the image's edges (measured on the signs preset)


class RapidOCRReader:
    """image -> the words it reads, left to right, joined by spaces, in lower case."""

    def __init__(self):
        try:
            from rapidocr import RapidOCR
        except ImportError:
            raise ModelNotFoundError("reading text needs the OCR engine: pip install polymodal[ocr]") from None
        import logging
        logging.getLogger("RapidOCR").setLevel(logging.WARNING)     # one INFO line per image otherwise
        self.engine = RapidOCR()

    def read(self, image) -> str:
        from PIL import Image as PILImage
        array = as_array(image)
        h, w = array.shape[:2]
        big = PILImage.fromarray(array).resize((w * UPSCALE, h * UPSCALE), PILImage.BICUBIC)
        canvas = PILImage.new("RGB", (big.width + 2 * MARGIN, big.height + 2 * MARGIN), "white")
        canvas.paste(big, (MARGIN, MARGIN))
        result = self.engine(np.asarray(canvas))
        if result.txts is None:
            return ""
        lefts = [min(p[0] for p in box) for box in result.boxes]
        return " ".join(t for _, t in sorted(zip(lefts, result.txts))).lower().strip()

    def batch(self, images) -> list[str]:
        """Each distinct image is read once (a system asks several questions about one sign)."""
        texts: dict[bytes, str] = {}
        out = []
        for im in images:
            array = np.ascontiguousarray(as_array(im))
            key = array.tobytes()
            if key not in texts:
                texts[key] = self.read(array)
            out.append(texts[key])
        return out
