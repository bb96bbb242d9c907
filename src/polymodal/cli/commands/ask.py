"""`polymodal ask`: questions about images, typed or spoken."""
from __future__ import annotations

import json
import sys

from ...inference.pipelines import load
from ...loading import default_model
from .inputs import ask_items


def ask(args) -> int:
    items = ask_items(args)
    pipe = load("vqa", args.model or default_model("vqa", spoken=bool(args.audio)))
    answers = pipe.batch([(image, question, args.audio) for image, question, _ in items], args.batch_size,
                         progress=len(items) > args.batch_size and sys.stderr.isatty())
    for (_, question, name), answer in zip(items, answers):
        if args.json:
            print(json.dumps({"image": name, "question": question, "answer": answer.text, "score": answer.score}))
        elif len(items) == 1:
            print(answer.text)
        else:
            print(f"{name}\t{question}\t{answer.text}\t{answer.score:.3f}")
    return 0
