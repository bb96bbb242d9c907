"""`polymodal transcribe`."""
from __future__ import annotations

import json
import sys
from pathlib import Path

from ..errors import InputError
from .inputs import AUDIO_SUFFIXES, files_from


def transcribe(args) -> int:
    from ..hub import load
    items = speech_items(args)
    pipe = load("transcribe", args.model)
    found = pipe.batch([audio for audio, _ in items], args.batch_size,
                       progress=len(items) > args.batch_size and sys.stderr.isatty())
    for (_, name), t in zip(items, found):
        if args.json:
            print(json.dumps({"audio": name, "text": t.text, "score": round(t.score, 4)}))
        elif len(items) == 1:
            print(t.text)
        else:
            print(f"{name}\t{t.text}")
    return 0


def speech_items(args) -> list[tuple]:
    """(audio, name) from AUDIO (a file, a folder or a .txt list) or --data."""
    if args.data:
        from ..data.manifest import parse_column_map, report_bad_rows
        from ..tasks.transcribe import audio_of, load_examples
        examples, manifest = load_examples(args.data, args.seed, args.n, parse_column_map(args.column),
                                           args.on_bad_rows, need_answers=False)
        report_bad_rows(manifest)
        return [(ex.audio if ex.audio is not None else audio_of(ex), str(ex.audio) if manifest else f"{args.data}#{i}")
                for i, ex in enumerate(examples)]
    if not args.audio:
        raise InputError("transcribe needs an AUDIO file (or a folder, a .txt list, or --data MANIFEST)")
    return [(p, str(p)) for p in files_from(Path(args.audio), AUDIO_SUFFIXES, "audio files")]
