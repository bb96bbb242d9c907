"""Hybrid fusion: modalities exchange information inside the network, at chosen points.

- hybrid:cross-attention  the query modality's tokens (the question) attend to the others'
- hybrid:film             the query modality's pooled vector scales and shifts the others'
                          tokens (Perez et al. 2018)
- hybrid:relation         a relation network: an MLP over every pair of context tokens with
                          the query, summed (Santoro et al. 2017)
- hybrid:bottleneck       attention bottlenecks (Nagrani et al. 2021): each modality has its
                          own layers; from `fusion_layer` on they share only `bottlenecks` tokens;
                          `op` (a fusion operator) may merge the modalities' final summaries
"""
from __future__ import annotations

import torch
from torch import nn

from ..core.errors import ConfigError, InputError
from ..layers import masked_mean, mlp, padding_mask, transformer
from .attention import CrossAttentionLayer
from .base import Fusion, shared_context, split_roles
from .registry import FUSIONS, OPS


def context_tokens(embs, modalities, proj, type_emb):
    """Concatenate the tokens of several modalities after projecting and tagging each."""
    tokens = torch.cat([proj[m](embs[m].tokens) + type_emb[m] for m in modalities], dim=1)
    return tokens, torch.cat([embs[m].mask for m in modalities], dim=1)


@FUSIONS.register("hybrid:cross-attention")
class CrossAttentionFusion(Fusion):
    """query: the modality that asks (its tokens attend to the others'), or a list of them:
    then whichever of them a batch has (a typed or a spoken question) ask together, and the
    model answers with any one of them missing."""

    uses_shared_index = True      # one encoded image can serve many questions uncopied

    def __init__(self, dims, out_dim, query: str | list = "text", dim: int = 64, layers: int = 2, heads: int = 4):
        super().__init__(dims, out_dim)
        self.config = dict(query=query, dim=dim, layers=layers, heads=heads)
        self.queries = [query] if isinstance(query, str) else list(query)
        for q in self.queries:
            split_roles(self.modalities, q, "hybrid:cross-attention")
        self.context = [m for m in self.modalities if m not in self.queries]
        if not self.context:
            raise ConfigError(f"hybrid:cross-attention needs a modality besides the query ({', '.join(self.queries)})")
        self.allows_missing = len(self.queries) > 1
        self.proj = nn.ModuleDict({m: nn.Linear(d, dim) for m, d in dims.items()})
        tagged = self.context + (self.queries if len(self.queries) > 1 else [])
        self.tags = nn.ParameterDict({m: nn.Parameter(torch.randn(dim) * 0.02) for m in tagged})
        self.blocks = nn.ModuleList(CrossAttentionLayer(dim, heads) for _ in range(layers))
        self.out = nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, out_dim))

    def forward(self, embs) -> torch.Tensor:
        asking = [m for m in self.queries if m in embs]
        missing = [m for m in self.context if m not in embs]
        if not asking or missing:
            need = f"one of {', '.join(self.queries)}" if not asking else ", ".join(missing)
            raise InputError(f"hybrid:cross-attention needs {need} as input too")
        qs = {m: embs[m].expanded() for m in asking}
        x = torch.cat([self.proj[m](qs[m].tokens) + (self.tags[m] if m in self.tags else 0) for m in asking], dim=1)
        mask = torch.cat([qs[m].mask for m in asking], dim=1)
        ctx_embs, index = shared_context(embs, self.context)
        ctx, ctx_mask = context_tokens(ctx_embs, self.context, self.proj, self.tags)
        for block in self.blocks:
            x = block(x, mask, ctx, ctx_mask, index)
        return self.out(masked_mean(x, mask))


@FUSIONS.register("hybrid:film")
class FiLMFusion(Fusion):
    def __init__(self, dims, out_dim, query: str = "text", dim: int = 64, layers: int = 3):
        super().__init__(dims, out_dim)
        self.config = dict(query=query, dim=dim, layers=layers)
        self.query, self.context = split_roles(self.modalities, query, "hybrid:film")
        self.proj = nn.ModuleDict({m: nn.Linear(dims[m], dim) for m in self.context})
        self.tags = nn.ParameterDict({m: nn.Parameter(torch.randn(dim) * 0.02) for m in self.context})
        self.blocks = nn.ModuleList(nn.Linear(dim, dim) for _ in range(layers))
        self.norms = nn.ModuleList(nn.LayerNorm(dim) for _ in range(layers))
        self.film = nn.Linear(dims[query], 2 * dim * layers)   # gamma, beta for every block
        self.out = mlp([dim, dim, out_dim])

    def forward(self, embs) -> torch.Tensor:
        x, mask = context_tokens(embs, self.context, self.proj, self.tags)
        gammas, betas = self.film(embs[self.query].pooled).unsqueeze(1).chunk(2, dim=-1)
        for i, (block, norm) in enumerate(zip(self.blocks, self.norms)):
            g, b = (t[..., i * x.shape[-1]:(i + 1) * x.shape[-1]] for t in (gammas, betas))
            x = x + torch.relu((1 + g) * norm(block(x)) + b)
        pooled = x.masked_fill(~mask.unsqueeze(-1), float("-inf")).amax(1)
        return self.out(pooled)


