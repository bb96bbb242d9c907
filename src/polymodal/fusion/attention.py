"""Cross-attention where many query rows share one context item (one image, many questions).

The context's keys and values are computed once per unique item; the queries of the rows
that share an item are packed side by side and attend to it together. Compared with copying
the image tokens to every question this saves the K/V projections (20x for sort-of-clevr)
and the copies, with the same result.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..layers import padding_mask


def group_slots(index: torch.Tensor, groups: int) -> tuple[torch.Tensor, int]:
    """For rows pointing at `groups` items: each row's slot within its item, and the most
    rows any item has."""
    order = torch.argsort(index, stable=True)
    counts = torch.bincount(index, minlength=groups)
    starts = torch.cumsum(counts, 0) - counts
    slot = torch.empty_like(index)
    slot[order] = torch.arange(len(index), device=index.device) - starts[index[order]]
    return slot, int(counts.max())


class SharedContextAttention(nn.Module):
    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.heads = heads
        self.q, self.kv, self.o = nn.Linear(dim, dim), nn.Linear(dim, 2 * dim), nn.Linear(dim, dim)

    def forward(self, x, context, context_mask, index=None):
        """x [N, L, D] queries; context [B, T, D], context_mask [B, T] (True = real);
        index [N] maps each row to its context item (None: row i uses item i)."""
        n, length, dim = x.shape
        b, t, _ = context.shape
        h = self.heads
        if index is None:
            index = torch.arange(n, device=x.device)
        slot, per_item = group_slots(index, b)
        packed = x.new_zeros(b, per_item, length, dim)
        packed[index, slot] = self.q(x)
        q = packed.view(b, per_item * length, h, dim // h).transpose(1, 2)
        k, v = self.kv(context).view(b, t, 2, h, dim // h).permute(2, 0, 3, 1, 4)
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=context_mask[:, None, None, :])
        out = out.transpose(1, 2).reshape(b, per_item, length, dim)[index, slot]
        return self.o(out)


class CrossAttentionLayer(nn.Module):
    """Pre-norm: self-attention among the query tokens, cross-attention to the context, MLP."""

    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.norm1, self.norm2, self.norm3 = nn.LayerNorm(dim), nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.self_attn = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.cross_attn = SharedContextAttention(dim, heads)
        self.mlp = nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(), nn.Linear(4 * dim, dim))

    def forward(self, x, mask, context, context_mask, index=None):
        y = self.norm1(x)
        x = x + self.self_attn(y, y, y, key_padding_mask=padding_mask(mask), need_weights=False)[0]
        x = x + self.cross_attn(self.norm2(x), context, context_mask, index)
        return x + self.mlp(self.norm3(x))
