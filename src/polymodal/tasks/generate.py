"""Text -> image generation: a prompt describing every object of a scene -> the scene.

Training pairs each rendered scene with its prompt (and, for a layout model, its objects:
where each stands); the model learns to predict the noise (or v) added at a random
diffusion step. Drawing plans a layout model's layout from the prompt with the world's
placement (data.shapes_preset.plan_layout). Evaluation draws images for prompts and reads
them back (data.scene_parser) to check every object and relation the prompt names.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch
from tqdm.auto import tqdm

from ..core.errors import InputError
from ..data.manifest import read_manifest
from ..data.shapes_preset import ShapeObject, grammar_words, plan_layout
from ..data.world import parse_spec, shapes
from ..loading import load_model, resolve
from ..models.autoencoder import ImageAutoencoder
from ..models.diffusion import GUIDANCE, DiffusionConfig, TextToImageDiffusion
from ..processors.image import ImageProcessor
from ..processors.text import split_words
from .align import embed_images
from .base import TrainableTask
from .image_text import checked_objects, open_image
from .metrics.generate import kid, prompt_accuracy
from .registry import TASKS

LAYOUT_SEED = 1701      # a prompt's layout is planned from (its image's seed, this): same seed, same plan


@dataclass
class GenerateExample:
    prompt: str
    image: object = None          # the rendered scene (training and KID), a path or an array
    row: int | None = None
    objects: list | None = None   # the scene's objects (ShapeObject), where a layout model learns them


def manifest_objects(value, row) -> list | None:
    """A manifest's `objects` column (checked as image_text checks it) -> ShapeObjects."""
    objects = checked_objects(value, row)
    return None if objects is None else [
        ShapeObject(o["colour"], o["shape"], round((o["box"][0] + o["box"][2]) / 2), round((o["box"][1] + o["box"][3]) / 2),
                    max(1, round((o["box"][2] - o["box"][0]) / 2))) for o in objects]


def load_examples(spec: str, seed: int = 0, n: int = 1000, columns: dict | None = None,
                  on_bad_rows: str = "fail", need_answers: bool = True):
    """`shapes:shapes:<split>` (each scene's prompt), or a manifest with prompt (+ image) columns."""
    if spec.startswith("shapes:"):
        preset, split = parse_spec(spec)
        if preset != "shapes":
            raise InputError(f"{spec}: prompts come with the shapes preset (shapes:shapes:<split>)")
        return [GenerateExample(s.prompt, s.image, objects=s.objects) for s in shapes(preset, split, seed, n)], None
    required = ("prompt", "image") if need_answers else ("prompt",)
    manifest = read_manifest(spec, required, columns, on_bad_rows, decode_files=True)
    return [GenerateExample(r["prompt"], r.get("image"), r.get("_row"), manifest_objects(r.get("objects"), r.get("_row")))
            for r in manifest.rows], manifest


def draws_layouts(model) -> bool:
    return isinstance(model, TextToImageDiffusion) and model.draws_layouts


def plan_layouts(prompts: list[str], seeds: list[int]) -> list[list[ShapeObject]]:
    """A layout per prompt, planned from the prompt with its image's seed (same seed, same plan)."""
    return [plan_layout(p, np.random.default_rng([int(s), LAYOUT_SEED])) for p, s in zip(prompts, seeds)]


def check_prompts(model, prompts: list[str]) -> None:
    """An unknown word, an over-long prompt or (for a layout model) one whose layout cannot be
    planned is an input error, raised before any drawing."""
    model.check_prompts(prompts)
    if draws_layouts(model):
        plan_layouts(prompts, [0] * len(prompts))


def draw(model, prompts: list[str], seed: int | list[int] = 0, steps: int = 25, guidance: float = GUIDANCE,
         scheduler: str = "ddim", batch_size: int = 16, progress: bool = False) -> list[np.ndarray]:
    """Images for prompts, in batches. Prompt i's noise comes from seed + i (or seed[i]), so an
    image does not depend on the batch it fell in."""
    seeds = [seed + i for i in range(len(prompts))] if isinstance(seed, int) else [int(s) for s in seed]
    out = []
    for start in tqdm(range(0, len(prompts), batch_size), disable=not progress, desc="drawing"):
        chunk, chunk_seeds = prompts[start:start + batch_size], seeds[start:start + batch_size]
        layouts = {"layouts": plan_layouts(chunk, chunk_seeds)} if draws_layouts(model) else {}
        out += list(model.sample(chunk, chunk_seeds, steps, guidance, scheduler, **layouts))
    return out


