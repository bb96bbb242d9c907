"""`polymodal eval TASK`: a model (or a system) on data, scored by the task's metrics."""
from __future__ import annotations

import json
import sys
from dataclasses import replace

from ...core.errors import InputError
from ...data.manifest import parse_column_map, report_bad_rows
from ...loading import load_model
from ...speech.text import normalize_transcript
from ...systems.compare import flat, heard_back, run_system
from ...systems.definition import load_system
from ...tasks import vqa
from ...tasks.metrics.answers import answer_metrics
from ...tasks.registry import TASKS
from .inputs import pairs


def evaluate(args) -> int:
    metrics = evaluate_system(args) if args.system else evaluate_model(args)
    if args.json:
        print(json.dumps(metrics, indent=2))
    else:
        print("\n".join(f"{k}: {v}" for k, v in metrics.items()))
    return 0


def option_values(args, names: tuple[str, ...]) -> dict:
    """The flags given (or defaulted) for the options a task names."""
    return {name: getattr(args, name) for name in names if getattr(args, name, None) is not None}


def evaluate_model(args) -> dict:
    """The task's own evaluation, with the flags it names (tasks.base.Task.eval_options)."""
    task = TASKS.build(args.task)
    options = option_values(args, task.eval_options)
    data_options = {**option_values(args, task.data_options), **task.eval_data_options(options)}
    model = load_model(args.model, task=task.model_task)
    examples, manifest = task.load_data(args.data, args.seed, args.n, parse_column_map(args.column), args.on_bad_rows,
                                        **data_options)
    report_bad_rows(manifest)
    return task.evaluate(model, examples, args.batch_size, progress=sys.stderr.isatty(), **options)


def evaluate_system(args) -> dict:
    """A system stands where a model would: the same data, the same metrics."""
    if args.task != "vqa":
        raise InputError(f"--system evaluates vqa systems (image + question -> answer), not {args.task}")
    chain = load_system(args.system, pairs(args.system_model, "--system-model"))
    examples, manifest = vqa.load_examples(args.data, args.seed, args.n, parse_column_map(args.column),
                                           args.on_bad_rows, spoken="audio" in chain.inputs)
    report_bad_rows(manifest)
    answers, results = run_system(chain, examples, latency=False)
    questions = [q for _, q in flat(examples)]
    out = answer_metrics(questions, answers.answers)
    if answers.failed:
        out.update(failed_items=answers.failed, first_error=answers.first_error)
    if "audio" in chain.outputs:          # a spoken answer: is it right as a listener hears it?
        heard = heard_back(results, args.listen_with)
        out["spoken_answer"] = {"recognizer": args.listen_with, **answer_metrics(
            [replace(q, answer=normalize_transcript(q.answer)) for q in questions], heard)}
    return out
