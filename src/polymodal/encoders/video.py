"""Video encoders: a small CNN over frames, with the frames fused with each other early, late
or hybrid (the second axis of fusion that video adds; docs/video.md).

- early   tubelets: `tubelet` consecutive frames enter the CNN together (their 3 x tubelet
          channels stacked, which is a 3D convolution spanning them), one token per cell per
          tubelet, tagged with its time;
- late    each frame alone through the CNN, then each cell's tokens averaged over the frames:
          what is where, but not in which order;
- hybrid  each frame alone through the CNN, each token tagged with its frame's time, then
          `layers` transformer layers of attention across time (each cell with itself in the
          other frames); the fusion's cross-attention from the question then reads every
          frame's tokens.

With `differences`, each frame enters the CNN with its change from the frame before beside
its colours (6 channels; the first frame's change is zero): where something moved, and where
it stopped moving, is then in every frame's own pixels rather than only across frames. This is
a cue of motion, so the temporal fusion table leaves it off; a late-fused encoder with it is no
longer blind to which way things move.
"""
from __future__ import annotations

import torch
from torch import nn

from ..core.errors import ConfigError
from ..layers import transformer
from ..processors.video import VideoProcessor
from .base import Embedding, Encoder
from .image import CNNEncoder
from .registry import ENCODERS

TEMPORAL = ("early", "late", "hybrid")


@ENCODERS.register("frames")
class FramesEncoder(Encoder):
    modality = "video"

    def __init__(self, temporal: str = "hybrid", frames: int = 16, dim: int = 64, channels: tuple = (32, 64, 64, 64),
                 strides: tuple | None = None, image_size: int = 64, tubelet: int = 4, layers: int = 2,
                 heads: int = 4, differences: bool = False):
        super().__init__()
        if temporal not in TEMPORAL:
            raise ConfigError(f"frames encoder: temporal must be one of {', '.join(TEMPORAL)}, got {temporal!r}")
        if not isinstance(frames, int) or frames < 1:
            raise ConfigError(f"frames encoder: frames must be a positive integer, got {frames!r}")
        if temporal == "early" and (not isinstance(tubelet, int) or tubelet < 1 or frames % tubelet):
            raise ConfigError(f"frames encoder: tubelet {tubelet!r} must divide frames ({frames})")
        if not isinstance(differences, bool):
            raise ConfigError(f"frames encoder: differences must be true or false, got {differences!r}")
        self.config = dict(temporal=temporal, frames=frames, dim=dim, channels=list(channels),
                           strides=list(strides) if strides is not None else None, image_size=image_size,
                           tubelet=tubelet, layers=layers, heads=heads, differences=differences)
        self.temporal, self.frames, self.dim, self.differences = temporal, frames, dim, differences
        self.step = tubelet if temporal == "early" else 1
        self.channels = 6 if differences else 3          # a frame's channels as the CNN takes them
        self.cnn = CNNEncoder(dim, channels, image_size, coords=True, strides=strides, flat_pooled=False,
                              in_channels=self.channels * self.step)
        self.side = None                     # tokens are cells x times, not one grid
        self.times = frames // self.step     # token time steps
        self.processor = VideoProcessor(frames, image_size)
        if temporal != "late":
            self.time = nn.Parameter(torch.randn(self.times, dim) * 0.02)
        if temporal == "hybrid":
            self.across_time = transformer(dim, layers, heads)

    def forward(self, clips: torch.Tensor) -> Embedding:
        """clips: [B, T, 3, H, W] -> tokens [B, cells, D] (late) or [B, times x cells, D]."""
        b, t = clips.shape[:2]
        if t != self.frames:
            raise ConfigError(f"frames encoder: built for {self.frames} frames, given {t}")
        if self.differences:
            before = torch.cat([clips[:, :1], clips[:, :-1]], dim=1)
            clips = torch.cat([clips, clips - before], dim=2)          # [B, T, 6, H, W]
        x = clips.reshape(b * self.times, self.channels * self.step, *clips.shape[3:])
        cells = self.cnn(x).tokens                                   # [B * times, C, D]
        cells = cells.reshape(b, self.times, cells.shape[1], self.dim)
        if self.temporal == "late":
            tokens = cells.mean(1)                                   # order is gone
        else:
            cells = cells + self.time[None, :, None, :]
            if self.temporal == "hybrid":                            # each cell attends to itself over time
                c = cells.shape[2]
                seq = cells.permute(0, 2, 1, 3).reshape(b * c, self.times, self.dim)
                cells = self.across_time(seq).reshape(b, c, self.times, self.dim).permute(0, 2, 1, 3)
            tokens = cells.reshape(b, self.times * cells.shape[2], self.dim)
        mask = torch.ones(tokens.shape[:2], dtype=torch.bool, device=tokens.device)
        return Embedding(tokens, mask, tokens.mean(1))
