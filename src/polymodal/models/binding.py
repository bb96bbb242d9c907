"""Factored (tensor-product) embeddings for the aligner: each image cell and each word gives
three small factors, and an item's embedding is the sum over its cells or words of their
outer product, a [colour x shape x place] tensor flattened.

Why: a CLIP-style aligner that pools a whole scene into one vector scores a bag of colours
and shapes about as well as the scene. Here the similarity of an image and a text is a sum,
over (cell, word), of (colour . colour) x (shape . shape) x (place . place), so a colour
counts only together with the shape in its own cell. The image's first factor reads only the
colours of its pixels, so it cannot learn shape; the second reads the encoder's cells; the
third only where a cell is. The names say what the data makes of the factors, not what the
code forces, except colour. On the text side, factors read from the words' contextual states
(FactoredTextPool) bind the pairs training showed but not new ones; WordFactorTextPool makes
colour and shape linear in context-free word vectors, so that an unseen pair is scored from
its parts (the align-shapes model card compares the three).
"""
from __future__ import annotations

import math

import torch
from torch import nn

from ..core.errors import ConfigError
from ..encoders.image import coordinate_features


def outer_sum(a: torch.Tensor, b: torch.Tensor, p: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """[B, N, A], [B, N, Bd], [B, N, P], weights [B, N] -> [B, A*Bd*P]: sum over the N
    positions of the weighted outer products."""
    return torch.einsum("bn,bna,bnc,bnp->bacp", weights, a, b, p).flatten(1)


class FactoredImagePool(nn.Module):
    def __init__(self, token_dim: int, factors: tuple[int, int, int]):
        super().__init__()
        a, b, p = factors
        # colour: a per-pixel MLP (1x1 convolutions) on 2x2 means (a quarter of the cost at
        # full size, which was half the training step), averaged over each cell
        self.colour = nn.Sequential(nn.AvgPool2d(2), nn.Conv2d(3, 16, 1), nn.GELU(), nn.Conv2d(16, a, 1))
        self.shape = nn.Linear(token_dim, b)
        self.place = nn.Sequential(nn.Linear(3, 32), nn.GELU(), nn.Linear(32, p))

    def forward(self, pixels: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        side = math.isqrt(tokens.shape[1])
        if side * side != tokens.shape[1]:
            raise ConfigError("factored alignment needs an image encoder whose tokens form a square grid")
        colour = nn.functional.adaptive_avg_pool2d(self.colour(pixels), side).flatten(2).transpose(1, 2)
        place = self.place(coordinate_features(side, side).to(tokens)).expand(len(tokens), -1, -1)
        weights = torch.ones(tokens.shape[:2], device=tokens.device, dtype=tokens.dtype)
        return outer_sum(colour, self.shape(tokens), place, weights)


class FactoredTextPool(nn.Module):
    def __init__(self, token_dim: int, factors: tuple[int, int, int]):
        super().__init__()
        self.heads = nn.ModuleList(nn.Linear(token_dim, d) for d in factors)

    def forward(self, tokens: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        a, b, p = (head(tokens) for head in self.heads)
        return outer_sum(a, b, p, mask.to(tokens.dtype))



class WordFactorTextPool(nn.Module):
    """Text factors linear in context-free word vectors: shape from the word itself, colour
    from the word and the one before it (a width-2 convolution), place from the word's
    contextual state. "a blue square" is then the sum of what "blue" and "square" give, seen
    together in training or not; read from the contextual states instead, an unseen pair
    embedded like a seen one ("a blue square" as "a blue circle")."""

    WIDTH = 32                    # size of the context-free word vectors

    def __init__(self, token_dim: int, vocab_size: int, factors: tuple[int, int, int]):
        super().__init__()
        a, b, p = factors
        self.words = nn.Embedding(vocab_size, self.WIDTH, padding_idx=0)
        self.colour = nn.Conv1d(self.WIDTH, a, 2)
        self.shape = nn.Linear(self.WIDTH, b)
        self.place = nn.Linear(token_dim, p)

    def forward(self, tokens: torch.Tensor, mask: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
        words = self.words(ids)                                             # [B, T, WIDTH]
        before_and_now = nn.functional.pad(words.transpose(1, 2), (1, 0))  # word i-1 beside word i
        colour = self.colour(before_and_now).transpose(1, 2)
        return outer_sum(colour, self.shape(words), self.place(tokens), mask.to(tokens.dtype))
