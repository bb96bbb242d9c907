"""Dynamic batching: requests for the same model that arrive within `max_wait` of each other
share one forward pass, up to `max_batch` of them.

One bad item must not fail its neighbours: when a batch raises, its items are rerun one by
one so that each request gets its own answer or its own error.
"""
from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import Executor


class QueueFull(Exception):
    """More requests wait than the server accepts: the client should retry later (429)."""


def run_isolated(run_batch: Callable[[list], list], items: list) -> list:
    """Results of run_batch(items), or per item its result or the exception it raised."""
    try:
        results = run_batch(items)
        if len(results) != len(items):
            raise RuntimeError(f"a batch of {len(items)} gave {len(results)} results")
        return results
    except Exception as batch_error:            # noqa: BLE001  (isolated below, item by item)
        if len(items) == 1:
            return [batch_error]
    out = []
    for item in items:
        try:
            out.append(run_batch([item])[0])
        except Exception as error:              # noqa: BLE001  (returned to that request alone)
            out.append(error)
    return out


class Batcher:
    def __init__(self, run_batch: Callable[[list], list], executor: Executor, max_batch: int, max_wait_s: float,
                 max_queue: int, on_batch: Callable[[int], None] | None = None):
        self.run_batch, self.executor = run_batch, executor
        self.max_batch, self.max_wait_s, self.max_queue = max_batch, max_wait_s, max_queue
        self.on_batch = on_batch
        self.loop = asyncio.get_running_loop()
        self.queue: asyncio.Queue = asyncio.Queue()
        self.worker: asyncio.Task | None = None

    def idle(self) -> bool:
        return self.queue.empty() and (self.worker is None or self.worker.done())

    async def submit(self, item):
        if self.queue.qsize() >= self.max_queue:
            raise QueueFull(f"{self.queue.qsize()} requests are waiting for this model; retry later")
        future = asyncio.get_running_loop().create_future()
        await self.queue.put((item, future))
        if self.worker is None or self.worker.done():
            self.worker = asyncio.create_task(self.serve())
        return await future

    async def collect(self) -> list:
        """The next batch: the first waiting request, and those that join within max_wait."""
        loop = asyncio.get_running_loop()
        batch = [await self.queue.get()]
        deadline = loop.time() + self.max_wait_s
        while len(batch) < self.max_batch:
            try:
                batch.append(self.queue.get_nowait())
                continue
            except asyncio.QueueEmpty:
                pass
            left = deadline - loop.time()
            if left <= 0:
                break
            try:
                batch.append(await asyncio.wait_for(self.queue.get(), left))
            except TimeoutError:
                break
        return [(item, future) for item, future in batch if not future.done()]   # done: timed out

    async def serve(self) -> None:
        """Run batches while requests wait; return when none do (the next submit restarts it:
        between the empty check and the return nothing else runs, so none is left behind)."""
        loop = asyncio.get_running_loop()
        while not self.queue.empty():
            batch = await self.collect()
            if not batch:
                continue
            if self.on_batch:
                self.on_batch(len(batch))
            results = await loop.run_in_executor(self.executor, run_isolated, self.run_batch,
                                                 [item for item, _ in batch])
            for (_, future), result in zip(batch, results):
                if future.done():
                    continue
                if isinstance(result, Exception):
                    future.set_exception(result)
                else:
                    future.set_result(result)
