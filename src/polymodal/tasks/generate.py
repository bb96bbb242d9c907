"""Text -> image generation: a prompt describing every object of a scene -> the scene.

Training pairs each rendered scene with its prompt; the model learns to predict the noise
added at a random diffusion step. Evaluation draws images for prompts and reads them back
(data.scene_parser) to check every object and relation the prompt names.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..errors import InputError
from ..processors.image import ImageProcessor
from . import TASKS
from .image_text import open_image


@dataclass
class GenerateExample:
    prompt: str
    image: object = None          # the rendered scene (training and KID), a path or an array
    row: int | None = None


def load_examples(spec: str, seed: int = 0, n: int = 1000, columns: dict | None = None,
                  on_bad_rows: str = "fail", need_answers: bool = True):
    """`shapes:shapes:<split>` (each scene's prompt), or a manifest with prompt (+ image) columns."""
    if spec.startswith("shapes:"):
        from ..data.world import parse_spec, shapes
        preset, split = parse_spec(spec)
        if preset != "shapes":
            raise InputError(f"{spec}: prompts come with the shapes preset (shapes:shapes:<split>)")
        return [GenerateExample(s.prompt, s.image) for s in shapes(preset, split, seed, n)], None
    from ..data.manifest import read_manifest
    required = ("prompt", "image") if need_answers else ("prompt",)
    manifest = read_manifest(spec, required, columns, on_bad_rows, decode_files=True)
    return [GenerateExample(r["prompt"], r.get("image"), r.get("_row")) for r in manifest.rows], manifest


def generate(model, prompts: list[str], seed: int = 0, steps: int = 25, guidance: float = 3.0,
             scheduler: str = "ddim", batch_size: int = 16, progress: bool = False) -> list[np.ndarray]:
    """Images for prompts, in batches; prompt i's noise comes from seed + i, so an image does
    not depend on the batch it fell in."""
    from tqdm.auto import tqdm
    out = []
    for start in tqdm(range(0, len(prompts), batch_size), disable=not progress, desc="drawing"):
        chunk = prompts[start:start + batch_size]
        out += list(model.sample(chunk, [seed + start + i for i in range(len(chunk))], steps, guidance, scheduler))
    return out


@TASKS.register("generate")
class GenerateTask:
    name = "generate"
    curve_metrics = ("prompt_accuracy",)
    load_examples = staticmethod(load_examples)

    @staticmethod
    def vocabulary(examples) -> tuple[list[str], list[str]]:
        return [ex.prompt for ex in examples], []

    @staticmethod
    def modalities(examples) -> list[str]:
        return ["text"]

    @staticmethod
    def build_model(spec: dict, examples):
        from ..data.shapes_preset import grammar_words
        from ..models.diffusion import DiffusionConfig, TextToImageDiffusion
        from ..processors.text import split_words
        words = sorted({w for ex in examples for w in split_words(ex.prompt)} | set(grammar_words()))
        return TextToImageDiffusion(DiffusionConfig.from_dict({**spec, "vocab": spec.get("vocab") or words}))

    @staticmethod
    def make_batch(model, examples, rng, cfg):
        if any(ex.image is None for ex in examples):
            raise InputError("training needs an image for every prompt")
        size = model.config.image_size
        images = ImageProcessor(size)([open_image(ex.image) for ex in examples])
        drop = rng.random(len(examples)) < model.config.prompt_dropout
        prompts = ["" if d else ex.prompt for ex, d in zip(examples, drop)]
        tokens = model.text.processor(prompts)
        seed = int(rng.integers(2 ** 31))
        g = torch.Generator().manual_seed(seed)
        noise = torch.randn(images.shape, generator=g)
        timesteps = torch.randint(0, model.config.train_timesteps, (len(examples),), generator=g)
        noisy = model.noise_schedule.add_noise(images, noise, timesteps)
        return {"noisy": noisy, "timesteps": timesteps, **tokens}, noise

    @staticmethod
    def loss(predicted, noise):
        return torch.nn.functional.mse_loss(predicted.float(), noise)

    @staticmethod
    def evaluate(model, examples, batch_size=16, device=None, progress=False, steps: int = 20,
                 guidance: float = 3.0, scheduler: str = "ddim", seed: int = 0) -> dict:
        from .generate_metrics import prompt_accuracy
        prompts = [ex.prompt for ex in examples]
        images = generate(model, prompts, seed, steps, guidance, scheduler, batch_size, progress)
        return {**prompt_accuracy(prompts, images), "steps": steps, "guidance": guidance, "scheduler": scheduler}
