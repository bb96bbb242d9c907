"""`polymodal caption`."""
from __future__ import annotations

import json
import sys

from ...inference.pipelines import load
from .inputs import batch_job, image_items


def caption(args) -> int:
    if args.out:
        return batch_job(args, "caption", "image", args.image)
    images = image_items(args, "caption")
    pipe = load("caption", args.model)
    captions = pipe.batch([image for image, _ in images], args.batch_size, beams=args.beams, guidance=args.guidance,
                          progress=len(images) > args.batch_size and sys.stderr.isatty())
    for (_, name), c in zip(images, captions):
        if args.json:
            print(json.dumps({"image": name, "caption": c.text, "score": c.score}))
        elif len(images) == 1:
            print(c.text)
        else:
            print(f"{name}\t{c.text}\t{c.score:.3f}")
    return 0
