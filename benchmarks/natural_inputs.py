"""What the agreement benchmarks on inputs polymodal did not make share: the files named on
the command line (or found in named folders), the command line itself, and polymodal's paths."""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Callable

POLYMODAL_PRECISIONS = ("fp32", "bf16", "int8", "int8-bf16")


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


def polymodal_paths(task: str, folder: Path, run: Callable) -> tuple[dict[str, list], list[str]]:
    """polymodal at each of POLYMODAL_PRECISIONS on `folder`: -> ({"polymodal PRECISION":
    run(loaded pipeline)}, the refusals as "PRECISION: reason" where pm.load refuses one, as it
    refuses int8-bf16 on a CPU without oneDNN's bf16 products)."""
    import polymodal as pm
    from polymodal.core.errors import ConfigError, InputError
    outputs, refused = {}, []
    for precision in POLYMODAL_PRECISIONS:
        try:
            loaded = pm.load(task, str(folder), precision=precision)
        except (InputError, ConfigError) as e:
            refused.append(f"{precision}: {str(e).splitlines()[0]}")
            continue
        outputs[f"polymodal {precision}"] = run(loaded)
    return outputs, refused


def refusals(refused: list[str]) -> str:
    """The refused paths, as a sentence of a results file's description ("" where none was)."""
    return f" Not run, refused by pm.load: {'; '.join(refused)}." if refused else ""
