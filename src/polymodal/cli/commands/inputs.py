"""Reading a verb's inputs from its arguments: one file, a folder, a .txt list, --data (a
manifest or generated data), NAME=VALUE pairs; and a verb run as a batch job."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from ...core import values
from ...core.errors import InputError
from ...core.files import read_text
from ...data.manifest import parse_column_map, read_manifest, report_bad_rows
from ...inference import batch
from ...inference.backend import Backend
from ...inference.batch_parts import items_from
from ...modalities import AUDIO_SUFFIXES, IMAGE_SUFFIXES, VIDEO_SUFFIXES
from ...tasks import image_text, video_qa, vqa


def ask_items(args) -> list[tuple]:
    """(image, question, name to print) from IMAGE QUESTION, FOLDER QUESTION, LIST.txt QUESTION
    or --data."""
    if args.data:
        if args.data.startswith("shapes:motion:"):
            examples, _ = video_qa.load_examples(args.data, args.seed, args.n)
            return [(ex.video, q.text, f"{args.data}#{i}") for i, ex in enumerate(examples) for q in ex.questions]
        if args.data.startswith("shapes:"):
            examples, _ = vqa.load_examples(args.data, args.seed, args.n)
            return [(ex.image, q.text, f"{args.data}#{i}") for i, ex in enumerate(examples) for q in ex.questions]
        columns = parse_column_map(args.column)
        column = "video" if "video" in manifest_columns(args.data, columns) else "image"
        manifest = read_manifest(args.data, (column, "question"), columns, args.on_bad_rows)
        report_bad_rows(manifest)
        return [(r[column], r["question"], r[column]) for r in manifest.rows]
    if not args.image or not (args.question or getattr(args, "audio", None)):
        raise InputError("ask needs IMAGE and QUESTION, or IMAGE --audio Q.wav (or --data MANIFEST); "
                         "IMAGE may be a video clip")
    return [(p, args.question, str(p)) for p in files_from(Path(args.image), IMAGE_SUFFIXES | VIDEO_SUFFIXES,
                                                           "images or clips")]


def about_clips(items: list[tuple]) -> bool:
    """Whether `ask` items are about video clips (generated ones, or files named as videos);
    a run is about images or about clips, not both."""
    kinds = {isinstance(x, np.ndarray) and x.ndim == 4 or Path(str(x)).suffix.lower() in VIDEO_SUFFIXES
             for x, _, _ in items}
    if len(kinds) > 1:
        raise InputError("ask takes images or video clips in one run, not both")
    return kinds == {True}


def clip_job(args) -> bool:
    """Whether a batch job's inputs are video clips: motion clips, a manifest with a `video`
    column, or a folder or .txt list of clips."""
    if args.data:
        if args.data.startswith("shapes:"):
            return args.data.startswith("shapes:motion:")
        return "video" in manifest_columns(args.data, parse_column_map(args.column))
    return bool(args.image) and clip_items(args, "a batch job") is not None


def manifest_columns(path: str, columns: dict) -> set[str]:
    """The canonical columns of a manifest's first row (after --column mapping); the read that
    follows checks every row."""
    return set(read_manifest(path, (), columns, "skip", check_files=False).rows[0])


def image_paths(path: Path) -> list[Path]:
    return files_from(path, IMAGE_SUFFIXES, "images")


def files_from(path: Path, suffixes: set[str], what: str) -> list[Path]:
    """One file, every file of a kind in a folder, or the files a .txt list names (one per
    line, relative to the list's folder)."""
    if path.is_dir():
        found = sorted(p for p in path.iterdir() if p.suffix.lower() in suffixes)
        if not found:
            raise InputError(f"{path}: no {what} in this folder")
        return found
    if path.suffix.lower() == ".txt":
        return [p if p.is_absolute() else path.parent / p for p in map(Path, read_lines(path, what))]
    return [path]


def read_lines(path: Path, what: str = "lines of text") -> list[str]:
    """The non-blank lines of a UTF-8 text file, each checked as text (no NUL characters)."""
    lines = read_text(path, f"list of {what}").splitlines()
    kept = [values.text(line, f"{path} line {i}").strip() for i, line in enumerate(lines, 1) if line.strip()]
    if not kept:
        raise InputError(f"{path}: the list names no {what}")
    return kept


def image_items(args, verb: str) -> list[tuple]:
    """(image, name to print) from IMAGE (a file, a folder or a .txt list) or --data (a
    manifest's images, each once, or generated shapes scenes)."""
    if getattr(args, "data", None):
        return [(ex.image, name) for ex, name in data_examples(args, image_text.load_examples, lambda ex: ex.image)]
    if not args.image:
        raise InputError(f"{verb} needs an IMAGE (a file, a folder or a .txt list) or --data MANIFEST")
    return [(p, str(p)) for p in image_paths(Path(args.image))]


def clip_items(args, verb: str) -> list[tuple] | None:
    """(clip, name to print) when IMAGE names video clips (a clip, a folder or a .txt list of
    them); None when it names images (or --data is given)."""
    if getattr(args, "data", None) or not args.image:
        return None
    found = files_from(Path(args.image), IMAGE_SUFFIXES | VIDEO_SUFFIXES, "images or clips")
    clips = [p for p in found if p.suffix.lower() in VIDEO_SUFFIXES]
    if not clips:
        return None
    if len(clips) < len(found):
        raise InputError(f"{verb} takes images or video clips in one run, not both")
    return [(p, str(p)) for p in clips]


def data_examples(args, load_examples, file_of) -> list[tuple]:
    """--data for a verb: (example, name to print) for each example of a manifest (named by
    its file, file_of(example)) or of generated data (named DATA#index); skipped rows reported."""
    examples, manifest = load_examples(args.data, args.seed, args.n, parse_column_map(args.column), args.on_bad_rows,
                                       need_answers=False)
    report_bad_rows(manifest)
    return [(ex, str(file_of(ex)) if manifest else f"{args.data}#{i}") for i, ex in enumerate(examples)]


def backend_of(args) -> Backend:
    """How the verb's model runs: its --precision and --runtime."""
    return Backend(precision=args.precision, runtime=args.runtime)


def batch_job(args, task: str, modality: str, given: str | None) -> int:
    """`--out FILE.parquet`: the verb as a resumable batch job (inference/batch.py)."""
    if not given and not args.data:
        raise InputError(f"{task} --out {args.out} needs its inputs: a folder, a .txt list or --data MANIFEST")
    suffixes = {"image": IMAGE_SUFFIXES, "audio": AUDIO_SUFFIXES, "video": VIDEO_SUFFIXES}[modality]
    paths = files_from(Path(given), suffixes, f"{modality} files") if given and not args.data else []
    items = items_from(args.data, paths, modality, args.seed, args.n, parse_column_map(args.column),
                                       args.on_bad_rows)
    ray = {"address": args.ray_address, "workers": args.ray_workers} if args.ray else None
    summary = batch.run(task, items, Path(args.out), args.model, args.chunk_size, args.on_bad_rows, ray=ray,
                        backend=backend_of(args))
    print(json.dumps(summary), file=sys.stderr)
    return 0


def pairs(parsed, what: str) -> dict[str, str]:
    """Repeated NAME=VALUE flags (e.g. --model vqa=runs/x/model), parsed by arguments.pair,
    -> {NAME: VALUE}; a NAME given twice is an error."""
    out: dict[str, str] = {}
    for key, value in parsed or []:
        if key in out:
            raise InputError(f"{what} {key}=...: given twice")
        out[key] = value
    return out
