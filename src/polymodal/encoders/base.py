"""The one encoder interface: every unimodal encoder returns an `Embedding`."""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn


@dataclass
class Embedding:
    """What a unimodal encoder gives the fusion stage.

    tokens: [B, T, D] sequence of token vectors (image patches/cells, words, audio frames)
    mask:   [B, T] bool, True where a token is real (False = padding)
    pooled: [B, D] one vector per item
    """

    tokens: torch.Tensor
    mask: torch.Tensor
    pooled: torch.Tensor
    index: torch.Tensor | None = None   # [N]: batch row -> row above, when items are shared

    @property
    def dim(self) -> int:
        return self.tokens.shape[-1]

    def shared(self, index: torch.Tensor) -> "Embedding":
        """Let several batch rows share one encoded item (one image, many questions),
        without copying its tokens: fusions that can use `index` avoid the copy."""
        return Embedding(self.tokens, self.mask, self.pooled, index)

    def expanded(self) -> "Embedding":
        """One row per batch item (copies shared tokens)."""
        if self.index is None:
            return self
        i = self.index
        return Embedding(self.tokens[i], self.mask[i], self.pooled[i])


class Encoder(nn.Module):
    """Base class. Subclasses set `modality`, `dim`, `config` (the JSON-able options they were
    built with, saved beside the weights) and `processor` (modality values -> the tensors
    forward takes), and implement forward(inputs) -> Embedding.

    `inputs` is what the modality's processor produces: a float image batch [B, 3, H, W],
    token ids [B, T] (0 = padding), or log-mel features [B, n_mels, frames].
    """

    modality: str = ""
    dim: int = 0
    config: dict
    processor: object
    side: int | None = None       # grid encoders: their tokens are the cells of a side x side grid

    @property
    def pretrained_part(self) -> nn.Module:
        """What a recipe's `init` for this encoder loads weights into: the whole encoder, or
        for an encoder that wraps another (the speech reader) the wrapped one."""
        return self

    @property
    def exported_part(self) -> "Encoder":
        """What `polymodal export --format onnx` runs in ONNX Runtime (its graph gives only an
        Embedding): the whole encoder, or for one whose model reads more of it than its
        Embedding (the speech reader's word logits) the encoder it wraps."""
        return self
