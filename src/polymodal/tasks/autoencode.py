"""Image -> latent -> image: training the autoencoder that latent diffusion draws through.

Its metrics say whether a scene survives the round trip: pixel error and PSNR, and the share
of images whose reconstruction the scene parser reads back as the same objects (colour,
shape, box within a pixel or two) — what generation needs the decoder to get right.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from tqdm.auto import tqdm

from ..core.errors import InputError
from ..data.manifest import read_manifest
from ..data.scene_parser import parse
from ..data.world import parse_spec, shapes
from ..models.autoencoder import AutoencoderConfig, ImageAutoencoder
from ..processors.image import ImageProcessor, to_uint8
from .base import TrainableTask
from .image_text import open_image
from .registry import TASKS

BOX_TOLERANCE = 2     # px: how far a reconstructed object's box edge may move and still count as kept


@dataclass
class ImageExample:
    image: object                 # a path or an array
    row: int | None = None


def load_examples(spec: str, seed: int = 0, n: int = 1000, columns: dict | None = None,
                  on_bad_rows: str = "fail", need_answers: bool = True):
    """Any preset's scenes (`shapes:<preset>:<split>`) or a manifest with an image column."""
    if spec.startswith("shapes:"):
        preset, split = parse_spec(spec)
        return [ImageExample(s.image) for s in shapes(preset, split, seed, n)], None
    manifest = read_manifest(spec, ("image",), columns, on_bad_rows, decode_files=True)
    return [ImageExample(r["image"], r.get("_row")) for r in manifest.rows], manifest


def same_scene(original: np.ndarray, copy: np.ndarray) -> bool:
    a, b = parse(original), parse(copy)
    key = lambda o: (o.name, o.box)  # noqa: E731
    a, b = sorted(a, key=key), sorted(b, key=key)
    return len(a) == len(b) and all(
        x.name == y.name and max(abs(p - q) for p, q in zip(x.box, y.box)) <= BOX_TOLERANCE for x, y in zip(a, b))


@TASKS.register("autoencode")
class AutoencodeTask(TrainableTask):
    """Image -> latent -> image: the autoencoder latent diffusion draws through."""

    model_task = "autoencode"
    chooses_fusion = False
    default_data = "shapes:shapes:train"
    curve_metrics = ("scene_kept", "psnr")

    def load_examples(self, spec, seed=0, n=1000, columns=None, on_bad_rows="fail", need_answers=True):
        return load_examples(spec, seed, n, columns, on_bad_rows, need_answers)

    def vocabulary(self, examples) -> tuple[list[str], list[str]]:
        return [], []

    def modalities(self, examples) -> list[str]:
        return ["image"]

    def build_model(self, spec: dict, examples):
        return ImageAutoencoder(AutoencoderConfig.from_dict(spec, "autoencode model"))

    def make_batch(self, model, examples, rng):
        images = ImageProcessor(model.config.image_size)([open_image(ex.image) for ex in examples])
        return {"images": images}, {"images": images, "kl_weight": model.config.kl_weight}

    def loss(self, outputs, targets):
        """L1 keeps flat colours flat and edges sharp; MSE punishes the rare far-off pixel."""
        reconstruction, kl = outputs
        error = reconstruction.float() - targets["images"]
        return error.abs().mean() + error.pow(2).mean() + targets["kl_weight"] * kl.float()

    @torch.no_grad()
    def evaluate(self, model, examples, batch_size=64, device=None, progress=False) -> dict:
        if not examples:
            raise InputError("no images to evaluate")
        model.eval()
        device = device or next(model.parameters()).device
        abs_errors, squared, kept = [], [], []
        for start in tqdm(range(0, len(examples), batch_size), disable=not progress, desc="reconstructing"):
            chunk = examples[start:start + batch_size]
            pictures = [open_image(ex.image) for ex in chunk]
            processor = ImageProcessor(model.config.image_size)
            originals = np.stack([processor.prepare(p) for p in pictures])
            copies = to_uint8(model.decode(model.encode(processor(pictures).to(device))))
            diff = (copies.astype(float) - originals).reshape(len(chunk), -1)
            abs_errors += list(np.abs(diff).mean(1))
            squared += list((diff ** 2).mean(1))
            kept += [same_scene(o, c) for o, c in zip(originals, copies)]
        mse = float(np.mean(squared))
        return {"images": len(examples), "mean_abs_error": float(np.mean(abs_errors)),
                "psnr": float(10 * np.log10(255 ** 2 / max(mse, 1e-10))), "scene_kept": float(np.mean(kept))}
