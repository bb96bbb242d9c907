"""Batch inference over large inputs into one Parquet file: streaming, resumable, with progress.

    polymodal caption --data big.jsonl --out captions.parquet
    polymodal embed --data big.jsonl --out vectors.parquet
    polymodal transcribe --data speech.jsonl --out transcripts.parquet

Inputs are read a chunk at a time (a manifest holds paths; only the current chunk's files are
decoded). Each finished chunk is written as its own Parquet part beside the output, atomically
(temp file + rename), so a run that is killed loses at most the chunk it was in. Run the same
command again and it skips every row a part already holds: no item is lost or done twice. When
all rows are done the parts are streamed, in row order, into the output file and removed.

With `--ray` the chunks run on a Ray cluster instead (batch_ray.py): the same parts, written
by Ray Data workers that each hold the model, so resuming works the same way and a run
started locally can finish on a cluster or the other way round.
"""
from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from .errors import InputError
from .registry import Registry


@dataclass
class Item:
    row: int                # its manifest line (or index in generated data): the resume key
    name: str               # the file, or DATA#index
    source: object          # a path or an array, opened only when its chunk runs


@dataclass
class Job:
    modality: str                                   # what each item is: image or audio
    run: Callable[[list], list[dict]]               # opened inputs -> output columns per item


JOBS: Registry = Registry("batch job")


@JOBS.register("caption")
def caption_job(model: str | None) -> Job:
    from .hub import load
    pipe = load("caption", model)
    return Job("image", lambda images: [{"caption": c.text, "score": float(c.score)} for c in pipe.batch(images)])


@JOBS.register("embed")
def embed_job(model: str | None) -> Job:
    from .hub import load
    pipe = load("align", model)
    return Job("image", lambda images: [{"vector": v.tolist()} for v in pipe.embed_images(images)])


@JOBS.register("transcribe")
def transcribe_job(model: str | None) -> Job:
    from .hub import load
    pipe = load("transcribe", model)
    return Job("audio", lambda audios: [{"text": t.text, "score": float(t.score)} for t in pipe.batch(audios)])


def items_from(data: str | None, paths: list[Path], modality: str, seed: int, n: int, columns: dict | None,
               on_bad_rows: str) -> list[Item]:
    """A manifest (its `image` or `audio` column, files checked to exist, not decoded),
    generated shapes scenes, or files given one by one."""
    if data and data.startswith("shapes:"):
        from .data.world import parse_spec, shapes
        if modality != "image":
            raise InputError(f"{data}: generated scenes are images; this job reads {modality}")
        preset, split = parse_spec(data)
        return [Item(i, f"{data}#{i}", s.image) for i, s in enumerate(shapes(preset, split, seed, n))]
    if data:
        from .data.manifest import read_manifest, report_bad_rows
        manifest = read_manifest(data, (modality,), columns, on_bad_rows)
        report_bad_rows(manifest)
        return [Item(r["_row"], str(r[modality]), r[modality]) for r in manifest.rows]
    return [Item(i, str(p), p) for i, p in enumerate(paths)]


def parts_folder(out: Path) -> Path:
    return out.with_name(out.name + ".parts")


def done_rows(parts: Path) -> set[int]:
    import pyarrow.parquet as pq
    done: set[int] = set()
    for part in sorted(parts.glob("part-*.parquet")):
        done.update(pq.read_table(part, columns=["row"]).column("row").to_pylist())
    return done


def open_item(item: Item, modality: str, on_bad_rows: str):
    """The decoded input, or (with on_bad_rows skip) the error that names it."""
    from .modalities import Audio, Image
    try:
        return (Image if modality == "image" else Audio).open(item.source)
    except InputError as e:
        if on_bad_rows == "fail":
            raise InputError(f"row {item.row}: {e}") from None
        return e


def run_chunk(job: Job, chunk: list[Item], on_bad_rows: str) -> list[dict]:
    opened = [open_item(it, job.modality, on_bad_rows) for it in chunk]
    good = [i for i, x in enumerate(opened) if not isinstance(x, InputError)]
    outputs = job.run([opened[i] for i in good]) if good else []
    rows = [{"row": it.row, "input": it.name, "error": str(x) if isinstance(x, InputError) else None}
            for it, x in zip(chunk, opened)]
    for i, out in zip(good, outputs):
        rows[i].update(out)
    keys = {k: None for r in rows for k in r}          # every row has every column (None: failed)
    return [{**keys, **r} for r in rows]


def write_part(rows: list[dict], path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from .checkpoint import atomic_write
    atomic_write(path, lambda tmp: pq.write_table(pa.Table.from_pylist(rows), tmp))


def merge(parts: Path, out: Path) -> int:
    """The parts, in row order, streamed into `out` (atomically); then the parts are removed."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from .checkpoint import atomic_write
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


def run_here(task: str, model: str | None, todo: list[list[Item]], parts: Path, on_bad_rows: str) -> Iterator[int]:
    """The chunks in this process, one after another; yields each one's size when written."""
    job = JOBS.build(task, model)
    for chunk in todo:
        write_part(run_chunk(job, chunk, on_bad_rows), part_path(parts, chunk))
        yield len(chunk)


def run(task: str, items: list[Item], out: Path, model: str | None = None, chunk_size: int = 256,
        on_bad_rows: str = "fail", progress: bool | None = None, ray: dict | None = None) -> dict:
    """Run `task` over the items into `out` (.parquet), resuming from parts already written.
    ray: None (here), or the options of batch_ray.run_on_ray (address, workers)."""
    from tqdm.auto import tqdm
    if out.suffix.lower() != ".parquet":
        raise InputError(f"{out}: batch results are written as .parquet")
    if out.exists():
        raise InputError(f"{out}: exists already (the run it came from finished); remove it or choose another --out")
    parts = parts_folder(out)
    parts.mkdir(parents=True, exist_ok=True)
    done = done_rows(parts)
    todo = list(chunks([it for it in items if it.row not in done], chunk_size))
    if ray is None:
        finished = run_here(task, model, todo, parts, on_bad_rows)
    else:
        from .batch_ray import run_on_ray
        finished = run_on_ray(task, model, todo, parts, on_bad_rows, **ray)
    bar = tqdm(total=len(items), initial=len(done & {it.row for it in items}), desc=task, unit="item",
               disable=not (sys.stderr.isatty() if progress is None else progress))
    for n in finished:
        bar.update(n)
    bar.close()
    rows = merge(parts, out)
    return {"rows": rows, "resumed_from": len(done), "done_now": sum(map(len, todo)), "out": str(out)}
