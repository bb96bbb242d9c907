"""The embedded world: deterministic procedural scenes, by preset, split and seed.

Scene i of (preset, split, seed) is drawn from its own random stream, so any subset can be
regenerated without drawing the others, and splits never share a stream.
"""
from __future__ import annotations

import zlib

import numpy as np

from ..core.errors import InputError
from . import motion_preset, shapes_preset, signs_preset, sort_of_clevr

# preset name -> module with make_scene(rng, split), rows(scene, file_path) and SPOKEN_COLUMN
# (`motion` makes clips, motion_preset.Clip, whose rows name a video file)
PRESETS = {"sort-of-clevr": sort_of_clevr, "shapes": shapes_preset, "signs": signs_preset, "motion": motion_preset}
SPLITS = ("train", "val", "test", "compositional")


def scene_rng(preset: str, split: str, seed: int, index: int) -> np.random.Generator:
    # crc32 rather than hash(): Python salts str hashes per process.
    key = zlib.crc32(f"{preset}/{split}".encode())
    return np.random.default_rng([key, seed, index])


def check(preset: str, split: str) -> None:
    if preset not in PRESETS:
        raise InputError(f"unknown shapes preset {preset!r}; known: {', '.join(PRESETS)}")
    if split not in SPLITS:
        raise InputError(f"unknown split {split!r}; known: {', '.join(SPLITS)}")


def shapes(preset: str = "sort-of-clevr", split: str = "train", seed: int = 0, n: int = 100,
           extra_shapes: tuple = ()) -> list:
    """Generate n scenes of a preset; each has .image (uint8 HxWx3), .objects and .questions
    (and, in `shapes`, .caption, .phrases and .prompt); `motion` makes clips (.frames, .audio,
    .caption, .questions). extra_shapes (`shapes` only): more
    shapes its scenes may hold, e.g. shapes_preset.PRETRAINING_SHAPES."""
    check(preset, split)
    module = PRESETS[preset]
    if not extra_shapes:
        return [module.make_scene(scene_rng(preset, split, seed, i), split) for i in range(n)]
    if preset != "shapes":
        raise InputError(f"extra_shapes: only the shapes preset can add shapes; {preset} cannot")
    drawable = shapes_preset.EXTRA_SHAPES + shapes_preset.PRETRAINING_SHAPES
    unknown = [s for s in extra_shapes if s not in drawable]
    if unknown:
        raise InputError(f"extra_shapes: the shapes preset can add {', '.join(drawable)}, not {', '.join(unknown)}")
    return [module.make_scene(scene_rng(preset, split, seed, i), split, tuple(extra_shapes)) for i in range(n)]


def parse_spec(spec: str) -> tuple[str, str]:
    """'shapes:<preset>:<split>' -> (preset, split)."""
    parts = spec.split(":")
    if len(parts) != 3 or parts[0] != "shapes":
        raise InputError(f"{spec}: expected shapes:<preset>:<split>, e.g. shapes:sort-of-clevr:test")
    check(parts[1], parts[2])
    return parts[1], parts[2]
