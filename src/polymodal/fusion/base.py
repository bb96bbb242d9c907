"""What every fusion strategy shares."""
from __future__ import annotations

from torch import nn

from ..errors import ConfigError


class Fusion(nn.Module):
    """dims: width of each modality's embedding; out_dim: width of the fused vector."""

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
