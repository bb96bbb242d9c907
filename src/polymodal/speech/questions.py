"""Spoken questions for VQA on generated scenes: each question text is spoken in VARIANTS
renditions by the split's voices, and question k of scene i uses one of them. The renditions
and their log-mel features are cached, since sort-of-clevr asks only 36 distinct questions."""
from __future__ import annotations

from functools import lru_cache

import numpy as np

VARIANTS = 32


@lru_cache(maxsize=2048)
def question_audio(text: str, split: str, seed: int, variant: int):
    from ..data.world import scene_rng
    from ..modalities import Audio
    from .spoken import RATE, speak
    from .voices import draw_voice
    voice = draw_voice(split, scene_rng("spoken-question", f"{split}/{text}", seed, variant))
    return Audio(speak(text, voice), RATE, f"<{voice.label()}: {text!r}>")


@lru_cache(maxsize=4096)
def question_features(text: str, split: str, seed: int, variant: int, processor) -> np.ndarray:
    """The processor's features of that rendition (processors are cached by identity)."""
    return processor.features(question_audio(text, split, seed, variant))


def variant_of(scene: int, question: int) -> int:
    return (scene * 20 + question) * 7919 % VARIANTS
