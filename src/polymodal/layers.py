"""Small reusable modules shared by encoders and fusion."""
from __future__ import annotations

import torch
from torch import nn


def mlp(dims: list[int], dropout: float = 0.0) -> nn.Sequential:
    """Linear-GELU stack; no activation after the last layer."""
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(dims[:-1], dims[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(dims) - 2:
            layers += [nn.GELU(), nn.Dropout(dropout)] if dropout else [nn.GELU()]
    return nn.Sequential(*layers)


def transformer(dim: int, layers: int, heads: int, dropout: float = 0.0) -> nn.TransformerEncoder:
    # norm_first: pre-norm trains stably from scratch without warm-up tricks.
    layer = nn.TransformerEncoderLayer(dim, heads, dim * 4, dropout, activation="gelu",
                                       batch_first=True, norm_first=True)
    return nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)


def padding_mask(mask: torch.Tensor) -> torch.Tensor:
    """Our masks are True for real tokens; torch attention wants True for padding."""
    return ~mask


def masked_mean(tokens: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean over real tokens only; an all-padding row gives zeros, not NaN."""
    weights = mask.unsqueeze(-1).to(tokens.dtype)
    return (tokens * weights).sum(1) / weights.sum(1).clamp_min(1.0)


def to_device(batch, device):
    """Move a (nested dict of) tensor(s) to a device."""
    if torch.is_tensor(batch):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, dict):
        return {k: to_device(v, device) for k, v in batch.items()}
    return batch
