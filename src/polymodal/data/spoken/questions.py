"""Spoken questions for VQA on generated scenes: each question text is spoken in a fixed
number of renditions by the split's voices, and question k of scene i uses one of them. The
renditions' log-mel features are cached, since sort-of-clevr asks only 36 distinct questions.

Training has 256 renditions per question, other splits 32: with few training renditions a
model learns the clips rather than the speech (the vqa-spoken model card gives the figures)."""
from __future__ import annotations

from functools import lru_cache

import numpy as np

from ...modalities import Audio
from ..world import scene_rng
from .synthesis import RATE, speak
from .voices import draw_voice

VARIANTS = {"train": 256, "train-accents": 256}
DEFAULT_VARIANTS = 32


@lru_cache(maxsize=256)           # only until its features are cached
def question_audio(text: str, split: str, seed: int, variant: int):
    voice = draw_voice(split, scene_rng("spoken-question", f"{split}/{text}", seed, variant))
    return Audio(speak(text, voice), RATE, f"<{voice.label()}: {text!r}>")


@lru_cache(maxsize=16384)         # 36 questions x 256 training renditions, plus the other splits'
def question_features(text: str, split: str, seed: int, variant: int, processor) -> np.ndarray:
    """The processor's features of that rendition (processors are cached by identity)."""
    return processor.features(question_audio(text, split, seed, variant))


def variant_of(scene: int, question: int, split: str) -> int:
    return (scene * 20 + question) * 7919 % VARIANTS.get(split, DEFAULT_VARIANTS)
