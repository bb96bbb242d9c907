"""`polymodal speak` and `polymodal transcribe`."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import soundfile as sf

from ...core.errors import InputError
from ...core.files import atomic_write
from ...inference.pipelines import load_on
from ...modalities import AUDIO_SUFFIXES, Audio
from ...tasks.transcribe import audio_of, load_examples
from .inputs import backend_of, batch_job, data_examples, files_from, read_lines
from .streaming import batches, emit


def speak(args) -> int:
    if bool(args.text) == bool(args.text_file):
        raise InputError("speak needs a TEXT or --text-file FILE (one text per line)")
    texts = [args.text] if args.text else read_lines(Path(args.text_file))
    out = Path(args.out)
    if args.text and out.suffix.lower() != ".wav":
        raise InputError(f"{out}: --out must name a .wav file")
    paths = [out] if args.text else [out / f"{i:06d}.wav" for i in range(len(texts))]
    pipe = load_on("speak", args.model, backend_of(args))
    for audio, path in zip(pipe.batch(texts, args.voice), paths):
        save_wav(audio, path)
    print(f"wrote {len(paths)} file{'s' if len(paths) > 1 else ''}: {paths[0] if len(paths) == 1 else out}",
          file=sys.stderr)
    return 0


def save_wav(audio, path: Path) -> None:
    """16-bit PCM WAV, written atomically (a temp file, then rename)."""
    atomic_write(path, lambda tmp: sf.write(tmp, audio.waveform, audio.rate, subtype="PCM_16", format="WAV"))


def transcribe(args) -> int:
    if args.out:
        return batch_job(args, "transcribe", "audio", args.audio)
    pipe = load_on("transcribe", args.model, backend_of(args))
    items = [(Audio.open(audio), name) for audio, name in speech_items(args)]
    for chunk in batches(items, args.batch_size, "transcribing"):
        for (_, name), t in zip(chunk, pipe.batch([audio for audio, _ in chunk], len(chunk))):
            if args.json:
                emit(json.dumps({"audio": name, "text": t.text, "score": round(t.score, 4)}))
            elif len(items) == 1:
                emit(t.text)
            else:
                emit(f"{name}\t{t.text}")
    return 0


def speech_items(args) -> list[tuple]:
    """(audio, name) from AUDIO (a file, a folder or a .txt list) or --data."""
    if args.data:
        return [(ex.audio if ex.audio is not None else audio_of(ex), name)
                for ex, name in data_examples(args, load_examples, lambda ex: ex.audio)]
    if not args.audio:
        raise InputError("transcribe needs an AUDIO file (or a folder, a .txt list, or --data MANIFEST)")
    return [(p, str(p)) for p in files_from(Path(args.audio), AUDIO_SUFFIXES, "audio files")]