@FUSIONS.register("hybrid:relation")
class RelationFusion(Fusion):
    """g's first layer is linear in (o_i, o_j, q), so it is split into three projections
    computed once per token (and once per image when images are shared) and summed per
    pair: the same function as concatenating every pair, without building [T*T, 3D] inputs.
    Cost still grows with the square of the context length: give it a coarse grid (5x5)."""

    uses_shared_index = True

    def __init__(self, dims, out_dim, query: str = "text", hidden: int = 256, g_layers: int = 4):
        super().__init__(dims, out_dim)
        self.config = dict(query=query, hidden=hidden, g_layers=g_layers)
        self.query, self.context = split_roles(self.modalities, query, "hybrid:relation")
        width = dims[self.context[0]]
        self.proj = nn.ModuleDict({m: nn.Linear(dims[m], width) for m in self.context})
        self.tags = nn.ParameterDict({m: nn.Parameter(torch.zeros(width)) for m in self.context})
        self.left, self.right = nn.Linear(width, hidden), nn.Linear(width, hidden, bias=False)
        self.question = nn.Linear(dims[query], hidden, bias=False)
        self.g = mlp([hidden] * g_layers)     # g_layers - 1 more layers after the split one
        self.f = mlp([hidden, hidden, out_dim])

    def forward(self, embs) -> torch.Tensor:
        ctx_embs, index = shared_context(embs, self.context)
        o, mask = context_tokens(ctx_embs, self.context, self.proj, self.tags)     # [B, T, D]
        pairs = self.left(o).unsqueeze(2) + self.right(o).unsqueeze(1)            # [B, T, T, H]
        pair_mask = mask.unsqueeze(2) & mask.unsqueeze(1)
        if index is not None:
            pairs, pair_mask = pairs[index], pair_mask[index]
        q = self.question(embs[self.query].expanded().pooled)                      # [N, H]
        g = self.g(torch.relu(pairs + q[:, None, None, :]))
        relations = (g * pair_mask.unsqueeze(-1)).flatten(1, 2).sum(1)
        return self.f(torch.relu(relations))


@FUSIONS.register("hybrid:bottleneck")
class BottleneckFusion(Fusion):
    def __init__(self, dims, out_dim, dim: int = 64, layers: int = 4, fusion_layer: int = 2,
                 bottlenecks: int = 4, heads: int = 4, op: str | None = None):
        super().__init__(dims, out_dim)
        if not 0 <= fusion_layer < layers or bottlenecks < 1:
            raise ConfigError(f"hybrid:bottleneck needs 0 <= fusion_layer < layers and bottlenecks >= 1, "
                              f"got fusion_layer={fusion_layer}, layers={layers}, bottlenecks={bottlenecks}")
        self.config = dict(dim=dim, layers=layers, fusion_layer=fusion_layer, bottlenecks=bottlenecks, heads=heads,
                           op=op)
        self.fusion_layer = fusion_layer
        self.proj = nn.ModuleDict({m: nn.Linear(d, dim) for m, d in dims.items()})
        self.stacks = nn.ModuleDict({m: nn.ModuleList(transformer(dim, 1, heads) for _ in range(layers))
                                     for m in dims})
        self.bottleneck = nn.Parameter(torch.randn(1, bottlenecks, dim) * 0.02)
        # The modalities' final summaries are averaged, or merged by a fusion operator.
        self.merge = OPS.build(op, [dim] * len(dims), dim) if op else None
        self.out = nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, out_dim))

    def forward(self, embs) -> torch.Tensor:
        xs = {m: self.proj[m](embs[m].tokens) for m in self.modalities}
        masks = {m: embs[m].mask for m in self.modalities}
        batch = len(next(iter(xs.values())))
        z = self.bottleneck.expand(batch, -1, -1)
        n = z.shape[1]
        z_mask = torch.ones(batch, n, dtype=torch.bool, device=z.device)
        for i in range(len(self.stacks[self.modalities[0]])):
            if i < self.fusion_layer:
                for m in self.modalities:
                    xs[m] = self.stacks[m][i](xs[m], src_key_padding_mask=padding_mask(masks[m]))
                continue
            # Each modality attends to its own tokens plus the shared bottleneck; the
            # bottleneck's new value is the average of what each modality wrote into it.
            new_z = []
            for m in self.modalities:
                joint = torch.cat([xs[m], z], dim=1)
                joint = self.stacks[m][i](joint, src_key_padding_mask=padding_mask(torch.cat([masks[m], z_mask], 1)))
                xs[m], z_m = joint[:, :-n], joint[:, -n:]
                new_z.append(z_m)
            z = torch.stack(new_z).mean(0)
        summaries = [masked_mean(xs[m], masks[m]) for m in self.modalities]
        pooled = self.merge(summaries) if self.merge else torch.stack(summaries).mean(0)
        return self.out(pooled)
