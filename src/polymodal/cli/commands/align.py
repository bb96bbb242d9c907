"""`polymodal embed`, `search` and `classify`: the aligner's image-text embedding space; clips
through video models (a video classifier's classes and features, X-CLIP's clip-text space)."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from ...core.errors import InputError
from ...core.files import atomic_write
from ...inference.pipelines import load_on
from ...inference.video import load_video_embedder
from ...modalities import IMAGE_SUFFIXES, VIDEO_SUFFIXES, Image
from ...tasks import clip_text
from .inputs import backend_of, batch_job, clip_items, clip_job, files_from, image_items, image_paths, read_lines
from .streaming import batches, emit


def embed(args) -> int:
    if Path(args.out).suffix.lower() == ".parquet":
        if args.text or args.text_file:
            raise InputError("a .parquet batch job embeds images or clips; write text vectors to an .npz")
        if clip_job(args):
            return batch_job(args, "embed-video", "video", args.image)
        return batch_job(args, "embed", "image", args.image)
    clips = clip_items(args, "embed")
    if clips is not None:
        if args.text or args.text_file:
            raise InputError("embed takes clips or texts in one run, not both")
        vectors = load_video_embedder(args.model, backend_of(args)).embed_videos([clip for clip, _ in clips])
        path = save_vectors(Path(args.out), vectors, [name for _, name in clips], "video")
        print(f"wrote {len(clips)} video vectors of size {vectors.shape[1]} to {path}", file=sys.stderr)
        return 0
    pipe = load_on("align", args.model, backend_of(args))
    if args.text or args.text_file:
        names = list(args.text or []) + (read_lines(Path(args.text_file)) if args.text_file else [])
        vectors, kind = pipe.embed_texts(names), "text"
    else:
        items = image_items(args, "embed")
        names = [name for _, name in items]
        vectors, kind = pipe.embed_images([im for im, _ in items], progress=sys.stderr.isatty()), "image"
    path = save_vectors(Path(args.out), vectors, names, kind)
    print(f"wrote {len(names)} {kind} vectors of size {vectors.shape[1]} to {path}", file=sys.stderr)
    return 0


def save_vectors(path: Path, vectors: np.ndarray, names: list[str], kind: str) -> Path:
    """An .npz with `vectors` [N, D], `names` [N] and `kind`, written atomically."""
    if path.suffix != ".npz":
        raise InputError(f"{path}: embeddings are written as .npz")

    def write(tmp):
        with open(tmp, "wb") as f:     # a file object: np.savez would add .npz to a name
            np.savez(f, vectors=vectors.astype(np.float32), names=np.array(names), kind=np.array(kind))
    atomic_write(path, write)
    return path


def load_vectors(path: Path) -> tuple[np.ndarray, list[str], str]:
    try:
        with np.load(path, allow_pickle=False) as data:
            return data["vectors"], [str(n) for n in data["names"]], str(data["kind"])
    except (OSError, KeyError, ValueError) as e:
        raise InputError(f"{path}: not an embeddings file written by `polymodal embed` ({e})") from None


def gallery(pipe, source: str, args) -> tuple[np.ndarray, list[str]]:
    """Image vectors and names from an .npz (polymodal embed), a folder, a .txt list or a manifest."""
    path = Path(source)
    if path.suffix == ".npz":
        vectors, names, kind = load_vectors(path)
        if kind != "image":
            raise InputError(f"{path}: holds {kind} vectors; search needs an image gallery")
        return vectors, names
    if path.suffix.lower() in (".jsonl", ".csv") or source.startswith("shapes:"):
        args.data, args.image = source, None
        items = image_items(args, "search")
    else:
        items = [(p, str(p)) for p in image_paths(path)]
    return pipe.embed_images([im for im, _ in items], progress=sys.stderr.isatty()), [n for _, n in items]


def search(args) -> int:
    clips = clip_gallery(args.gallery)
    pipe = load_on("video-align" if clips else "align", args.model, backend_of(args))
    query = Path(args.query)
    if clips:
        is_clip = query.suffix.lower() in VIDEO_SUFFIXES
        q = pipe.embed_videos([query])[0] if is_clip else pipe.embed_texts([args.query])[0]
        vectors, names = clip_vectors(pipe, args.gallery, args)
    else:
        is_image = query.suffix.lower() in IMAGE_SUFFIXES
        q = pipe.embed_images([query])[0] if is_image else pipe.embed_texts([args.query])[0]   # bad query: fail first
        vectors, names = gallery(pipe, args.gallery, args)
    if vectors.ndim != 2 or vectors.shape[1] != q.shape[0]:
        raise InputError(f"{args.gallery}: its vectors have size {vectors.shape[-1]}, this model's {q.shape[0]}: "
                         f"embed the gallery with the same model")
    scores = vectors @ q
    for rank, i in enumerate(np.argsort(-scores)[: args.k], 1):
        if args.json:
            print(json.dumps({"rank": rank, "video" if clips else "image": names[i], "score": round(float(scores[i]), 4)}))
        else:
            print(f"{rank}\t{scores[i]:.3f}\t{names[i]}")
    return 0


def clip_gallery(source: str) -> bool:
    """Whether a search gallery holds video clips: motion clips, an .npz of clip vectors, or a
    folder or .txt list of clips."""
    path = Path(source)
    if source.startswith("shapes:motion:"):
        return True
    if path.suffix == ".npz":
        return path.is_file() and load_vectors(path)[2] == "video"
    if path.is_dir():                  # (an empty folder is refused later, after the query is checked)
        suffixes = [p.suffix.lower() for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES | VIDEO_SUFFIXES]
        return bool(suffixes) and all(s in VIDEO_SUFFIXES for s in suffixes)
    if path.suffix.lower() == ".txt":
        found = files_from(path, IMAGE_SUFFIXES | VIDEO_SUFFIXES, "images or clips")
        return all(p.suffix.lower() in VIDEO_SUFFIXES for p in found)
    return False


def clip_vectors(pipe, source: str, args) -> tuple[np.ndarray, list[str]]:
    """Clip vectors and names from an .npz (polymodal embed), motion clips, a folder or a .txt list."""
    if source.endswith(".npz"):
        vectors, names, _ = load_vectors(Path(source))
        return vectors, names
    if source.startswith("shapes:motion:"):
        examples, _ = clip_text.load_examples(source, args.seed, args.n)
        items = [(ex.video, f"{source}#{i}") for i, ex in enumerate(examples)]
    else:
        items = [(p, str(p)) for p in files_from(Path(source), VIDEO_SUFFIXES, "clips")]
    return pipe.embed_videos([v for v, _ in items], progress=sys.stderr.isatty()), [n for _, n in items]


def classify(args) -> int:
    clips = clip_items(args, "classify")
    if clips is not None:
        return classify_clips(args, clips)
    if bool(args.labels) == bool(args.examples):
        raise InputError("classify needs either --labels \"a,b,...\" (zero-shot) or --examples DIR (few-shot)")
    labels = label_list(args.labels) if args.labels else None
    items = [(Image.open(image), name) for image, name in image_items(args, "classify")]
    pipe = load_on("align", args.model, backend_of(args))
    pipe.batch_size = args.batch_size
    if labels:
        for chunk in batches(items, args.batch_size, "classifying"):
            print_labels(args, chunk, [r[0] for r in pipe.classify([im for im, _ in chunk], labels)], "image",
                         single=len(items) == 1)
    else:
        support = support_images(Path(args.examples))
        predicted = pipe.few_shot([im for im, _ in items], support, args.method, invariances(args))
        print_labels(args, items, [(p, None) for p in predicted], "image", single=len(items) == 1)
    return 0


def label_list(given: str) -> list[str]:
    labels = [label.strip() for label in given.split(",") if label.strip()]
    if len(labels) < 2:
        raise InputError(f"--labels {given!r}: give at least two labels, separated by commas")
    return labels


def classify_clips(args, items: list[tuple]) -> int:
    """Clips: by a video classifier's own classes, or zero-shot by --labels (X-CLIP)."""
    if args.examples:
        raise InputError("--examples (few-shot) takes images; classify clips with a video classifier, or zero-shot "
                         "with X-CLIP and --labels")
    if not args.model and not args.labels:
        raise InputError("classifying clips needs --model, a video classifier (VideoMAE, TimeSformer, ViViT), or "
                         "--labels, zero-shot by a video-text aligner (the shipped one, or X-CLIP with --model)")
    if args.labels:
        pipe, labels = load_on("video-align", args.model, backend_of(args)), label_list(args.labels)

        def ranked(clips):
            return pipe.classify(clips, labels)
    else:
        pipe = load_on("video-classify", args.model, backend_of(args))

        def ranked(clips):
            return pipe.classify(clips)
    for chunk in batches(items, args.batch_size, "classifying"):
        print_labels(args, chunk, [r[0] for r in ranked([clip for clip, _ in chunk])], "video", single=len(items) == 1)
    return 0


def print_labels(args, items: list[tuple], results: list[tuple], kind: str, single: bool) -> None:
    """One line per input (single: the run has one input, printed as its label alone)."""
    for (_, name), (label, score) in zip(items, results):
        if args.json:
            emit(json.dumps({kind: name, "label": label, **({"score": round(score, 4)} if score is not None else {})}))
        elif single:
            emit(label)
        else:
            emit(f"{name}\t{label}" + (f"\t{score:.3f}" if score is not None else ""))


def support_images(folder: Path) -> dict[str, list[Path]]:
    """--examples DIR: one subfolder of example images per class."""
    if not folder.is_dir():
        raise InputError(f"{folder}: --examples needs a folder with one subfolder of images per class")
    classes = {d.name: sorted(p for p in d.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
               for d in sorted(folder.iterdir()) if d.is_dir()}
    classes = {c: ims for c, ims in classes.items() if ims}
    if len(classes) < 2:
        raise InputError(f"{folder}: needs at least two class subfolders with images (found {len(classes)})")
    return classes


def invariances(args) -> tuple[str, ...]:
    return tuple(v.strip() for v in (args.invariant or "").split(",") if v.strip())
