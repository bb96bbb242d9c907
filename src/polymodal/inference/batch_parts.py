"""The pieces of a batch job shared by a local run and a Ray run (batch.py, batch_ray.py):
items, the jobs (a model's pipeline over a chunk of opened inputs), and the Parquet parts a
finished chunk is written to, atomically, then merged in row order."""
from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from ..core.errors import InputError
from ..core.files import atomic_write
from ..data.manifest import read_manifest, report_bad_rows
from ..data.world import parse_spec, shapes
from ..modalities import Audio, Image
from .backend import Backend
from .pipelines import load_on
from .registry import JOBS
from .video import load_video_embedder


@dataclass
class Item:
    row: int                # its manifest line (or index in generated data): the resume key
    name: str               # the file, or DATA#index
    source: object          # a path or an array, opened only when its chunk runs


@dataclass
class Job:
    modality: str                                   # what each item is: image, audio or video
    run: Callable[[list], list[dict]]               # opened inputs -> output columns per item
    open: Callable[[object], object] | None = None  # a source -> the opened input (default: by
                                                    # modality; a clip at the model's own sampling)


@JOBS.register("caption")
def caption_job(model: str | None, backend: Backend = Backend()) -> Job:
    pipe = load_on("caption", model, backend)
    return Job("image", lambda images: [{"caption": c.text, "score": float(c.score)} for c in pipe.batch(images)])


@JOBS.register("embed")
def embed_job(model: str | None, backend: Backend = Backend()) -> Job:
    pipe = load_on("align", model, backend)
    return Job("image", lambda images: [{"vector": v.tolist()} for v in pipe.embed_images(images)])


@JOBS.register("caption-video")
def caption_video_job(model: str | None, backend: Backend = Backend()) -> Job:
    pipe = load_on("video-caption", model, backend)
    return Job("video", lambda clips: [{"caption": c.text, "score": float(c.score)} for c in pipe.batch(clips)],
               pipe.prepare)


@JOBS.register("embed-video")
def embed_video_job(model: str | None, backend: Backend = Backend()) -> Job:
    pipe = load_video_embedder(model, backend)
    return Job("video", lambda clips: [{"vector": v.tolist()} for v in pipe.embed_videos(clips)], pipe.prepare)


@JOBS.register("transcribe")
def transcribe_job(model: str | None, backend: Backend = Backend()) -> Job:
    pipe = load_on("transcribe", model, backend)
    return Job("audio", lambda audios: [{"text": t.text, "score": float(t.score)} for t in pipe.batch(audios)])


def items_from(data: str | None, paths: list[Path], modality: str, seed: int, n: int, columns: dict | None,
               on_bad_rows: str) -> list[Item]:
    """A manifest (its `image`, `audio` or `video` column, files checked to exist, not
    decoded), generated scenes (motion clips for video), or files given one by one."""
    if data and data.startswith("shapes:"):
        preset, split = parse_spec(data)
        kind = "video" if preset == "motion" else "image"
        if modality != kind:
            raise InputError(f"{data}: generated {preset} scenes are {kind}s; this job reads {modality}")
        return [Item(i, f"{data}#{i}", s.frames if kind == "video" else s.image)
                for i, s in enumerate(shapes(preset, split, seed, n))]
    if data:
        manifest = read_manifest(data, (modality,), columns, on_bad_rows)
        report_bad_rows(manifest)
        return [Item(r["_row"], str(r[modality]), r[modality]) for r in manifest.rows]
    return [Item(i, str(p), p) for i, p in enumerate(paths)]


def parts_folder(out: Path) -> Path:
    return out.with_name(out.name + ".parts")


def done_rows(parts: Path) -> set[int]:
    done: set[int] = set()
    for part in sorted(parts.glob("part-*.parquet")):
        done.update(pq.read_table(part, columns=["row"]).column("row").to_pylist())
    return done


def open_item(item: Item, job: Job, on_bad_rows: str):
    """The decoded input, or (with on_bad_rows skip) the error that names it."""
    try:
        if job.open is not None:
            return job.open(item.source)
        return (Image if job.modality == "image" else Audio).open(item.source)
    except InputError as e:
        if on_bad_rows == "fail":
            raise InputError(f"row {item.row}: {e}") from None
        return e


def run_chunk(job: Job, chunk: list[Item], on_bad_rows: str) -> list[dict]:
    opened = [open_item(it, job, on_bad_rows) for it in chunk]
    good = [i for i, x in enumerate(opened) if not isinstance(x, InputError)]
    outputs = job.run([opened[i] for i in good]) if good else []
    rows = [{"row": it.row, "input": it.name, "error": str(x) if isinstance(x, InputError) else None}
            for it, x in zip(chunk, opened)]
    for i, out in zip(good, outputs):
        rows[i].update(out)
    keys = {k: None for r in rows for k in r}          # every row has every column (None: failed)
    return [{**keys, **r} for r in rows]


def write_part(rows: list[dict], path: Path) -> None:
    atomic_write(path, lambda tmp: pq.write_table(pa.Table.from_pylist(rows), tmp))


def merge(parts: Path, out: Path) -> int:
    """The parts, in row order, streamed into `out` (atomically); then the parts are removed."""
    tables = [pq.read_table(p) for p in sorted(parts.glob("part-*.parquet"))]
    table = pa.concat_tables(tables, promote_options="default").sort_by("row")
    atomic_write(out, lambda tmp: pq.write_table(table, tmp))
    for p in parts.glob("part-*.parquet"):
        p.unlink()
    parts.rmdir()
    return table.num_rows


def chunks(items: list[Item], size: int) -> Iterator[list[Item]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def part_path(parts: Path, chunk: list[Item]) -> Path:
    """Named by the chunk's first row: never done before, so unique across resumed runs."""
    return parts / f"part-{chunk[0].row:010d}.parquet"


def run_here(task: str, model: str | None, backend: Backend, todo: list[list[Item]], parts: Path,
             on_bad_rows: str) -> Iterator[int]:
    """The chunks in this process, one after another; yields each one's size when written."""
    job = JOBS.build(task, model, backend)
    for chunk in todo:
        write_part(run_chunk(job, chunk, on_bad_rows), part_path(parts, chunk))
        yield len(chunk)
