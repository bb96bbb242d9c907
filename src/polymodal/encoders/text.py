"""The built-in text encoder: a small transformer over a word tokenizer built from data."""
from __future__ import annotations

import torch
from torch import nn

from ..core.errors import ConfigError
from ..layers import padding_mask, transformer
from ..processors.text import WordTokenizer
from .base import Embedding, Encoder
from .registry import ENCODERS

POOLINGS = ("cls", "flatten")


class TextTransformer(Encoder):
    """Token + learned position embeddings, pre-norm transformer.

    pooled: the <cls> token, or with pooling="flatten" a linear map of every position (each
    squeezed to 16 features), which keeps where in the text each word is, like the CNN's
    pooled grid: for texts of a fixed layout (a generated caption) an MLP can then read a
    given clause without attention having to learn to find it first."""

    modality = "text"

    def __init__(self, vocab: list[str], dim: int = 64, layers: int = 2, heads: int = 4, max_length: int = 32,
                 pooling: str = "cls"):
        super().__init__()
        if pooling not in POOLINGS:
            raise ConfigError(f"transformer pooling must be one of {', '.join(POOLINGS)}, got {pooling!r}")
        self.processor = WordTokenizer(vocab, max_length)
        self.config = dict(vocab=self.processor.vocab, dim=dim, layers=layers, heads=heads, max_length=max_length,
                           pooling=pooling)
        self.dim, self.pooling, self.max_length = dim, pooling, max_length
        self.embed = nn.Embedding(len(self.processor.vocab), dim, padding_idx=0)
        self.pos = nn.Parameter(torch.randn(1, max_length, dim) * 0.02)
        self.blocks = transformer(dim, layers, heads)
        self.norm = nn.LayerNorm(dim)
        if pooling == "flatten":
            self.squeeze = nn.Linear(dim, 16)
            self.flat = nn.Linear(max_length * 16, dim)

    def forward(self, inputs: dict) -> Embedding:
        return self.encoded(self.embed(inputs["input_ids"]), inputs["attention_mask"].bool())

    def encode_words(self, probabilities: torch.Tensor, mask: torch.Tensor) -> Embedding:
        """Words given as probabilities over the vocabulary [B, T, V] (a speech reader's) ->
        what forward gives for them: each position's word embedding is the probabilities'
        mix of the vocabulary's, so a certain word is encoded exactly as typed."""
        return self.encoded(probabilities @ self.embed.weight, mask.bool())

    def encoded(self, x: torch.Tensor, mask: torch.Tensor) -> Embedding:
        x = x + self.pos[:, : x.shape[1]]
        x = self.norm(self.blocks(x, src_key_padding_mask=padding_mask(mask)))
        if self.pooling == "cls":
            return Embedding(x, mask, x[:, 0])
        cells = self.squeeze(x) * mask.unsqueeze(-1)                           # padding adds nothing
        cells = nn.functional.pad(cells, (0, 0, 0, self.max_length - x.shape[1]))
        return Embedding(x, mask, self.flat(cells.flatten(1)))


ENCODERS.register("transformer")(TextTransformer)
