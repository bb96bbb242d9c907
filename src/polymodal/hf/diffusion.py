"""Stable-Diffusion-style diffusers pipeline folders (model_index.json) behind the same calls
as polymodal's own text-to-image model: `sample(prompts, seeds, steps, guidance, scheduler,
init, strength, mask)`, so `generate`, `edit` and `eval generate|edit` take either.

Text -> image runs StableDiffusionPipeline; an init image alone runs image-to-image
(SDEdit); an init image with a mask runs inpainting. All three share the folder's weights.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..core.errors import InputError, ModelNotFoundError
from .base import HFTaskConfig
from .loading import refuse_pickled


def is_diffusers_directory(directory: Path) -> bool:
    return (Path(directory) / "model_index.json").is_file()


class DiffusersTextToImage(nn.Module):
    SCHEDULERS = {"ddim": "DDIMScheduler", "dpm": "DPMSolverMultistepScheduler", "ddpm": "DDPMScheduler"}

    def __init__(self, pipe, directory: Path):
        super().__init__()
        self.pipe = pipe
        self.unet, self.vae, self.text_encoder = pipe.unet, pipe.vae, pipe.text_encoder   # counted as parameters
        self.config = HFTaskConfig("generate", str(directory))
        self.config.image_size = int(pipe.unet.config.sample_size) * int(pipe.vae_scale_factor)

    @classmethod
    def from_pretrained(cls, directory: Path) -> "DiffusersTextToImage":
        from diffusers import StableDiffusionPipeline
        refuse_pickled(directory)
        try:
            pipe = StableDiffusionPipeline.from_pretrained(str(directory), local_files_only=True, use_safetensors=True,
                                                           safety_checker=None, requires_safety_checker=False)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise ModelNotFoundError(f"{directory}: cannot load this diffusers pipeline ({reason})") from None
        pipe.set_progress_bar_config(disable=True)
        return cls(pipe.to(torch.float32), directory)

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def check_prompts(self, prompts: list[str]) -> None:
        limit = self.pipe.tokenizer.model_max_length
        for p in prompts:
            if len(self.pipe.tokenizer(p).input_ids) > limit:
                raise InputError(f"{p!r}: longer than this model's {limit} prompt tokens")

    def pipeline(self, kind: str, scheduler: str):
        import diffusers
        if scheduler not in self.SCHEDULERS:
            raise InputError(f"unknown scheduler {scheduler!r}; known: {', '.join(self.SCHEDULERS)}")
        cls = {"text": diffusers.StableDiffusionPipeline, "image": diffusers.StableDiffusionImg2ImgPipeline,
               "inpaint": diffusers.StableDiffusionInpaintPipeline}[kind]
        components = dict(self.pipe.components)
        components["scheduler"] = getattr(diffusers, self.SCHEDULERS[scheduler]).from_config(self.pipe.scheduler.config)
        pipe = cls(**components)
        pipe.set_progress_bar_config(disable=True)
        return pipe

    @torch.no_grad()
    def sample(self, prompts: list[str], seed: int | list[int] = 0, steps: int = 25, guidance: float = 3.0,
               scheduler_name: str = "ddim", init: torch.Tensor | None = None, strength: float = 1.0,
               mask: torch.Tensor | None = None) -> np.ndarray:
        from PIL import Image as PILImage
        seeds = [seed + i for i in range(len(prompts))] if isinstance(seed, int) else list(seed)
        generators = [torch.Generator().manual_seed(int(s)) for s in seeds]
        common = dict(prompt=list(prompts), num_inference_steps=steps, guidance_scale=guidance,
                      generator=generators, output_type="np")
        size = self.config.image_size
        if init is None:
            out = self.pipeline("text", scheduler_name)(height=size, width=size, **common)
        else:
            pictures = [PILImage.fromarray(((x.permute(1, 2, 0).clamp(-1, 1) + 1) * 127.5).round().byte().numpy())
                        for x in init]
            if mask is None:
                out = self.pipeline("image", scheduler_name)(image=pictures, strength=strength, **common)
            else:
                masks = [PILImage.fromarray((m[0].numpy() * 255).astype(np.uint8)) for m in mask]
                out = self.pipeline("inpaint", scheduler_name)(image=pictures, mask_image=masks, height=size,
                                                               width=size, strength=strength, **common)
        return (np.clip(out.images, 0, 1) * 255).round().astype(np.uint8)
