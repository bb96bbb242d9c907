"""What models give back, whatever made them (polymodal's own models, Hugging Face adapters,
engines): one small type per kind of answer, so callers never depend on who answered."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Answer:
    """A closed-vocabulary answer (VQA, text question answering) and its probability."""
    text: str
    score: float


@dataclass
class Caption:
    text: str
    score: float                 # the decoder's probability of the whole caption (guided, with guidance)


@dataclass
class Grounding:
    box: list[float]              # [x0, y0, x1, y1] in the input image's pixels
    score: float                  # probability that the box holds what the phrase names


@dataclass
class Transcript:
    text: str
    score: float        # a rough confidence (a recogniser's mean per-frame probability, 1.0 where none)


def pixel_box(box: list[float], width: int, height: int) -> list[float]:
    """A box in 0..1 image units -> pixels: edges in order (an untrained model may swap them)
    and inside the image."""
    x0, x1 = sorted((min(max(box[0], 0.0), 1.0) * width, min(max(box[2], 0.0), 1.0) * width))
    y0, y1 = sorted((min(max(box[1], 0.0), 1.0) * height, min(max(box[3], 0.0), 1.0) * height))
    return [round(x0, 2), round(y0, 2), round(x1, 2), round(y1, 2)]
