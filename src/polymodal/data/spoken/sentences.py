"""What the spoken world says: the embedded world's questions, captions, referring phrases
and answers, each with a voice of the split. Deterministic from (split, seed, index)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...speech.espeak import Voice
from .. import shapes_preset, sort_of_clevr
from ..world import scene_rng
from .voices import draw_voice

KINDS = ("question", "caption", "phrase", "answer")


@dataclass(frozen=True)
class Utterance:
    text: str
    voice: Voice
    kind: str


def utterance(split: str, seed: int, index: int) -> Utterance:
    rng = scene_rng("spoken", split, seed, index)
    kind = KINDS[index % len(KINDS)]
    if kind == "question":
        qa = sort_of_clevr.make_scene(rng).questions[int(rng.integers(20))]
        text = qa.question
    elif kind == "answer":
        text = sort_of_clevr.ANSWERS[int(rng.integers(len(sort_of_clevr.ANSWERS)))]
    else:
        scene = shapes_preset.make_scene(rng, split)
        text = scene.caption if kind == "caption" else scene.phrases[int(rng.integers(len(scene.phrases)))].text
    return Utterance(text, draw_voice(split, rng), kind)


def utterances(split: str, seed: int, n: int) -> list[Utterance]:
    return [utterance(split, seed, i) for i in range(n)]


def sentence_rng(split: str, seed: int, index: int) -> np.random.Generator:
    """A second stream per utterance, for noise and augmentation."""
    return scene_rng("spoken-noise", split, seed, index)
