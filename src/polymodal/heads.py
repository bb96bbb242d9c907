"""Task heads, registered by name: what turns a fused vector into a prediction."""
from __future__ import annotations

from torch import nn

from .core.registry import Registry

HEADS: Registry = Registry("head")


@HEADS.register("classify")
class ClassifierHead(nn.Module):
    """Linear map to one logit per label. Linear on purpose: late fusion's per-modality
    outputs are summed before it, so they stay per-modality logits."""

    def __init__(self, in_dim: int, labels: list[str]):
        super().__init__()
        self.labels = list(labels)
        self.linear = nn.Linear(in_dim, len(labels))

    def forward(self, x):
        return self.linear(x)


@HEADS.register("regress")
class RegressionHead(nn.Module):
    """One number per item, in the target's standardised units (the model's config keeps the
    target's mean and spread; tasks/table.py turns it back)."""

    def __init__(self, in_dim: int, labels: list[str]):
        super().__init__()
        self.labels = list(labels)
        self.linear = nn.Linear(in_dim, 1)

    def forward(self, x):
        return self.linear(x).squeeze(-1)
