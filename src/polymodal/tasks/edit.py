"""Text + image -> image: edit one object of a scene by instruction, leave the rest alone.

Instructions: "make the red circle green" (recolour), "make the red circle a square"
(reshape), "remove the red circle". The edit finds the object with the grounding model,
masks its box (a few pixels wider), and lets the diffusion model redraw only inside the
mask (inpainting), prompted with the scene's description after the change and, for a
layout model, given the scene's objects after it; outside the mask every pixel stays as it
was. Judged by reading both images back: did the change happen, and are the other objects
where and what they were?
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import torch

from ..core.errors import InputError
from ..data import draw, shapes_preset
from ..data.scene_parser import ParsedObject, parse
from ..data.sort_of_clevr import COLOURS
from ..data.world import parse_spec, shapes
from ..loading import load_model
from ..modalities import Image
from ..models.diffusion import GUIDANCE
from ..processors.image import ImageProcessor
from .base import Task
from .generate import draws_layouts
from .ground import GroundExample, locate
from .metrics.edit import edit_metrics
from .registry import TASKS

SHAPE_NAMES = shapes_preset.SHAPES
_NAME = rf"({'|'.join(COLOURS)}) ({'|'.join(SHAPE_NAMES)})"
_FORMS = {
    "recolour": re.compile(rf"make the {_NAME} ({'|'.join(COLOURS)})"),
    "reshape": re.compile(rf"make the {_NAME} an? ({'|'.join(SHAPE_NAMES)})"),
    "remove": re.compile(rf"remove the {_NAME}"),
}
MASK_MARGIN = 3          # px added around the grounded box: edges and a reshaped object's extent


@dataclass
class Instruction:
    kind: str
    colour: str
    shape: str
    to: str | None = None          # the new colour or shape

    @property
    def target(self) -> str:
        return f"{self.colour} {self.shape}"

    @property
    def result(self) -> str | None:
        """The object's name after the edit (None: removed)."""
        if self.kind == "remove":
            return None
        return f"{self.to} {self.shape}" if self.kind == "recolour" else f"{self.colour} {self.to}"


def parse_instruction(text: str) -> Instruction:
    clean = " ".join(text.lower().strip().rstrip(".").split())
    for kind, pattern in _FORMS.items():
        m = pattern.fullmatch(clean)
        if m:
            return Instruction(kind, m.group(1), m.group(2), m.group(3) if kind != "remove" else None)
    raise InputError(f"instruction {text!r} is not one polymodal can edit: 'make the red circle green', "
                     f"'make the red circle a square' or 'remove the red circle'")


@dataclass
class EditExample:
    image: object                  # the scene before
    instruction: str
    after: object = None           # the scene rendered with the edit applied (for metrics)


def edit_examples(split: str, seed: int, n: int) -> list[EditExample]:
    """For each generated scene, one feasible edit of one of its objects, and the scene
    rendered as it should look afterwards."""
    rng = np.random.default_rng([seed, 4242])
    out = []
    for scene in shapes("shapes", split, seed, n):
        target = scene.objects[int(rng.integers(len(scene.objects)))]
        taken = {(o.colour, o.shape) for o in scene.objects}
        kind = ("recolour", "reshape", "remove")[int(rng.integers(3))]
        options = ([c for c in COLOURS if (c, target.shape) not in taken] if kind == "recolour" else
                   [s for s in SHAPE_NAMES if (target.colour, s) not in taken] if kind == "reshape" else [None])
        if not options:            # every other shape (or colour) of it is already in the scene
            kind, options = "remove", [None]
        to = options[int(rng.integers(len(options)))]
        after = [o for o in scene.objects if o is not target]
        if kind != "remove":
            changed = shapes_preset.ShapeObject(to if kind == "recolour" else target.colour,
                                                to if kind == "reshape" else target.shape, target.x, target.y,
                                                target.half)
            after.insert(scene.objects.index(target), changed)
        text = {"recolour": f"make the {target.name} {to}", "reshape": f"make the {target.name} a {to}",
                "remove": f"remove the {target.name}"}[kind]
        out.append(EditExample(scene.image, text, draw.render(after, shapes_preset.SIZE, COLOURS)))
    return out


