"""What each CLI command does (argument parsing lives in cli.py): cli.main calls the function
named after the verb."""
from __future__ import annotations

import json
import os
import sys
from dataclasses import replace
from pathlib import Path

from ..errors import InputError
from .align import classify, embed, search  # noqa: F401  (verbs)
from .caption import caption  # noqa: F401  (verb)
from .generate import edit, eval_edit, generate  # noqa: F401  (verbs)
from .ground import ground  # noqa: F401  (verb)
from .speech import speak, transcribe  # noqa: F401  (verbs)
from .serve import serve  # noqa: F401  (verb)
from .system import compare, system  # noqa: F401  (verbs)
from .inputs import ask_items


def data(args) -> int:
    from ..data.export import export_shapes
    if args.noise_snr is not None and not args.spoken:
        raise InputError("--noise-snr needs --spoken")
    path = export_shapes(args.preset, args.split, args.seed, args.n, Path(args.out), args.image_format,
                         args.jpeg_quality, args.spoken, args.noise_snr)
    print(f"wrote {args.n} {args.preset} scenes and {path}", file=sys.stderr)
    return 0


def train(args) -> int:
    from .. import training_run
    from ..data.manifest import parse_column_map
    from ..recipes import load_recipe
    if args.threads:
        import torch
        torch.set_num_threads(args.threads)
    if args.recipe:
        recipe = load_recipe(args.recipe)
    elif args.resume and not args.data:
        recipe = training_run.saved_recipe(args.out)
    else:
        recipe = default_recipe(args)
    if args.task:
        recipe["task"] = args.task
    if args.data:
        recipe["data"] = {"spec": args.data, "seed": args.seed, "n": args.n}
    if args.val:
        recipe["val"] = {"spec": args.val, "seed": args.seed + 1, "n": args.val_n}
    if args.fusion:
        recipe["model"]["fusion"] = args.fusion
        recipe["model"]["fusion_config"] = {}
    if args.column:
        recipe["columns"] = parse_column_map(args.column)
    if args.on_bad_rows != "fail" or "on_bad_rows" not in recipe:
        recipe["on_bad_rows"] = args.on_bad_rows
    for flag, key in (("epochs", "epochs"), ("batch_size", "batch_size"), ("lr", "lr"), ("time_budget", "time_budget_s")):
        if getattr(args, flag) is not None:
            recipe.setdefault("train", {})[key] = getattr(args, flag)
    if "data" not in recipe:
        raise InputError("train needs --data or a --recipe that names its data")
    result = training_run.run(recipe, args.out, resume=args.resume)
    if os.environ.get("RANK", "0") == "0":        # under `accelerate launch`, one report
        print(json.dumps(result, indent=2))
        print(f"model saved in {Path(args.out) / 'model'}", file=sys.stderr)
    return 0


def default_recipe(args) -> dict:
    from ..tasks import TASKS
    task = args.task or "vqa"
    if hasattr(TASKS.get(task), "build_model"):          # a model of its own kind: no fusion to pick
        return {"task": task, "model": {"image_encoder": {"name": args.image_encoder, "config": {}}}, "train": {}}
    if not args.fusion:
        raise InputError("train needs --fusion (e.g. hybrid:cross-attention) or --recipe")
    return {"task": args.task or "vqa",
            # every modality gets an encoder; the data decides which are kept
            "model": {"encoders": {"image": {"name": args.image_encoder, "config": {}},
                                   "text": {"name": args.text_encoder, "config": {}},
                                   "audio": {"name": "logmel", "config": {}}},
                      "fusion": args.fusion},
            "train": {}}


