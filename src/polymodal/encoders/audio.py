"""A small from-scratch audio encoder over log-mel features: conv subsampling + Transformer."""
from __future__ import annotations

import torch
from torch import nn

from ..core.errors import InputError
from ..layers import masked_mean
from ..processors.audio import AudioProcessor, LogMelConfig
from .base import Embedding, Encoder
from .registry import ENCODERS

SUBSAMPLE = 4  # two stride-2 convolutions


@ENCODERS.register("logmel")
class LogMelEncoder(Encoder):
    """features [B, n_mels, F] + mask [B, F] -> tokens [B, ceil(ceil(F/2)/2), dim].

    Padding never leaks into real tokens: padded frames are zeroed before each convolution
    (so a real frame next to padding sees the same zeros as at a clip's true end) and the
    Transformer ignores padded keys. Hence a clip's output does not depend on its batch.
    """

    modality = "audio"

    def __init__(self, dim: int = 64, layers: int = 2, heads: int = 4, n_mels: int = 64,
                 sample_rate: int = 16000, max_frames: int = 3000):
        super().__init__()
        self.config = dict(dim=dim, layers=layers, heads=heads, n_mels=n_mels,
                           sample_rate=sample_rate, max_frames=max_frames)
        self.dim = dim
        self.n_mels = n_mels
        self.max_frames = max_frames
        self.processor = AudioProcessor(LogMelConfig(sample_rate=sample_rate, n_mels=n_mels),
                                        max_frames=max_frames)
        # kernel 3, stride 2, padding 1: output length ceil(L/2), matching mask[:, ::2].
        self.conv1 = nn.Conv1d(n_mels, dim, kernel_size=3, stride=2, padding=1)
        self.conv2 = nn.Conv1d(dim, dim, kernel_size=3, stride=2, padding=1)
        self.act = nn.GELU()
        # Learned positions; max_frames (30 s at a 10 ms hop by default) bounds the table.
        self.positions = nn.Parameter(torch.zeros(1, -(-max_frames // SUBSAMPLE), dim))
        nn.init.normal_(self.positions, std=0.02)
        layer = nn.TransformerEncoderLayer(dim, heads, dim_feedforward=4 * dim, dropout=0.1,
                                           activation="gelu", batch_first=True, norm_first=True)
        # norm_first leaves outputs un-normalised, hence the final LayerNorm.
        self.transformer = nn.TransformerEncoder(layer, layers, norm=nn.LayerNorm(dim),
                                                 enable_nested_tensor=False)

    @staticmethod
    def downsample_mask(mask: torch.Tensor) -> torch.Tensor:
        """The mask after one stride-2 conv: a prefix of length L becomes one of ceil(L/2)."""
        return mask[:, ::2]

    def _check(self, features: torch.Tensor, mask: torch.Tensor) -> None:
        if features.dim() != 3 or features.shape[1] != self.n_mels:
            raise InputError(f"audio features must be [B, {self.n_mels}, frames], got {list(features.shape)}")
        if mask.shape != (features.shape[0], features.shape[2]):
            raise InputError(f"audio mask {list(mask.shape)} does not match features {list(features.shape)}")
        if features.shape[2] > self.max_frames:
            raise InputError(f"audio has {features.shape[2]} frames; this encoder takes at most {self.max_frames}")

    def forward(self, inputs: dict) -> Embedding:
        features, mask = inputs["features"], inputs["mask"].bool()
        self._check(features, mask)
        x = features * mask.unsqueeze(1).to(features.dtype)
        x = self.act(self.conv1(x))
        mask = self.downsample_mask(mask)
        x = x * mask.unsqueeze(1).to(x.dtype)
        x = self.act(self.conv2(x))
        mask = self.downsample_mask(mask)
        tokens = x.transpose(1, 2) + self.positions[:, : x.shape[2]]
        ignore = ~mask
        ignore[:, 0] &= mask.any(1)  # an all-padding row would give NaN attention; its output is zeroed below
        tokens = self.transformer(tokens, src_key_padding_mask=ignore)
        tokens = tokens * mask.unsqueeze(-1).to(tokens.dtype)  # padded tokens are zeros, not junk
        return Embedding(tokens=tokens, mask=mask, pooled=masked_mean(tokens, mask))