def objects_after(objects: list[ParsedObject], instruction: Instruction,
                  box: list[int]) -> list[shapes_preset.ShapeObject]:
    """The edited scene's objects: the parsed ones, the target changed (in its grounded box's
    place) or left out."""
    described = []
    for o in objects:
        x, y = (int(v) for v in o.centre)
        half = max(2, (o.box[2] - o.box[0]) // 2)
        if o.name == instruction.target:
            if instruction.result is None:
                continue
            colour, shape = instruction.result.split()
            x, y = (box[0] + box[2]) // 2, (box[1] + box[3]) // 2
        else:
            colour, shape = o.colour, o.shape
        described.append(shapes_preset.ShapeObject(colour, shape, x, y, half))
    return described


def edit(model, grounder, image, instruction: str, seed: int = 0, steps: int = 25, guidance: float = GUIDANCE,
         scheduler: str = "ddim") -> np.ndarray:
    """The edited image (uint8 HxWx3): inpainting inside the box the grounding model finds."""
    parsed_instruction = parse_instruction(instruction)
    picture = Image.open(image)
    found = locate(grounder, [GroundExample(picture, f"the {parsed_instruction.target}")])[0]
    size = model.config.image_size
    if picture.array.shape[:2] != (size, size):
        raise InputError(f"{picture.source}: the model edits {size}x{size} images, this one is "
                         f"{picture.array.shape[1]}x{picture.array.shape[0]}")
    x0, y0, x1, y1 = (int(round(v)) for v in found.box)
    box = [max(0, x0 - MASK_MARGIN), max(0, y0 - MASK_MARGIN), min(size, x1 + MASK_MARGIN), min(size, y1 + MASK_MARGIN)]
    mask = torch.zeros(1, 1, size, size)
    mask[..., box[1]:box[3], box[0]:box[2]] = 1
    after = objects_after(parse(picture.array), parsed_instruction, box)
    # an empty prompt (the only object removed) is the unconditional one the model learnt
    prompt = shapes_preset.caption(after) if after else ""
    init = ImageProcessor(size)([picture.array])
    # a layout model draws the edited scene's own layout, not one planned afresh from the prompt
    layout = {"layouts": [after]} if draws_layouts(model) else {}
    return model.sample([prompt], [seed], steps, guidance, scheduler, init=init, strength=1.0, mask=mask, **layout)[0]


@TASKS.register("edit")
class EditTask(Task):
    """Image + instruction -> the image edited: an evaluation of text-to-image models (which
    draw the change) with the shipped grounder (which finds what to change)."""

    model_task = "generate"
    eval_options = ("steps", "guidance", "scheduler")

    def load_examples(self, spec, seed=0, n=1000, columns=None, on_bad_rows="fail", need_answers=True):
        preset, split = parse_spec(spec)
        if preset != "shapes":
            raise InputError(f"{spec}: edits are generated from the shapes preset (shapes:shapes:<split>)")
        return edit_examples(split, seed, n), None

    def evaluate(self, model, examples, batch_size=1, device=None, progress=False, steps: int = 25,
                 guidance: float = GUIDANCE, scheduler: str = "ddim") -> dict:
        """Edit i draws its noise from seed i."""
        grounder = load_model(task="ground")
        results = [edit(model, grounder, ex.image, ex.instruction, i, steps, guidance, scheduler)
                   for i, ex in enumerate(examples)]
        instructions = [parse_instruction(ex.instruction) for ex in examples]
        return {**edit_metrics([ex.image for ex in examples], results, instructions), "steps": steps,
                "guidance": guidance}
