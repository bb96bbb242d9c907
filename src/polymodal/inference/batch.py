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
from pathlib import Path

from tqdm.auto import tqdm

from ..core.errors import InputError
from .backend import Backend
from .batch_parts import Item, chunks, done_rows, merge, parts_folder, run_here
from .batch_ray import run_on_ray


def run(task: str, items: list[Item], out: Path, model: str | None = None, chunk_size: int = 256,
        on_bad_rows: str = "fail", progress: bool | None = None, ray: dict | None = None,
        backend: Backend = Backend()) -> dict:
    """Run `task` over the items into `out` (.parquet), resuming from parts already written.
    ray: None (here), or the options of batch_ray.run_on_ray (address, workers); backend:
    how each worker's model runs (checked when it was made)."""
    if out.suffix.lower() != ".parquet":
        raise InputError(f"{out}: batch results are written as .parquet")
    if out.exists():
        raise InputError(f"{out}: exists already (the run it came from finished); remove it or choose another --out")
    parts = parts_folder(out)
    parts.mkdir(parents=True, exist_ok=True)
    done = done_rows(parts)
    todo = list(chunks([it for it in items if it.row not in done], chunk_size))
    if ray is None:
        finished = run_here(task, model, backend, todo, parts, on_bad_rows)
    else:
        finished = run_on_ray(task, model, backend, todo, parts, on_bad_rows, **ray)
    bar = tqdm(total=len(items), initial=len(done & {it.row for it in items}), desc=task, unit="item",
               disable=not (sys.stderr.isatty() if progress is None else progress))
    for n in finished:
        bar.update(n)
    bar.close()
    rows = merge(parts, out)
    return {"rows": rows, "resumed_from": len(done), "done_now": sum(map(len, todo)), "out": str(out)}
