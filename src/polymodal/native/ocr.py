"""RapidOCR (its wheel bundles the ONNX detection and recognition models; `pip install
polymodal[ocr]`): an RGB array in, the texts it reads with their left edges out."""
from __future__ import annotations

import logging

import numpy as np

from ..core.errors import ModelNotFoundError


class Reader:
    def __init__(self):
        try:
            from rapidocr import RapidOCR
        except ImportError:
            raise ModelNotFoundError("reading text needs the OCR engine: pip install polymodal[ocr]") from None
        logging.getLogger("RapidOCR").setLevel(logging.WARNING)     # one INFO line per image otherwise
        self.engine = RapidOCR()

    def read(self, array: np.ndarray) -> list[tuple[float, str]]:
        """-> [(left edge in pixels, text)] of each line found, in the engine's order."""
        if not (isinstance(array, np.ndarray) and array.dtype == np.uint8 and array.ndim == 3 and array.shape[2] == 3):
            raise ValueError("array: an RGB uint8 image")
        result = self.engine(np.ascontiguousarray(array))
        if result.txts is None:
            return []
        return [(float(min(p[0] for p in box)), str(text)) for box, text in zip(result.boxes, result.txts)]
