"""Image <-> latent: a small variational autoencoder (diffusers' AutoencoderKL) that maps a
64x64 scene to a 16x16x4 latent and back, so text-to-image diffusion can run on latents.

Why latents: a scene of flat shapes on a white ground is far more compressible than its
12,288 pixel values. Denoising 16x16 latents costs a CPU about a tenth of denoising pixels,
and the decoder, trained only to draw real scenes, turns a slightly-off latent into clean
flat colours where pixel-space diffusion leaves speckle (MACHINE_NOTES). The KL term is
kept tiny: it only keeps the latent space smooth, not a prior to sample from.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch

from ..core.config import Config
from ..core.errors import ConfigError
from .base import Pretrained
from .registry import MODEL_KINDS


@dataclass
class AutoencoderConfig(Config):
    image_size: int = 64
    channels: list[int] = field(default_factory=lambda: [16, 32, 64])   # one per level; each after the first halves
    latent_channels: int = 4
    kl_weight: float = 1e-6
    task: str = "autoencode"

    def __post_init__(self):
        if self.image_size % 2 ** (len(self.channels) - 1):
            raise ConfigError(f"autoencoder: image_size {self.image_size} does not halve "
                              f"{len(self.channels) - 1} times")

    @property
    def latent_size(self) -> int:
        return self.image_size // 2 ** (len(self.channels) - 1)


@MODEL_KINDS.register("autoencoder")
class ImageAutoencoder(Pretrained):
    kind = "autoencoder"
    config_class = AutoencoderConfig

    def __init__(self, config: AutoencoderConfig):
        super().__init__()
        from diffusers import AutoencoderKL
        self.config = config
        levels = len(config.channels)
        # No attention in the middle block: at 16 px it doubles the cost and flat shapes need no
        # long-range mixing to be reconstructed.
        self.vae = AutoencoderKL(
            in_channels=3, out_channels=3, down_block_types=("DownEncoderBlock2D",) * levels,
            up_block_types=("UpDecoderBlock2D",) * levels, block_out_channels=tuple(config.channels),
            layers_per_block=1, latent_channels=config.latent_channels, norm_num_groups=8,
            sample_size=config.image_size, mid_block_add_attention=False)

    @property
    def modalities(self) -> list[str]:
        return ["image"]

    def encode(self, images: torch.Tensor) -> torch.Tensor:
        """images [B, 3, H, W] in -1..1 -> latents [B, C, h, w] (the posterior's mean)."""
        return self.vae.encode(images).latent_dist.mean

    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        """latents -> images [B, 3, H, W], about -1..1 (clamp before showing)."""
        return self.vae.decode(latents).sample

    def forward(self, batch: dict) -> tuple[torch.Tensor, torch.Tensor]:
        """Training: images -> (reconstruction from a sampled latent, mean KL per image)."""
        posterior = self.vae.encode(batch["images"]).latent_dist
        return self.decode(posterior.sample()), posterior.kl().mean()
