"""Built-in image encoders: a small CNN (grid-cell tokens) and a small ViT (patch tokens)."""
from __future__ import annotations

import torch
from torch import nn

from ..core.errors import ConfigError
from ..layers import transformer
from ..processors.image import ImageProcessor
from .base import Embedding, Encoder
from .registry import ENCODERS


def coordinate_features(h: int, w: int) -> torch.Tensor:
    """[h*w, 3]: x, y in [-1, 1] and x^2 + y^2, so that attention scores can express
    squared distances between cells (a dot product of linear maps of these)."""
    ys, xs = torch.meshgrid(torch.linspace(-1, 1, h), torch.linspace(-1, 1, w), indexing="ij")
    xs, ys = xs.reshape(-1), ys.reshape(-1)
    return torch.stack([xs, ys, xs ** 2 + ys ** 2], dim=-1)


class CNNEncoder(Encoder):
    """Stride-2 conv stack; each cell of the final map is a token (with its coordinates).

    pooled is a linear map of the *flattened* grid, not a spatial average, so it keeps where
    things are: concatenated with a question it is the RN paper's CNN+MLP baseline.
    """

    modality = "image"

    def __init__(self, dim: int = 64, channels: tuple = (32, 64, 64, 64), image_size: int = 75,
                 coords: bool = True, strides: tuple | None = None, flat_pooled: bool = True, in_channels: int = 3):
        """flat_pooled: False makes pooled the mean of the cells, without the flattening head's
        weights (0.37 M at 75 px), for models whose fusion reads only the tokens. in_channels:
        3 for an image; a video's early fusion stacks several frames' channels."""
        super().__init__()
        strides = list(strides) if strides is not None else [2] * len(channels)
        if len(strides) != len(channels):
            raise ConfigError(f"cnn: {len(channels)} channels but {len(strides)} strides")
        self.config = dict(dim=dim, channels=list(channels), image_size=image_size, coords=coords, strides=strides)
        if not flat_pooled:
            self.config["flat_pooled"] = False      # written only when set: older configs stay as they were
        if in_channels != 3:
            self.config["in_channels"] = in_channels
        self.dim, self.processor = dim, ImageProcessor(image_size)
        convs, c_in, side = [], in_channels, image_size
        for c_out, stride in zip(channels, strides):
            convs += [nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1), nn.BatchNorm2d(c_out), nn.ReLU()]
            c_in, side = c_out, (side - 1) // stride + 1
        self.convs = nn.Sequential(*convs)
        self.side = side
        self.register_buffer("coords", coordinate_features(side, side), persistent=False)
        self.to_tokens = nn.Linear(c_in + (3 if coords else 0), dim)
        self.norm = nn.LayerNorm(dim)
        # Squeeze each cell to 16 features before flattening: keeps layout, not 1M+ weights.
        self.flat_pooled = flat_pooled
        if flat_pooled:
            self.cell_squeeze = nn.Linear(dim, 16)
            self.to_pooled = nn.Linear(side * side * 16, dim)

    def forward(self, images: torch.Tensor) -> Embedding:
        maps = self.convs(images)                                   # [B, C, s, s]
        cells = maps.flatten(2).transpose(1, 2)                     # [B, s*s, C]
        if self.config["coords"]:
            cells = torch.cat([cells, self.coords.expand(len(cells), -1, -1)], dim=-1)
        tokens = self.norm(self.to_tokens(cells))
        mask = torch.ones(tokens.shape[:2], dtype=torch.bool, device=tokens.device)
        pooled = self.to_pooled(self.cell_squeeze(tokens).flatten(1)) if self.flat_pooled else tokens.mean(1)
        return Embedding(tokens, mask, pooled)


class ViTEncoder(Encoder):
    """Patch embedding + learned positions + pre-norm transformer; pooled = the CLS token."""

    modality = "image"

    def __init__(self, dim: int = 64, image_size: int = 64, patch_size: int = 8, layers: int = 2,
                 heads: int = 4):
        super().__init__()
        self.config = dict(dim=dim, image_size=image_size, patch_size=patch_size, layers=layers, heads=heads)
        self.dim, self.processor = dim, ImageProcessor(image_size)
        self.patch = nn.Conv2d(3, dim, patch_size, stride=patch_size)
        n = (image_size // patch_size) ** 2
        self.cls = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos = nn.Parameter(torch.randn(1, n + 1, dim) * 0.02)
        self.blocks = transformer(dim, layers, heads)
        self.norm = nn.LayerNorm(dim)

    def forward(self, images: torch.Tensor) -> Embedding:
        patches = self.patch(images).flatten(2).transpose(1, 2)
        x = torch.cat([self.cls.expand(len(patches), -1, -1), patches], dim=1) + self.pos
        x = self.norm(self.blocks(x))
        mask = torch.ones(len(x), x.shape[1] - 1, dtype=torch.bool, device=x.device)
        return Embedding(x[:, 1:], mask, x[:, 0])


ENCODERS.register("cnn")(CNNEncoder)
ENCODERS.register("vit")(ViTEncoder)
