"""Which eSpeak NG voices speak the embedded world in each split.

Accents and voice variants are disjoint across splits, so a recogniser evaluated on `test`
has never heard its speakers: training hears three accents with five variants; validation
a fourth accent; test three more accents with variants training never used. Speaking rate
and pitch are drawn per utterance.
"""
from __future__ import annotations

import numpy as np

from ...speech.espeak import Voice

SPLIT_VOICES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {   # split -> (accents, variants)
    "train": (("en-us", "en", "en-gb-x-rp"), ("m1", "m2", "m3", "f1", "f2")),
    "val": (("en-gb-x-gbclan",), ("m4", "f3")),
    "test": (("en-gb-scotland", "en-029", "en-gb-x-gbcwmd"), ("m5", "m7", "f4")),
}
SPLIT_VOICES["compositional"] = SPLIT_VOICES["test"]
# Training voices widened with four more accents: eSpeak's New York English, and its German,
# Dutch and Afrikaans voices reading the English text; none is a validation or test accent.
# Spoken VQA trains on them (`spoken: train-accents` in its recipe; its model card measures
# what they add). The recogniser keeps the plain training voices.
SPLIT_VOICES["train-accents"] = (SPLIT_VOICES["train"][0] + ("en-us-nyc", "de", "nl", "af"), SPLIT_VOICES["train"][1])
RATE_RANGE = (140, 200)         # words per minute
PITCH_RANGE = (30, 70)


def draw_voice(split: str, rng: np.random.Generator) -> Voice:
    accents, variants = SPLIT_VOICES[split]
    return Voice(accents[int(rng.integers(len(accents)))], variants[int(rng.integers(len(variants)))],
                 int(rng.integers(RATE_RANGE[0], RATE_RANGE[1] + 1)), int(rng.integers(PITCH_RANGE[0], PITCH_RANGE[1] + 1)))


def all_voices(split: str) -> list[str]:
    accents, variants = SPLIT_VOICES[split]
    return [f"{a}+{v}" for a in accents for v in variants]
