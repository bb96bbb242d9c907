"""Early fusion: modalities meet before any task-specific processing.

- early:feature  pooled vectors merged by an operator, then an MLP (with a CNN's flattened
                 grid as the image vector, this is the RN paper's CNN+MLP);
- early:token    every modality's tokens, tagged with a modality embedding, go through one
                 transformer together; a learned [fuse] token reads out the result.
"""
from __future__ import annotations

import torch
from torch import nn

from ..layers import mlp, padding_mask, transformer
from .base import Fusion
from .registry import FUSIONS, OPS


@FUSIONS.register("early:feature")
class FeatureFusion(Fusion):
    def __init__(self, dims, out_dim, op: str = "concat", hidden: int = 256, layers: int = 2):
        super().__init__(dims, out_dim)
        self.config = dict(op=op, hidden=hidden, layers=layers)
        self.op = OPS.build(op, [dims[m] for m in self.modalities], hidden)
        self.mlp = mlp([hidden] * layers + [out_dim])
        self.act = nn.GELU()

    def forward(self, embs) -> torch.Tensor:
        return self.mlp(self.act(self.op([embs[m].pooled for m in self.modalities])))


@FUSIONS.register("early:token")
class TokenFusion(Fusion):
    def __init__(self, dims, out_dim, dim: int = 64, layers: int = 2, heads: int = 4):
        super().__init__(dims, out_dim)
        self.config = dict(dim=dim, layers=layers, heads=heads)
        self.proj = nn.ModuleDict({m: nn.Linear(d, dim) for m, d in dims.items()})
        self.tags = nn.ParameterDict({m: nn.Parameter(torch.randn(dim) * 0.02) for m in dims})
        self.fuse_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.blocks = transformer(dim, layers, heads)
        self.out = nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, out_dim))

    def forward(self, embs) -> torch.Tensor:
        batch = len(next(iter(embs.values())).tokens)
        tokens = [self.fuse_token.expand(batch, -1, -1)]
        masks = [torch.ones(batch, 1, dtype=torch.bool, device=tokens[0].device)]
        for m in self.modalities:
            tokens.append(self.proj[m](embs[m].tokens) + self.tags[m])
            masks.append(embs[m].mask)
        x = self.blocks(torch.cat(tokens, 1), src_key_padding_mask=padding_mask(torch.cat(masks, 1)))
        return self.out(x[:, 0])
