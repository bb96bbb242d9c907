"""Write the embedded world to disk: PNGs plus a manifest.jsonl with DESIGN §8 columns."""
from __future__ import annotations

from pathlib import Path

from PIL import Image as PILImage

from .manifest import write_manifest
from .world import PRESETS, shapes


def export_shapes(preset: str, split: str, seed: int, n: int, out: Path, image_format: str = "png",
                  jpeg_quality: int = 90) -> Path:
    """image_format "jpg" stores lossy copies: the same scenes stored differently, to check
    that a model does not depend on exact pixel values."""
    scenes = shapes(preset, split, seed, n)          # validates preset and split first
    (out / "images").mkdir(parents=True, exist_ok=True)
    rows = []
    for i, scene in enumerate(scenes):
        name = f"images/{split}-{seed}-{i:06d}.{image_format}"
        options = {"quality": jpeg_quality} if image_format == "jpg" else {}
        PILImage.fromarray(scene.image).save(out / name, **options)
        rows += PRESETS[preset].rows(scene, name)
    return write_manifest(rows, out / "manifest.jsonl")