def eval(args) -> int:  # noqa: A001  (the verb is `eval`)
    from ..data.manifest import parse_column_map, report_bad_rows
    from ..hub import load_for_task
    from ..tasks import TASKS
    from .align import ALIGN_EVALS, eval_aligner
    if args.guidance is None and args.task in ("generate", "edit"):
        from ..cli import DRAW_GUIDANCE
        args.guidance = DRAW_GUIDANCE
    if args.system:
        metrics = eval_system(args)
    elif args.task == "edit":
        metrics = eval_edit(args)
    elif args.task in ALIGN_EVALS:
        metrics = eval_aligner(args)
    elif args.task == "speak":
        from ..tasks.speak import load_examples, round_trip
        examples, manifest = load_examples(args.data, args.seed, args.n, parse_column_map(args.column),
                                           args.on_bad_rows)
        report_bad_rows(manifest)
        metrics = round_trip(load_for_task("speak", args.model), load_for_task("transcribe", args.recognizer),
                             [ex.text for ex in examples])
    else:
        task = TASKS.get(args.task)
        model = load_for_task(args.task, args.model)
        spoken = {"noise_snr": args.noise_snr} if args.task == "transcribe" else \
            {"spoken": True} if args.task == "vqa" and args.ask_by in ("speech", "both") else {}
        if args.noise_snr is not None and not args.data.startswith("spoken:"):
            raise InputError("--noise-snr applies to spoken:<split> data (speech synthesised here)")
        examples, manifest = task.load_examples(args.data, args.seed, args.n, parse_column_map(args.column),
                                                args.on_bad_rows, **spoken)
        report_bad_rows(manifest)
        options = {"beams": args.beams, "guidance": args.guidance} if args.task == "caption" else \
            {"steps": args.steps, "guidance": args.guidance, "scheduler": args.scheduler} if args.task == "generate" else {}
        if args.task == "vqa" and args.ask_by:
            options["ask_by"] = args.ask_by
        metrics = task.evaluate(model, examples, args.batch_size, progress=sys.stderr.isatty(), **options)
    if args.json:
        print(json.dumps(metrics, indent=2))
    else:
        print("\n".join(f"{k}: {v}" for k, v in metrics.items()))
    return 0


def eval_system(args) -> dict:
    """A system stands where a model would: the same data, the same metrics."""
    from ..data.manifest import parse_column_map, report_bad_rows
    from ..systems.compare import flat, run_system
    from ..systems.definition import load_system
    from ..tasks import vqa
    from .system import pairs
    if args.task != "vqa":
        raise InputError(f"--system evaluates vqa systems (image + question -> answer), not {args.task}")
    chain = load_system(args.system, pairs(args.system_model, "--system-model"))
    examples, manifest = vqa.load_examples(args.data, args.seed, args.n, parse_column_map(args.column),
                                           args.on_bad_rows, spoken="audio" in chain.inputs)
    report_bad_rows(manifest)
    answers, results = run_system(chain, examples, latency=False)
    questions = [q for _, q in flat(examples)]
    out = vqa.metrics(questions, answers.answers)
    if answers.failed:
        out.update(failed_items=answers.failed, first_error=answers.first_error)
    if "audio" in chain.outputs:          # a spoken answer: is it right as a listener hears it?
        from ..speech.text import normalize_transcript
        from ..systems.compare import heard_back
        heard = heard_back(results, args.listen_with)
        out["spoken_answer"] = {"recognizer": args.listen_with, **vqa.metrics(
            [replace(q, answer=normalize_transcript(q.answer)) for q in questions], heard)}
    return out


def ask(args) -> int:
    from ..hub import default_model, load
    items = ask_items(args)
    pipe = load("vqa", args.model or default_model("vqa", spoken=bool(args.audio)))
    answers = pipe.batch([(image, question, args.audio) for image, question, _ in items], args.batch_size,
                         progress=len(items) > args.batch_size and sys.stderr.isatty())
    for (_, question, name), answer in zip(items, answers):
        if args.json:
            print(json.dumps({"image": name, "question": question, "answer": answer.text, "score": answer.score}))
        elif len(items) == 1:
            print(answer.text)
        else:
            print(f"{name}\t{question}\t{answer.text}\t{answer.score:.3f}")
    return 0


def demo(args) -> int:
    from ..report import write_demo
    path = write_demo(Path(args.out), seed=args.seed, n=args.n)
    print(f"report: {path}")
    return 0


def compare_fusion(args) -> int:
    import platform
    import torch
    from ..compare_fusion import compare_fusion as run
    if args.data not in ("shapes:sort-of-clevr", "shapes:sort-of-clevr:train"):
        raise InputError(f"{args.data}: the fusion table is defined on shapes:sort-of-clevr")
    machine = f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads" + (
        f", {torch.cuda.get_device_name()}" if torch.cuda.is_available() else ", CPU")
    settings = {"n": args.n, "steps": args.steps, "pretrain_steps": args.pretrain_steps, "seed": args.seed, "test_n": args.test_n, "machine": machine,
                "command": f"polymodal compare-fusion --fusions {args.fusions} --n {args.n} --steps {args.steps} "
                           f"--pretrain-steps {args.pretrain_steps} --test-n {args.test_n} --seed {args.seed}"}
    path = run(Path(args.out), Path(args.runs), args.fusions.split(","), args.n, args.steps, args.seed,
               args.test_n, settings)
    print(path.read_text())
    return 0
