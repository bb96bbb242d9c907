"""`polymodal caption`: images, or video clips (with a video captioner)."""
from __future__ import annotations

import json
import sys

from ...core.errors import InputError
from ...inference.pipelines import load_on
from ...loading import default_model
from .inputs import backend_of, batch_job, clip_items, clip_job, image_items


def caption(args) -> int:
    if args.out:
        if clip_job(args):
            return batch_job(args, "caption-video", "video", args.image)
        return batch_job(args, "caption", "image", args.image)
    clips = clip_items(args, "caption")
    images = clips if clips is not None else image_items(args, "caption")
    progress = len(images) > args.batch_size and sys.stderr.isatty()
    if clips is not None:
        if args.guidance is not None:
            raise InputError("--guidance applies to image captioners, not to clips")
        pipe = load_on("video-caption", args.model or default_model("video-caption"), backend_of(args))
        captions = pipe.batch([clip for clip, _ in clips], args.batch_size, beams=args.beams, progress=progress)
    else:
        pipe = load_on("caption", args.model, backend_of(args))
        captions = pipe.batch([image for image, _ in images], args.batch_size, beams=args.beams,
                              guidance=args.guidance, progress=progress)
    for (_, name), c in zip(images, captions):
        if args.json:
            print(json.dumps({"video" if clips is not None else "image": name, "caption": c.text, "score": c.score}))
        elif len(images) == 1:
            print(c.text)
        else:
            print(f"{name}\t{c.text}\t{c.score:.3f}")
    return 0
