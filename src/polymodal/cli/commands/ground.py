"""`polymodal ground`: image + phrase -> box, printed and drawn."""
from __future__ import annotations

import json
import sys
from pathlib import Path

from PIL import Image as PILImage
from PIL import ImageDraw

from ...core.errors import InputError
from ...core.files import atomic_write
from ...inference.pipelines import load_on
from ...modalities import Image
from ...tasks.ground import load_examples
from .inputs import backend_of, data_examples, image_paths


def ground(args) -> int:
    items = ground_items(args)
    pipe = load_on("ground", args.model, backend_of(args))
    found = pipe.batch([(im, phrase) for im, phrase, _ in items], args.batch_size,
                       progress=len(items) > args.batch_size and sys.stderr.isatty())
    for i, ((image, phrase, name), g) in enumerate(zip(items, found)):
        if args.out:
            out = Path(args.out) if len(items) == 1 else Path(args.out) / f"{i:06d}.png"
            draw_box(image, g.box, phrase, out)
        if args.json:
            print(json.dumps({"image": name, "phrase": phrase, "box": g.box, "score": round(g.score, 4)}))
        else:
            print(f"{name}\t{phrase}\t{g.box}\t{g.score:.3f}" if len(items) > 1 else f"{g.box}\t{g.score:.3f}")
    return 0


def ground_items(args) -> list[tuple]:
    """(image, phrase, name) from IMAGE PHRASE (IMAGE may be a folder or a .txt list) or --data."""
    if args.data:
        return [(ex.image, ex.phrase, name) for ex, name in data_examples(args, load_examples, lambda ex: ex.image)]
    if not args.image or not args.phrase:
        raise InputError("ground needs IMAGE and PHRASE (or --data MANIFEST)")
    return [(p, args.phrase, str(p)) for p in image_paths(Path(args.image))]


def draw_box(image, box: list[float], label: str, out: Path) -> None:
    """The image with the box and the phrase drawn; small images are enlarged (nearest
    neighbour) so that the box is visible."""
    pil = PILImage.fromarray(Image.open(image).array)
    zoom = max(1, 256 // max(pil.size))
    pil = pil.resize((pil.width * zoom, pil.height * zoom), PILImage.NEAREST)
    draw = ImageDraw.Draw(pil)
    draw.rectangle([v * zoom for v in box], outline=(255, 0, 255), width=max(2, zoom))
    draw.text((4, 4), label, fill=(0, 0, 0))
    if out.suffix.lower() not in (".png", ".jpg", ".jpeg"):
        raise InputError(f"{out}: --out must name a .png or .jpg file")
    atomic_write(out, lambda tmp: pil.save(tmp, format="PNG" if out.suffix.lower() == ".png" else "JPEG"))
