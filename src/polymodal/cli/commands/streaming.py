"""Results printed as they are made: a verb over many inputs runs them a batch at a time and
prints (and flushes) each batch's lines before it starts the next, so a pipe or a person sees
the first results after the first batch, not after the last. Images and sounds are opened, and
so checked, before the first batch runs: a bad one is refused before anything is printed."""
from __future__ import annotations

import sys
from collections.abc import Iterator

from tqdm.auto import tqdm


def batches(items: list, size: int, desc: str) -> Iterator[list]:
    """items in chunks of `size`, with one progress bar over all of them (on a terminal, when
    there is more than one chunk)."""
    bar = tqdm(total=len(items), desc=desc, file=sys.stderr, disable=not (len(items) > size and sys.stderr.isatty()))
    for start in range(0, len(items), size):
        chunk = items[start:start + size]
        yield chunk
        bar.update(len(chunk))
    bar.close()


def emit(line: str) -> None:
    """One result line, out at once (stdout is block-buffered on a pipe)."""
    print(line, flush=True)
