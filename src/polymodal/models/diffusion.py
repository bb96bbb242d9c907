"""Text -> image: a conditional denoising diffusion model on diffusers' components.

A small transformer reads the prompt (word tokens); a diffusers UNet2DConditionModel
denoises a 64x64 image or, when the config names an autoencoder (models/autoencoder.py,
trained first and frozen here), the image's 16x16 latent, which the autoencoder's decoder
turns into the picture (latent diffusion). The UNet attends to the prompt's tokens only at its
low-resolution levels (cross-attention at 64 px costs 17x on a CPU and is not needed to
place flat shapes). Training drops the prompt 10% of the time, so sampling can use
classifier-free guidance: out = uncond + g * (cond - uncond), for a predicted noise or v. Any diffusers scheduler
named in SCHEDULERS samples from it; the same seed gives the same image.

With `layout_dim`, the model draws from a layout as well as the text (as layout-to-image
models such as GLIGEN do): the UNet also reads, beside the noisy sample, a map of where each
named object stands, each cell holding how much of it the object's box covers times a
learned embedding of the object's colour and shape words. Training takes the layout from the
scene; at sampling the caller gives it (tasks/generate.py plans one from the prompt; an edit
keeps the scene's own). The generate-shapes model card says what the layout adds.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from ..core.config import Config
from ..core.errors import ConfigError, InputError
from ..encoders.text import TextTransformer
from ..processors.image import to_uint8
from .autoencoder import AutoencoderConfig, ImageAutoencoder
from .base import Pretrained
from .registry import MODEL_KINDS

SCHEDULERS = {"ddpm": "DDPMScheduler", "ddim": "DDIMScheduler", "dpm": "DPMSolverMultistepScheduler"}
# A latent model predicts v (Salimans & Ho 2022): from a predicted noise, the clean-sample
# estimate at high noise divides by sqrt(alpha_bar) (about 0.02), so small errors become wild
# latents; pixels hide this by clipping to -1..1, latents have no such range.
PREDICTIONS = ("epsilon", "v_prediction")
GUIDANCE = 2.0      # classifier-free guidance by default: generate-shapes met the most held-out prompts at 2
                    # (tried 1.5-5; docs/generation.md)


@dataclass
class DiffusionConfig(Config):
    vocab: list[str]                      # prompt words (built from data)
    image_size: int = 64
    channels: list[int] = field(default_factory=lambda: [32, 64, 64, 64])    # UNet widths, one per level
    attention_levels: list[bool] = field(default_factory=lambda: [False, False, True, True])
    text_dim: int = 64
    text_layers: int = 2
    max_length: int = 40                  # prompt tokens
    prompt_dropout: float = 0.1           # share of training prompts replaced by "" (for guidance)
    train_timesteps: int = 1000
    autoencoder: dict | None = None       # its AutoencoderConfig: diffuse its latents, not pixels
    latent_mean: list[float] | None = None   # per latent channel, measured on the data: the UNet
    latent_std: list[float] | None = None    # sees (latent - mean) / std, every channel at unit spread
    prediction: str = "epsilon"           # what the UNet predicts: "epsilon" (the noise) or
                                          # "v_prediction" (well-conditioned at high noise, see below)
    layout_dim: int = 0                   # 0: text only; N: also an N-channel map of the objects' boxes
    task: str = "generate"

    def __post_init__(self):
        if len(self.channels) != len(self.attention_levels):
            raise ConfigError(f"diffusion: {len(self.channels)} channel widths but "
                              f"{len(self.attention_levels)} attention_levels")
        if self.prediction not in PREDICTIONS:
            raise ConfigError(f"diffusion: prediction must be one of {', '.join(PREDICTIONS)}, got {self.prediction!r}")
        if self.autoencoder and self.autoencoder.get("image_size", 64) != self.image_size:
            raise ConfigError(f"diffusion: image_size {self.image_size} but the autoencoder's is "
                              f"{self.autoencoder['image_size']}")


def scheduler(name: str, timesteps: int, clip: bool = True, prediction: str = "epsilon"):
    """clip: whether a step may clip its estimate of the clean sample to -1..1 (right for
    pixels; latents spread wider, so a latent model turns it off)."""
    import inspect

    import diffusers
    if name not in SCHEDULERS:
        raise InputError(f"unknown scheduler {name!r}; known: {', '.join(SCHEDULERS)}")
    cls = getattr(diffusers, SCHEDULERS[name])
    options = {"clip_sample": clip} if "clip_sample" in inspect.signature(cls.__init__).parameters else {}
    return cls(num_train_timesteps=timesteps, prediction_type=prediction, **options)


@MODEL_KINDS.register("diffusion")
class TextToImageDiffusion(Pretrained):
    kind = "diffusion"
    config_class = DiffusionConfig

    def __init__(self, config: DiffusionConfig):
        super().__init__()
        from diffusers import UNet2DConditionModel
        self.config = config
        self.text = TextTransformer(config.vocab, config.text_dim, config.text_layers, heads=4,
                                    max_length=config.max_length)
        config.vocab = self.text.config["vocab"]
        self.autoencoder = None
        space, size = 3, config.image_size
        if config.autoencoder:
            self.autoencoder = ImageAutoencoder(AutoencoderConfig.from_dict(config.autoencoder)).requires_grad_(False)
            space, size = self.autoencoder.config.latent_channels, self.autoencoder.config.latent_size
        if size % 2 ** (len(config.channels) - 1):
            raise ConfigError(f"diffusion: the UNet's input ({size} px) does not halve {len(config.channels) - 1} times")
        self.space_shape = (space, size, size)      # what the UNet denoises: pixels or latents
        self.word_index = {w: i for i, w in enumerate(config.vocab)}
        self.layout_words = nn.Embedding(len(config.vocab), config.layout_dim) if config.layout_dim else None
        down = ["CrossAttnDownBlock2D" if a else "DownBlock2D" for a in config.attention_levels]
        up = ["CrossAttnUpBlock2D" if a else "UpBlock2D" for a in reversed(config.attention_levels)]
        self.unet = UNet2DConditionModel(
            sample_size=size, in_channels=space + config.layout_dim, out_channels=space, layers_per_block=1,
            block_out_channels=tuple(config.channels), down_block_types=tuple(down), up_block_types=tuple(up),
            mid_block_type="UNetMidBlock2DCrossAttn", cross_attention_dim=config.text_dim,
            attention_head_dim=8, norm_num_groups=8)
        self.noise_schedule = scheduler("ddpm", config.train_timesteps, prediction=config.prediction)  # training's noising

    @property
    def modalities(self) -> list[str]:
        return ["text"]

    @property
    def draws_layouts(self) -> bool:
        """Whether it draws from a layout of the objects as well as the prompt."""
        return self.layout_words is not None

    def check_prompts(self, prompts: list[str]) -> None:
        """An unknown word or an over-long prompt is an input error, raised before any drawing."""
        self.text.processor(prompts)

    def encode_prompts(self, prompts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """-> (token states [B, T, D], mask [B, T]); "" is the unconditional prompt."""
        tokens = self.text.processor(prompts)
        emb = self.text({k: v.to(self.device) for k, v in tokens.items()})
        return emb.tokens, emb.mask

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def to_space(self, images: torch.Tensor) -> torch.Tensor:
        """Images [B, 3, H, W] in -1..1 -> what the UNet denoises (the images themselves, or latents)."""
        if self.autoencoder is None:
            return images
        mean, std = self.latent_stats()
        return (self.autoencoder.encode(images) - mean) / std

    def to_images(self, x: torch.Tensor) -> torch.Tensor:
        if self.autoencoder is None:
            return x
        mean, std = self.latent_stats()
        return self.autoencoder.decode(x * std + mean)

    def latent_stats(self) -> tuple[torch.Tensor, torch.Tensor]:
        channels = self.space_shape[0]
        mean = torch.tensor(self.config.latent_mean or [0.0] * channels, device=self.device)
        std = torch.tensor(self.config.latent_std or [1.0] * channels, device=self.device)
        return mean.view(1, -1, 1, 1), std.view(1, -1, 1, 1)

    def layout_map(self, layouts: list[list]) -> torch.Tensor:
        """Objects (each with colour, shape and box() in image pixels) per row -> [B, layout_dim,
        S, S] over the denoised space's S x S cells: the share of each cell the object's box
        covers, times the embedding of its colour word plus that of its shape word."""
        cells = self.space_shape[1]
        scale = cells / self.config.image_size
        edges = torch.arange(cells + 1, dtype=torch.float32, device=self.device)
        out = torch.zeros(len(layouts), self.config.layout_dim, cells, cells, device=self.device)
        for row, objects in enumerate(layouts):
            for o in objects:
                missing = [w for w in (o.colour, o.shape) if w not in self.word_index]
                if missing:
                    raise InputError(f"layout object {o.colour} {o.shape}: this model does not know {missing[0]!r}")
                x0, y0, x1, y1 = (v * scale for v in o.box())
                cover_x = (edges[1:].clamp(max=x1) - edges[:-1].clamp(min=x0)).clamp(0, 1)
                cover_y = (edges[1:].clamp(max=y1) - edges[:-1].clamp(min=y0)).clamp(0, 1)
                ids = torch.tensor([self.word_index[o.colour], self.word_index[o.shape]], device=self.device)
                what = self.layout_words(ids).sum(0)
                out[row] += what[:, None, None] * (cover_y[:, None] * cover_x[None, :])
        return out

    def unet_input(self, x: torch.Tensor, layout: torch.Tensor | None) -> torch.Tensor:
        return x if layout is None else torch.cat([x, layout], 1)

    def forward(self, batch: dict) -> torch.Tensor:
        """batch: noisy [B, *space_shape] (images in -1..1, or scaled latents), timesteps [B],
        input_ids/attention_mask of the prompts, and for a layout model `layouts` (objects per row)."""
        emb = self.text({"input_ids": batch["input_ids"], "attention_mask": batch["attention_mask"]})
        layout = self.layout_map(batch["layouts"]) if self.layout_words is not None else None
        return self.unet(self.unet_input(batch["noisy"], layout), batch["timesteps"], encoder_hidden_states=emb.tokens,
                         encoder_attention_mask=emb.mask.float()).sample

    @torch.no_grad()
    def sample(self, prompts: list[str], seed: int | list[int] = 0, steps: int = 25, guidance: float = GUIDANCE,
               scheduler_name: str = "ddim", init: torch.Tensor | None = None, strength: float = 1.0,
               mask: torch.Tensor | None = None, layouts: list[list] | None = None) -> np.ndarray:
        """prompts -> uint8 [B, H, W, 3]. Row i's noise comes from its seed alone (seed + i, or
        seed[i]): the same seed gives the same image, whatever else is in the batch.

        init (images in -1..1), strength < 1: start part-way, from `init` noised to that
        level (SDEdit), so the result keeps the init's layout. mask [B, 1, H, W] (1 = may
        change): outside it, every step is reset to `init` noised to the step's level
        (inpainting), and the drawn image is pasted back onto `init` through the mask, so those
        pixels end as they were (through an autoencoder the kept latents alone would not
        guarantee that). layouts: a layout model's objects per row (required by such a model);
        guidance's unconditional half has neither prompt nor layout."""
        self.eval()
        sched = scheduler(scheduler_name, self.config.train_timesteps, self.autoencoder is None, self.config.prediction)
        sched.set_timesteps(steps)
        seeds = [seed + i for i in range(len(prompts))] if isinstance(seed, int) else list(seed)
        noise = torch.stack([torch.randn(self.space_shape, generator=torch.Generator().manual_seed(int(s)))
                             for s in seeds]).to(self.device)
        timesteps = sched.timesteps
        if init is not None:
            init = init.to(self.device)
            start = self.to_space(init)
            skip = min(len(timesteps) - 1, int(round(len(timesteps) * (1 - strength))))
            timesteps = timesteps[skip:]
            x = sched.add_noise(start, noise, timesteps[:1].repeat(len(prompts)))
        else:
            x = noise * sched.init_noise_sigma
        space_mask = None
        if mask is not None and init is not None:
            mask = mask.to(self.device)
            # a latent cell may change if any pixel it covers may
            space_mask = nn.functional.adaptive_max_pool2d(mask, self.space_shape[1:])
        cond, cond_mask = self.encode_prompts(list(prompts))
        uncond, uncond_mask = self.encode_prompts([""] * len(prompts))
        width = max(cond.shape[1], uncond.shape[1])
        pad = lambda t: nn.functional.pad(t, (0, 0, 0, width - t.shape[1]))  # noqa: E731
        padm = lambda m: nn.functional.pad(m, (0, width - m.shape[1]))  # noqa: E731
        states = torch.cat([pad(uncond), pad(cond)])
        states_mask = torch.cat([padm(uncond_mask), padm(cond_mask)]).float()
        layout = None
        if self.layout_words is not None:
            if layouts is None or len(layouts) != len(prompts):
                raise InputError("a layout model draws from a layout per prompt (tasks.generate.draw plans them)")
            drawn = self.layout_map(layouts)
            layout = torch.cat([torch.zeros_like(drawn), drawn])
        for i, t in enumerate(timesteps):
            model_in = self.unet_input(sched.scale_model_input(torch.cat([x, x]), t), layout)
            out = self.unet(model_in, t.to(self.device).expand(len(model_in)), encoder_hidden_states=states,
                            encoder_attention_mask=states_mask).sample
            uncond_out, cond_out = out.chunk(2)     # noise or v: guidance mixes either the same way
            x = sched.step(uncond_out + guidance * (cond_out - uncond_out), t, x).prev_sample
            if space_mask is not None:
                keep = start
                if i + 1 < len(timesteps):
                    keep = sched.add_noise(keep, noise, timesteps[i + 1:i + 2].repeat(len(prompts)))
                x = space_mask * x + (1 - space_mask) * keep
        images = self.to_images(x)
        if space_mask is not None:
            images = mask * images + (1 - mask) * init
        return to_uint8(images)
