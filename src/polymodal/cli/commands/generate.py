"""`polymodal generate`: prompts -> images."""
from __future__ import annotations

import sys
from pathlib import Path

from PIL import Image as PILImage

from ...core.errors import InputError
from ...core.files import atomic_write
from ...loading import load_model
from ...tasks.edit import edit as apply_edit
from ...tasks.edit import parse_instruction
from ...tasks.generate import check_prompts, draw
from .inputs import read_lines


def save_png(array, out: Path) -> None:
    atomic_write(out, lambda tmp: PILImage.fromarray(array).save(tmp, format="PNG"))


def generate(args) -> int:
    if bool(args.prompt) == bool(args.prompts):
        raise InputError("give one prompt, or --prompts FILE (one prompt per line)")
    prompts = [args.prompt] if args.prompt else read_lines(Path(args.prompts))
    out = Path(args.out)
    if args.prompt and out.suffix.lower() != ".png":
        raise InputError(f"{out}: --out must name a .png file (or a folder, with --prompts)")
    model = load_model(args.model, task="generate")
    check_prompts(model, prompts)
    images = draw(model, prompts, args.seed, args.steps, args.guidance, args.scheduler, args.batch_size,
                  progress=len(prompts) > args.batch_size and sys.stderr.isatty())
    if args.prompt:
        save_png(images[0], out)
        print(out)
        return 0
    out.mkdir(parents=True, exist_ok=True)
    width = max(4, len(str(len(prompts))))
    for i, image in enumerate(images, start=1):           # files in line order
        save_png(image, out / f"{i:0{width}d}.png")
    print(f"{len(images)} images in {out}")
    return 0


def edit(args) -> int:
    out = Path(args.out)
    if out.suffix.lower() != ".png":
        raise InputError(f"{out}: --out must name a .png file")
    parse_instruction(args.instruction)                 # a clear error before any model loads
    model = load_model(args.model, task="generate")
    image = apply_edit(model, load_model(args.grounder, task="ground"), args.image, args.instruction, args.seed, args.steps,
                       args.guidance, args.scheduler)
    save_png(image, out)
    print(out)
    return 0
