"""Batch inference on a Ray cluster (`polymodal caption|embed|transcribe --out F.parquet --ray`).

Ray Data maps the chunks over a pool of workers; each worker loads the model once and
writes each finished chunk as the same atomic Parquet part the local run writes
(batch_parts.py), into the parts folder beside the output. So the output folder must be
one every worker can write (a shared file system on a multi-node cluster), and a killed run
resumes the same way as a local one. The driver only counts finished chunks for the
progress bar and merges the parts at the end.

    ray start --head                                  # or an existing cluster
    polymodal caption --data big.jsonl --out /shared/captions.parquet --ray --ray-address auto
"""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from ..core.errors import InputError
from .backend import Backend
from .batch_parts import Item, part_path, run_chunk, write_part
from .registry import JOBS


class ChunkWorker:
    """One Ray Data worker: the model loaded once, then one chunk per call."""

    def __init__(self, task: str, model: str | None, backend: Backend, parts: str, on_bad_rows: str):
        self.job, self.parts, self.on_bad_rows = JOBS.build(task, model, backend), Path(parts), on_bad_rows

    def __call__(self, batch: dict) -> dict:
        chunk = [Item(int(r), str(n), s) for r, n, s in zip(batch["row"], batch["name"], batch["source"])]
        write_part(run_chunk(self.job, chunk, self.on_bad_rows), part_path(self.parts, chunk))
        return {"size": [len(chunk)]}


def source_value(source):
    """Paths travel as strings; arrays (generated scenes) as they are."""
    return str(source) if isinstance(source, (str, Path)) else source


def run_on_ray(task: str, model: str | None, backend: Backend, todo: list[list], parts: Path, on_bad_rows: str,
               address: str | None = None, workers: int = 2) -> Iterator[int]:
    """The chunks on Ray (a local instance when address is None); yields each finished chunk's size."""
    try:
        import ray
    except ImportError:
        raise InputError("--ray needs Ray: pip install 'polymodal[ray]'") from None
    if not todo:
        return
    if not ray.is_initialized():
        ray.init(address=address, include_dashboard=False, log_to_driver=False, configure_logging=False)
    ray.data.DataContext.get_current().enable_progress_bars = False      # the driver draws its own
    rows = [{"row": it.row, "name": it.name, "source": source_value(it.source)} for chunk in todo for it in chunk]
    # Ray cuts its own batches of at most a chunk's size; each is written as a part named by
    # its first row, so they need not fall on the local run's chunk boundaries.
    done = ray.data.from_items(rows).map_batches(
        ChunkWorker, fn_constructor_args=(task, model, backend, str(parts.resolve()), on_bad_rows), batch_size=len(todo[0]),
        concurrency=workers, batch_format="numpy")
    for batch in done.iter_batches(batch_size=None, batch_format="numpy"):
        yield from (int(n) for n in batch["size"])
