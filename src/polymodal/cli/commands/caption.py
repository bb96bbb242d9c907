"""`polymodal caption`: images, or video clips (with a video captioner)."""
from __future__ import annotations

import json

from ...core.errors import InputError
from ...inference.pipelines import load_on
from ...loading import default_model
from ...modalities import Image
from .inputs import backend_of, batch_job, clip_items, clip_job, image_items
from .streaming import batches, emit


def caption(args) -> int:
    if args.out:
        if clip_job(args):
            return batch_job(args, "caption-video", "video", args.image)
        return batch_job(args, "caption", "image", args.image)
    clips = clip_items(args, "caption")
    if clips is not None:
        if args.guidance is not None:
            raise InputError("--guidance applies to image captioners, not to clips")
        pipe = load_on("video-caption", args.model or default_model("video-caption"), backend_of(args))
        items, kind = clips, "video"

        def run(chunk):
            return pipe.batch([clip for clip, _ in chunk], len(chunk), beams=args.beams)
    else:
        items, kind = [(Image.open(image), name) for image, name in image_items(args, "caption")], "image"
        pipe = load_on("caption", args.model, backend_of(args))

        def run(chunk):
            return pipe.batch([image for image, _ in chunk], len(chunk), beams=args.beams, guidance=args.guidance)
    for chunk in batches(items, args.batch_size, "captioning"):
        for (_, name), c in zip(chunk, run(chunk)):
            if args.json:
                emit(json.dumps({kind: name, "caption": c.text, "score": c.score}))
            elif len(items) == 1:
                emit(c.text)
            else:
                emit(f"{name}\t{c.text}\t{c.score:.3f}")
    return 0