@torch.no_grad()
def latent_stats(autoencoder, examples, n: int = 512) -> tuple[list[float], list[float]]:
    """Each latent channel's mean and spread over the data: the noise schedule assumes inputs of
    unit spread, and a trained autoencoder's channels spread unevenly (the generate-shapes
    model card gives the figures), so each is scaled on its own."""
    images = ImageProcessor(autoencoder.config.image_size)([open_image(ex.image) for ex in examples[:n]])
    latents = autoencoder.encode(images)
    return latents.mean((0, 2, 3)).tolist(), latents.std((0, 2, 3)).clamp_min(1e-3).tolist()


def kid_to_rendered(drawn: list, rendered: list, embedder: str = "align-shapes") -> float:
    """KID between drawn and rendered scenes over the shipped aligner's image embeddings: the
    project's own stand-in for Inception features, which know nothing of this world."""
    aligner = load_model(embedder, task="align")
    return kid(embed_images(aligner, list(drawn)).numpy(), embed_images(aligner, list(rendered)).numpy())


@TASKS.register("generate")
class GenerateTask(TrainableTask):
    """A prompt describing a scene -> the scene drawn."""

    model_task = "generate"
    chooses_fusion = False
    default_data = "shapes:shapes:train"
    curve_metrics = ("prompt_accuracy",)
    eval_options = ("steps", "guidance", "scheduler")

    def load_examples(self, spec, seed=0, n=1000, columns=None, on_bad_rows="fail", need_answers=True):
        return load_examples(spec, seed, n, columns, on_bad_rows, need_answers)

    def vocabulary(self, examples) -> tuple[list[str], list[str]]:
        return [ex.prompt for ex in examples], []

    def modalities(self, examples) -> list[str]:
        return ["text"]

    def build_model(self, spec: dict, examples):
        """spec's `autoencoder`, if any, names a trained one (run folder or shipped name): its
        weights are copied in and frozen, and each latent channel's mean and spread are measured
        on the data."""
        spec = dict(spec)
        words = sorted({w for ex in examples for w in split_words(ex.prompt)} | set(grammar_words()))
        autoencoder = ImageAutoencoder.from_pretrained(resolve(spec.pop("autoencoder"))) \
            if spec.get("autoencoder") else None
        if autoencoder is not None:
            spec["autoencoder"] = asdict(autoencoder.config)
            spec["latent_mean"], spec["latent_std"] = latent_stats(autoencoder, examples)
        model = TextToImageDiffusion(DiffusionConfig.from_dict({**spec, "vocab": spec.get("vocab") or words},
                                                               "generate model"))
        if autoencoder is not None:
            model.autoencoder.load_state_dict(autoencoder.state_dict())
        return model

    def make_batch(self, model, examples, rng):
        if any(ex.image is None for ex in examples):
            raise InputError("training needs an image for every prompt")
        size = model.config.image_size
        images = ImageProcessor(size)([open_image(ex.image) for ex in examples])
        drop = rng.random(len(examples)) < model.config.prompt_dropout
        prompts = ["" if d else ex.prompt for ex, d in zip(examples, drop)]
        tokens = model.text.processor(prompts)
        if model.draws_layouts:          # dropped with the prompt: guidance's unconditional half
            if any(ex.objects is None for ex in examples):
                raise InputError("a layout model trains on each scene's objects: the data needs an objects "
                                 "column (colour, shape, box), as `polymodal data shapes` writes")
            tokens["layouts"] = [[] if d else ex.objects for ex, d in zip(examples, drop)]
        seed = int(rng.integers(2 ** 31))
        g = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            clean = model.to_space(images.to(model.device)).cpu()
        noise = torch.randn(clean.shape, generator=g)
        timesteps = torch.randint(0, model.config.train_timesteps, (len(examples),), generator=g)
        noisy = model.noise_schedule.add_noise(clean, noise, timesteps)
        if model.config.prediction == "v_prediction":
            return {"noisy": noisy, "timesteps": timesteps, **tokens}, \
                model.noise_schedule.get_velocity(clean, noise, timesteps)
        return {"noisy": noisy, "timesteps": timesteps, **tokens}, noise

    def loss(self, predicted, target):
        return torch.nn.functional.mse_loss(predicted.float(), target)

    def evaluate(self, model, examples, batch_size=16, device=None, progress=False, steps: int = 20,
                 guidance: float = GUIDANCE, scheduler: str = "ddim", seed: int = 0) -> dict:
        prompts = [ex.prompt for ex in examples]
        images = draw(model, prompts, seed, steps, guidance, scheduler, batch_size, progress)
        out = {**prompt_accuracy(prompts, images), "steps": steps, "guidance": guidance, "scheduler": scheduler}
        rendered = [ex.image for ex in examples if ex.image is not None]
        if len(rendered) >= 2:
            out["kid"] = kid_to_rendered(images, rendered)
        return out
