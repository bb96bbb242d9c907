"""The built-in text encoder: a small transformer over a word tokenizer built from data."""
from __future__ import annotations

import torch
from torch import nn

from ..layers import padding_mask, transformer
from ..processors.text import WordTokenizer
from . import ENCODERS
from .base import Embedding, Encoder


class TextTransformer(Encoder):
    """Token + learned position embeddings, pre-norm transformer; pooled = the <cls> token."""

    modality = "text"

    def __init__(self, vocab: list[str], dim: int = 64, layers: int = 2, heads: int = 4, max_length: int = 32):
        super().__init__()
        self.processor = WordTokenizer(vocab, max_length)
        self.config = dict(vocab=self.processor.vocab, dim=dim, layers=layers, heads=heads, max_length=max_length)
        self.dim = dim
        self.embed = nn.Embedding(len(self.processor.vocab), dim, padding_idx=0)
        self.pos = nn.Parameter(torch.randn(1, max_length, dim) * 0.02)
        self.blocks = transformer(dim, layers, heads)
        self.norm = nn.LayerNorm(dim)

    def forward(self, inputs: dict) -> Embedding:
        ids = inputs["input_ids"]
        mask = inputs["attention_mask"].bool()
        x = self.embed(ids) + self.pos[:, : ids.shape[1]]
        x = self.norm(self.blocks(x, src_key_padding_mask=padding_mask(mask)))
        return Embedding(x, mask, x[:, 0])


ENCODERS.register("transformer")(TextTransformer)
