"""What every fusion strategy shares."""
from __future__ import annotations

from torch import nn

from ..core.errors import ConfigError


class Fusion(nn.Module):
    """dims: width of each modality's embedding; out_dim: width of the fused vector."""

    allows_missing = False        # True: answers when some modalities are absent (late fusion)
    uses_shared_index = False     # True: handles Embedding.index itself (no copies needed)

    def __init__(self, dims: dict[str, int], out_dim: int):
        super().__init__()
        if not dims:
            raise ConfigError("fusion needs at least one modality")
        self.modalities = sorted(dims)
        self.dims, self.out_dim = dict(dims), out_dim


def split_roles(modalities: list[str], query: str, strategy: str) -> tuple[str, list[str]]:
    """Hybrid strategies let one modality (e.g. the question) steer the others."""
    if query not in modalities:
        raise ConfigError(f"{strategy}: query modality {query!r} is not among {modalities}")
    others = [m for m in modalities if m != query]
    if not others:
        raise ConfigError(f"{strategy} needs a second modality besides {query!r}")
    return query, others


def shared_context(embs: dict, modalities: list[str]) -> tuple[dict, object]:
    """The context modalities' embeddings and the index they share (None: one row each).
    If they are shared differently, they are expanded to one row per item."""
    ctx = {m: embs[m] for m in modalities}
    indexes = {id(e.index) for e in ctx.values()}
    if len(indexes) > 1:
        return {m: e.expanded() for m, e in ctx.items()}, None
    return ctx, next(iter(ctx.values())).index
