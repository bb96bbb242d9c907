"""`polymodal generate`: prompts -> images."""
from __future__ import annotations

import sys
from pathlib import Path

from ..errors import InputError
from .inputs import read_lines


def save_png(array, out: Path) -> None:
    from PIL import Image as PILImage

    from ..checkpoint import atomic_write
    atomic_write(out, lambda tmp: PILImage.fromarray(array).save(tmp, format="PNG"))


def generate(args) -> int:
    from ..hub import load_for_task
    from ..tasks.generate import generate as draw
    if bool(args.prompt) == bool(args.prompts):
        raise InputError("give one prompt, or --prompts FILE (one prompt per line)")
    prompts = [args.prompt] if args.prompt else read_lines(Path(args.prompts))
    out = Path(args.out)
    if args.prompt and out.suffix.lower() != ".png":
        raise InputError(f"{out}: --out must name a .png file (or a folder, with --prompts)")
    model = load_for_task("generate", args.model)
    model.text.processor(prompts)            # every word known, every prompt short enough: before any drawing
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
