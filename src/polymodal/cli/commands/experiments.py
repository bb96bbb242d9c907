"""`polymodal demo` and `polymodal compare-fusion`: the experiments built on the library."""
from __future__ import annotations

from pathlib import Path

from ...core.errors import InputError
from ...core.machine import describe_machine
from ...experiments.demo import write_demo
from ...experiments.fusion_table import compare_fusion as fusion_table


def demo(args) -> int:
    path = write_demo(Path(args.out), seed=args.seed, n=args.n)
    print(f"report: {path}")
    return 0


def compare_fusion(args) -> int:
    if args.data not in ("shapes:sort-of-clevr", "shapes:sort-of-clevr:train"):
        raise InputError(f"{args.data}: the fusion table is defined on shapes:sort-of-clevr")
    settings = {"n": args.n, "steps": args.steps, "pretrain_steps": args.pretrain_steps, "seed": args.seed,
                "test_n": args.test_n, "machine": describe_machine(),
                "command": f"polymodal compare-fusion --fusions {args.fusions} --n {args.n} --steps {args.steps} "
                           f"--pretrain-steps {args.pretrain_steps} --test-n {args.test_n} --seed {args.seed}"}
    path = fusion_table(Path(args.out), Path(args.runs), args.fusions.split(","), args.n, args.steps, args.seed,
                        args.test_n, settings)
    print(path.read_text())
    return 0
