"""`polymodal ask`: questions about images, typed or spoken, or about video clips."""
from __future__ import annotations

import json
import sys

from ...core.errors import InputError
from ...inference.pipelines import load_on
from ...loading import default_model
from .inputs import about_clips, ask_items, backend_of


def ask(args) -> int:
    items = ask_items(args)
    clips = about_clips(items)
    progress = len(items) > args.batch_size and sys.stderr.isatty()
    if clips:
        if args.audio:
            raise InputError("--audio: questions about clips are typed (a clip's own sound is heard by a model "
                             "trained with it)")
        pipe = load_on("video-qa", args.model or default_model("video-qa"), backend_of(args))
        answers = pipe.batch([(clip, question) for clip, question, _ in items], args.batch_size, progress=progress)
    else:
        pipe = load_on("vqa", args.model or default_model("vqa", spoken=bool(args.audio)), backend_of(args))
        answers = pipe.batch([(image, question, args.audio) for image, question, _ in items], args.batch_size,
                             progress=progress)
    for (_, question, name), answer in zip(items, answers):
        if args.json:
            print(json.dumps({"video" if clips else "image": name, "question": question, "answer": answer.text,
                              "score": answer.score}))
        elif len(items) == 1:
            print(answer.text)
        else:
            print(f"{name}\t{question}\t{answer.text}\t{answer.score:.3f}")
    return 0
