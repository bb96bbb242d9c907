"""What the image-text tasks (captioning, alignment) share: an image with its descriptions,
read from generated `shapes` scenes or from a manifest's image + caption rows."""
from __future__ import annotations

import copy
from dataclasses import dataclass, field

import numpy as np

from ..core.errors import InputError
from ..data.manifest import read_manifest
from ..data.shapes_preset import grammar_words
from ..data.world import parse_spec, shapes
from ..modalities import Image
from ..processors.image import maybe_jpeg
from ..processors.text import WordTokenizer
from .base import ImageAugmentOptions, TrainableTask


@dataclass
class ImageTextExample:
    image: object                       # uint8 array, modalities.Image or a path
    captions: list[str] = field(default_factory=list)    # descriptions (none at inference)
    objects: list[dict] | None = None   # the scene ({"colour", "shape", "box"}), when known
    row: int | None = None
    label: str | None = None            # a class name, for zero- and few-shot manifests


def open_image(image):
    return image if isinstance(image, np.ndarray) else Image.open(image)


def examples_from_scenes(scenes) -> list[ImageTextExample]:
    return [ImageTextExample(s.image, [s.caption], [{"colour": o.colour, "shape": o.shape, "box": o.box()}
                                                    for o in s.objects]) for s in scenes]


def checked_objects(value, row) -> list[dict] | None:
    """A manifest's `objects` column: [{"colour", "shape", "box": [x0, y0, x1, y1]}, ...]."""
    if value in (None, "", []):
        return None
    ok = isinstance(value, list) and all(
        isinstance(o, dict) and isinstance(o.get("colour"), str) and isinstance(o.get("shape"), str)
        and isinstance(o.get("box"), list) and len(o["box"]) == 4
        and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in o["box"]) for o in value)
    if not ok:
        raise InputError(f"row {row}: objects must be a list of {{colour, shape, box: [x0, y0, x1, y1]}}")
    return value


def examples_from_rows(rows: list[dict]) -> list[ImageTextExample]:
    """Rows grouped by image: every distinct caption of an image is one of its descriptions."""
    grouped: dict[str, ImageTextExample] = {}
    for r in rows:
        ex = grouped.setdefault(r["image"], ImageTextExample(r["image"], [], checked_objects(r.get("objects"), r.get("_row")),
                                                             r.get("_row"), r.get("label")))
        if r.get("caption") and r["caption"] not in ex.captions:
            ex.captions.append(r["caption"])
    return list(grouped.values())


def load_examples(spec: str, seed: int = 0, n: int = 1000, columns: dict | None = None,
                  on_bad_rows: str = "fail", need_answers: bool = True, required: tuple = ("caption",),
                  extra_shapes: tuple = ()):
    """`shapes:shapes|sort-of-clevr:<split>` or a manifest with image (+ `required`) columns;
    extra_shapes: more shapes generated scenes may hold (see world.shapes)."""
    if spec.startswith("shapes:"):
        preset, split = parse_spec(spec)
        if preset not in ("shapes", "sort-of-clevr"):
            raise InputError(f"{spec}: captions come with the shapes and sort-of-clevr presets")
        return examples_from_scenes(shapes(preset, split, seed, n, tuple(extra_shapes))), None
    manifest = read_manifest(spec, ("image", *required) if need_answers else ("image",), columns, on_bad_rows,
                             decode_files=True)
    return examples_from_rows(manifest.rows), manifest


def vocabulary(examples: list[ImageTextExample]) -> tuple[list[str], list[str]]:
    """(every description, no labels): what a new model's word tokenizer is built from."""
    return [c for ex in examples for c in ex.captions], []


def jpeg_augmented(ex: ImageTextExample, rng: np.random.Generator, options: ImageAugmentOptions) -> ImageTextExample:
    """A training-time copy whose image may be JPEG re-encoded (options.jpeg_augment of the time)."""
    if not options.jpeg_augment:
        return ex
    out = copy.copy(ex)
    out.image = maybe_jpeg(ex.image, rng, options.jpeg_augment, options.jpeg_quality)
    return out


def fill_text_vocab(spec: dict, texts: list[str]) -> dict:
    """Give a new model's built-in text encoder its vocabulary: the data's words and the whole
    shapes grammar, so prompts naming pairs or shapes the data lacks still tokenize."""
    text_enc = spec.setdefault("text_encoder", {"name": "transformer", "config": {}})
    config = text_enc.setdefault("config", {})
    if text_enc["name"] == "transformer" and "vocab" not in config:
        config["vocab"] = WordTokenizer.build(list(texts) + grammar_words()).vocab
    return spec


class ImageTextTask(TrainableTask):
    """What the tasks over images and their descriptions share (captioning, alignment,
    grounding): generated scenes or a manifest, JPEG augmentation, and a model of their own
    kind built from an image encoder (and a text encoder)."""

    chooses_fusion = False
    default_data = "shapes:shapes:train"
    data_options = ("extra_shapes",)
    Options = ImageAugmentOptions

    def load_examples(self, spec, seed=0, n=1000, columns=None, on_bad_rows="fail", need_answers=True,
                      extra_shapes: tuple = ()):
        return load_examples(spec, seed, n, columns, on_bad_rows, need_answers, extra_shapes=extra_shapes)

    def vocabulary(self, examples):
        return vocabulary(examples)

    def modalities(self, examples) -> list[str]:
        return ["image", "text"]

    def own_model_spec(self, encoders: dict, hidden: int) -> dict:
        return {"image_encoder": encoders.get("image", {"name": "cnn", "config": {}}),
                "text_encoder": encoders.get("text", {"name": "transformer", "config": {}}), "dim": hidden}

