"""The README's gallery of the shipped text-to-image model: test and compositional prompts
(seed 7, never used in training), each drawn once with seed 0 (no picking), each marked by the
scene parser as meeting its prompt or not.

    python docs/make_gallery.py [--model generate-shapes] -> docs/generate-gallery.png
"""
import argparse
import textwrap
from pathlib import Path

from PIL import Image, ImageDraw

from polymodal.data.scene_parser import parse
from polymodal.loading import load_model
from polymodal.tasks.generate import draw, load_examples
from polymodal.tasks.metrics.generate import check_prompt

SCALE, COLUMNS, TEXT_ROWS = 3, 6, 5


def tile(image, prompt: str, correct: bool) -> Image.Image:
    side = 64 * SCALE
    out = Image.new("RGB", (side + 8, side + 14 * TEXT_ROWS + 8), "white")
    out.paste(Image.fromarray(image).resize((side, side), Image.NEAREST), (4, 4))
    draw = ImageDraw.Draw(out)
    draw.rectangle([3, 3, side + 4, side + 4], outline=(0, 150, 0) if correct else (200, 0, 0), width=2)
    lines = textwrap.wrap(prompt, 34)[:TEXT_ROWS]
    for i, line in enumerate(lines):
        draw.text((4, side + 8 + 14 * i), line, fill=(0, 0, 0))
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default=None)
    parser.add_argument("--out", default="docs/generate-gallery.png")
    args = parser.parse_args()
    model = load_model(args.model, task="generate")
    prompts = [ex.prompt for ex in load_examples("shapes:shapes:test", 7, 12)[0]]
    prompts += [ex.prompt for ex in load_examples("shapes:shapes:compositional", 7, 6)[0]]
    images = draw(model, prompts, seed=0, steps=20)           # the model's default guidance
    tiles = [tile(im, p, check_prompt(p, parse(im)).correct) for p, im in zip(prompts, images)]
    w, h = tiles[0].size
    rows = -(-len(tiles) // COLUMNS)
    sheet = Image.new("RGB", (w * COLUMNS, h * rows), "white")
    for i, t in enumerate(tiles):
        sheet.paste(t, ((i % COLUMNS) * w, (i // COLUMNS) * h))
    sheet.save(Path(args.out))
    right = sum(check_prompt(p, parse(im)).correct for p, im in zip(prompts, images))
    print(f"{args.out}: {right}/{len(prompts)} meet their prompt (green frame); last row: compositional prompts")


if __name__ == "__main__":
    main()
