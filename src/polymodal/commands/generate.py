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
    model.check_prompts(prompts)
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
    from ..hub import load, load_for_task
    from ..tasks.edit import edit as apply_edit
    from ..tasks.edit import parse_instruction
    out = Path(args.out)
    if out.suffix.lower() != ".png":
        raise InputError(f"{out}: --out must name a .png file")
    parse_instruction(args.instruction)                 # a clear error before any model loads
    model = load_for_task("generate", args.model)
    image = apply_edit(model, load("ground", args.grounder), args.image, args.instruction, args.seed, args.steps,
                       args.guidance, args.scheduler)
    save_png(image, out)
    print(out)
    return 0


def eval_edit(args) -> dict:
    """Edits of generated scenes: the change made, the other objects kept."""
    from ..hub import load, load_for_task
    from ..tasks import edit as editing
    from ..data.world import parse_spec
    preset, split = parse_spec(args.data)
    if preset != "shapes":
        raise InputError(f"{args.data}: edits are generated from the shapes preset (shapes:shapes:<split>)")
    model, grounder = load_for_task("generate", args.model), load("ground")
    examples = editing.edit_examples(split, args.seed, args.n)
    results = [editing.edit(model, grounder, ex.image, ex.instruction, i, args.steps, args.guidance, args.scheduler)
               for i, ex in enumerate(examples)]
    return {**editing.edit_metrics(examples, results), "steps": args.steps, "guidance": args.guidance}
