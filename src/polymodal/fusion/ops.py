"""Operators that merge one pooled vector per modality into one: concat, sum, GMU, TFN, LMF.

Each is built with the input widths and an output width and maps a list of [B, d_i]
tensors to [B, out_dim].
"""
from __future__ import annotations

import torch
from torch import nn

from .registry import OPS


@OPS.register("concat")
class Concat(nn.Module):
    def __init__(self, dims: list[int], out_dim: int):
        super().__init__()
        self.proj = nn.Linear(sum(dims), out_dim)

    def forward(self, xs: list[torch.Tensor]) -> torch.Tensor:
        return self.proj(torch.cat(xs, dim=-1))


@OPS.register("sum")
class Sum(nn.Module):
    def __init__(self, dims: list[int], out_dim: int):
        super().__init__()
        self.projs = nn.ModuleList(nn.Linear(d, out_dim) for d in dims)

    def forward(self, xs: list[torch.Tensor]) -> torch.Tensor:
        return sum(p(x) for p, x in zip(self.projs, xs))


@OPS.register("gmu")
class GatedMultimodalUnit(nn.Module):
    """Arevalo et al. 2017: per-dimension softmax gates choose how much each modality gives."""

    def __init__(self, dims: list[int], out_dim: int):
        super().__init__()
        self.projs = nn.ModuleList(nn.Linear(d, out_dim) for d in dims)
        self.gate = nn.Linear(sum(dims), out_dim * len(dims))

    def forward(self, xs: list[torch.Tensor]) -> torch.Tensor:
        h = torch.stack([torch.tanh(p(x)) for p, x in zip(self.projs, xs)], dim=1)  # [B, M, D]
        z = self.gate(torch.cat(xs, dim=-1)).view_as(h).softmax(dim=1)
        return (z * h).sum(1)


@OPS.register("tfn")
class TensorFusion(nn.Module):
    """Zadeh et al. 2017: outer product of [x_i; 1] keeps every uni-, bi- and tri-modal
    interaction. Inputs are first squeezed to `rank_dim` so the product stays small."""

    def __init__(self, dims: list[int], out_dim: int, rank_dim: int = 16):
        super().__init__()
        self.squeeze = nn.ModuleList(nn.Linear(d, rank_dim) for d in dims)
        self.proj = nn.Linear((rank_dim + 1) ** len(dims), out_dim)

    def forward(self, xs: list[torch.Tensor]) -> torch.Tensor:
        product = None
        for s, x in zip(self.squeeze, xs):
            z = torch.cat([s(x), torch.ones_like(x[:, :1])], dim=-1)
            product = z if product is None else (product.unsqueeze(-1) * z.unsqueeze(1)).flatten(1)
        return self.proj(product)


@OPS.register("lmf")
class LowRankFusion(nn.Module):
    """Liu et al. 2018: the TFN weight tensor factorised into `rank` modality-specific factors."""

    def __init__(self, dims: list[int], out_dim: int, rank: int = 8):
        super().__init__()
        self.factors = nn.ParameterList(nn.Parameter(torch.randn(rank, d + 1, out_dim) * (d + 1) ** -0.5)
                                        for d in dims)
        self.rank_weights = nn.Parameter(torch.full((rank,), 1.0 / rank))
        self.bias = nn.Parameter(torch.zeros(out_dim))

    def forward(self, xs: list[torch.Tensor]) -> torch.Tensor:
        fused = None
        for factor, x in zip(self.factors, xs):
            z = torch.cat([x, torch.ones_like(x[:, :1])], dim=-1)
            proj = torch.einsum("bd,rdo->rbo", z, factor)
            fused = proj if fused is None else fused * proj
        return torch.einsum("r,rbo->bo", self.rank_weights, fused) + self.bias
