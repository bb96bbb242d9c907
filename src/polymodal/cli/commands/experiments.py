"""`polymodal demo` and `polymodal compare-fusion` (modalities on sort-of-clevr or a manifest,
frames on motion clips): the experiments built on the library."""
from __future__ import annotations

from pathlib import Path

from ...core.errors import InputError
from ...core.machine import describe_machine
from ...experiments.demo import write_demo
from ...experiments.fusion_table import compare_fusion as fusion_table
from ...experiments.manifest_fusion import MANIFEST_STRATEGIES, compare_on_manifest
from ...experiments.temporal_fusion import ROWS as TEMPORAL_ROWS
from ...experiments.temporal_fusion import compare_temporal
from ..defaults import DEFAULT_FUSIONS


def demo(args) -> int:
    path = write_demo(Path(args.out), seed=args.seed, n=args.n)
    print(f"report: {path}")
    return 0


def compare_fusion(args) -> int:
    if args.data in ("shapes:motion", "shapes:motion:train"):
        return compare_temporal_fusion(args)
    if args.data.startswith("shapes:") and args.data not in ("shapes:sort-of-clevr", "shapes:sort-of-clevr:train"):
        raise InputError(f"{args.data}: the fusion tables on generated data are defined on shapes:sort-of-clevr "
                         f"(fusing modalities) and shapes:motion (fusing frames)")
    if not args.data.startswith("shapes:"):
        return compare_on_a_manifest(args)
    settings = {"n": args.n, "steps": args.steps, "pretrain_steps": args.pretrain_steps, "seed": args.seed,
                "test_n": args.test_n, "machine": describe_machine(),
                "command": f"polymodal compare-fusion --fusions {args.fusions} --n {args.n} --steps {args.steps} "
                           f"--pretrain-steps {args.pretrain_steps} --test-n {args.test_n} --seed {args.seed}"}
    path = fusion_table(Path(args.out), Path(args.runs), args.fusions.split(","), args.n, args.steps, args.seed,
                        args.test_n, settings)
    print(path.read_text())
    return 0


def compare_temporal_fusion(args) -> int:
    """On `motion` clips the rows fuse frames: early, late, hybrid, each with or without sound."""
    rows = list(TEMPORAL_ROWS) if args.fusions == DEFAULT_FUSIONS else args.fusions.split(",")
    settings = {"n": args.n, "steps": args.steps, "seed": args.seed, "test_n": args.test_n,
                "machine": describe_machine(),
                "command": f"polymodal compare-fusion --data shapes:motion --fusions {','.join(rows)} --n {args.n} "
                           f"--steps {args.steps} --test-n {args.test_n} --seed {args.seed}"}
    path = compare_temporal(Path(args.out), Path(args.runs), rows, args.n, args.steps, args.seed, args.test_n,
                            settings)
    print(path.read_text())
    return 0


def compare_on_a_manifest(args) -> int:
    if not args.val:
        raise InputError("compare-fusion on a manifest needs --val, the manifest each strategy is scored on")
    fusions = args.fusions.split(",")
    if args.fusions == DEFAULT_FUSIONS:
        fusions = list(MANIFEST_STRATEGIES)
    given = {"image": args.image_encoder, "text": args.text_encoder, "audio": args.audio_encoder}
    command = (f"polymodal compare-fusion --task {args.task} --data {args.data} --val {args.val} --image-encoder "
               f"{args.image_encoder} --text-encoder {args.text_encoder} --steps {args.steps} --batch-size "
               f"{args.batch_size} --seed {args.seed} --fusions {','.join(fusions)}")
    path = compare_on_manifest(args.task, args.data, args.val, given, fusions, args.steps, args.batch_size,
                               args.seed, Path(args.out), Path(args.runs), command)
    print(path.read_text())
    return 0
