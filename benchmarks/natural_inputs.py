"""What the agreement benchmarks on inputs polymodal did not make share: the files named on
the command line (or found in named folders) and the command line itself."""
from __future__ import annotations

import argparse
from pathlib import Path


def files_among(sources: list[str], suffixes: tuple[str, ...]) -> list[Path]:
    """The named files, and each named folder's files with one of `suffixes`, sorted."""
    out = []
    for source in map(Path, sources):
        out += sorted(p for p in source.iterdir() if p.suffix.lower() in suffixes) if source.is_dir() else [source]
    return out


def judge_parser(doc: str, inputs: str, spread: float | None = None) -> argparse.ArgumentParser:
    """The command line of an agreement benchmark: its inputs (files or folders of them), the
    batch size, and, where `spread` is given, the random weights' spread (real_shapes.build)."""
    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    parser.add_argument("inputs", nargs="+", help=f"{inputs} files or folders of them")
    parser.add_argument("--batch", type=int, default=8)
    if spread is not None:
        parser.add_argument("--spread", type=float, default=spread,
                            help="std of the random weights (real_shapes.build): wide enough that outputs differ "
                                 "by input")
    return parser
