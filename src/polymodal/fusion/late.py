"""Late fusion: one predictor per modality; only their outputs are combined.

The per-modality outputs live in the head's input space and the head is linear, so
combining them here is combining per-modality logits. Modalities absent from the input
(e.g. no question at inference) are left out of the combination instead of failing.

- late:mean      plain average
- late:weighted  learned global weight per modality (softmax)
- late:gate      a per-item gate computed from each modality's own embedding (softmax)
"""
from __future__ import annotations

import torch
from torch import nn

from ..core.errors import InputError
from ..layers import mlp
from .base import Fusion
from .registry import FUSIONS


class LateFusion(Fusion):
    combine = "mean"
    allows_missing = True

    def __init__(self, dims, out_dim, hidden: int = 128):
        super().__init__(dims, out_dim)
        self.config = dict(hidden=hidden)
        self.predictors = nn.ModuleDict({m: mlp([d, hidden, out_dim]) for m, d in dims.items()})
        # Only the combination's own parameters exist: unused ones would break DDP.
        if self.combine == "weighted":
            self.weights = nn.Parameter(torch.zeros(len(dims)))
        if self.combine == "gate":
            self.gates = nn.ModuleDict({m: nn.Linear(d, 1) for m, d in dims.items()})

    def forward(self, embs) -> torch.Tensor:
        present = [m for m in self.modalities if m in embs]
        if not present:
            raise InputError("late fusion got none of its modalities " + ", ".join(self.modalities))
        outs = torch.stack([self.predictors[m](embs[m].pooled) for m in present], dim=1)  # [B, M, D]
        return (self.mixing(embs, present).unsqueeze(-1) * outs).sum(1)

    def mixing(self, embs, present) -> torch.Tensor:
        """[B, M] weights over the present modalities, summing to one."""
        batch = len(embs[present[0]].pooled)
        if self.combine == "mean":
            return torch.full((batch, len(present)), 1.0 / len(present), device=embs[present[0]].pooled.device)
        if self.combine == "weighted":
            idx = [self.modalities.index(m) for m in present]
            return self.weights[idx].softmax(0).expand(batch, -1)
        return torch.cat([self.gates[m](embs[m].pooled) for m in present], dim=-1).softmax(-1)


for _name in ("mean", "weighted", "gate"):
    FUSIONS.register(f"late:{_name}")(type(f"Late{_name.title()}", (LateFusion,), {"combine": _name}))
