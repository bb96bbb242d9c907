"""What the aligner trains on besides whole captions: parts of them (one object, one
relation) and foils, texts false of their image by one binding.

Hard negatives (`hard_negatives` in the align task's options): a random batch rarely holds the
text that differs from an image's own in one binding ("a red square" beside a red circle and
a blue square), so a bag of colours and shapes scores as well as the scene. Foils add exactly
those texts, false of their image, so the embedding has to bind each colour to its shape.
"""
from __future__ import annotations

import re

import numpy as np
import torch

from ..data.shapes_preset import (
    OPPOSITE,
    SHAPES,
    allowed_pairs,
    indefinite,
    parse_caption,
)
from .image_text import ImageTextExample
from .metrics.caption import SceneTruth, describes

PARTIAL_TEXT = 0.5      # share of training texts that describe only part of the scene


def training_text(ex: ImageTextExample, rng: np.random.Generator) -> str:
    """The caption, or (PARTIAL_TEXT of the time, when the scene is known) one part of it:
    a single object ("a red circle") or a single relation ("a red circle left of a blue square")."""
    text = ex.captions[int(rng.integers(len(ex.captions)))]
    if ex.objects is None or rng.random() >= PARTIAL_TEXT:
        return text
    parts = [indefinite(f"{o['colour']} {o['shape']}") for o in ex.objects]
    parts += [f"{indefinite(' '.join(a))} {rel} {indefinite(' '.join(b))}" for a, rel, b in parse_caption(text).relations]
    return parts[int(rng.integers(len(parts)))]


def renamed(text: str, old: str, new: str) -> str:
    """`text` with its first mention of the object `old` naming `new`, article fixed."""
    def replace(m):
        return f"the {new}" if m.group(1) == "the" else indefinite(new)
    return re.sub(rf"\b(an?|the) {old}\b", replace, text, count=1)


def foil(text: str, ex: ImageTextExample, rng: np.random.Generator) -> str | None:
    """`text` with one thing changed so that it is false of the scene: an object's colour or
    shape taken from another object of the scene (a binding foil) or from any training pair,
    or a relation reversed. None when no change tried makes it false."""
    truth, facts = truth_of(ex), parse_caption(text)
    if truth is None or not facts.objects:
        return None
    training_pairs = allowed_pairs("train", SHAPES)     # never a held-out pair, even as a negative
    scene = [(o["colour"], o["shape"]) for o in ex.objects]
    for _ in range(8):
        colour, shape = facts.objects[int(rng.integers(len(facts.objects)))]
        if facts.relations and rng.random() < 0.25:
            a, rel, b = facts.relations[int(rng.integers(len(facts.relations)))]
            changed = text.replace(f"{' '.join(a)} {rel} ", f"{' '.join(a)} {OPPOSITE[rel]} ", 1)
        else:
            others = [o for o in scene if o != (colour, shape)]
            if others and rng.random() < 0.7:
                other = others[int(rng.integers(len(others)))]
                swaps = [(other[0], shape), (colour, other[1])]
            else:
                swaps = [training_pairs[int(rng.integers(len(training_pairs)))]]
            new = swaps[int(rng.integers(len(swaps)))]
            if new not in training_pairs or new == (colour, shape):
                continue
            changed = renamed(text, f"{colour} {shape}", " ".join(new))
        if changed != text and not describes(parse_caption(changed), truth):
            return changed
    return None


def truth_of(ex: ImageTextExample) -> SceneTruth | None:
    return SceneTruth.build(ex.captions[0], ex.objects) if ex.objects and ex.captions else None


def positives(texts: list[str], examples: list[ImageTextExample]) -> torch.Tensor:
    """[images, texts] bool: text j is true of image i (by the scene when known, else by
    being one of the image's own captions)."""
    parsed = [parse_caption(t) for t in texts]
    truths = [truth_of(ex) for ex in examples]
    out = torch.zeros(len(examples), len(texts), dtype=torch.bool)
    for i, (ex, truth) in enumerate(zip(examples, truths)):
        for j, (text, facts) in enumerate(zip(texts, parsed)):
            # its own captions always count (a manifest's wording may lie outside the grammar)
            out[i, j] = text in ex.captions or (truth is not None and describes(facts, truth))
    return out
