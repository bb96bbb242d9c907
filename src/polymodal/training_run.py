"""From a recipe (or CLI flags) to a trained model folder."""
from __future__ import annotations

import copy
import sys
from pathlib import Path

import torch

from .data.manifest import report_bad_rows
from .errors import ConfigError, InputError
from .model import ModelConfig, MultimodalModel
from .processors.text import WordTokenizer
from .tasks import TASKS
from .trainer import TrainConfig, Trainer


def build_model(task_name: str, model_spec: dict, examples) -> MultimodalModel:
    """Fill what the data decides into the spec: which modalities it has, the tokenizer's
    vocabulary, the labels (or answers)."""
    task = TASKS.get(task_name)
    spec = copy.deepcopy(model_spec)
    if hasattr(task, "build_model"):          # a model of its own kind (e.g. the captioner)
        try:
            return task.build_model(spec, examples)
        except (TypeError, ValueError, AssertionError, KeyError, AttributeError) as e:
            # e.g. an encoder given as a bare name, or without its "name"
            raise ConfigError(f"bad model option: {str(e) or type(e).__name__} (encoders are "
                              f"{{name: ..., config: {{...}}}})") from None
    texts, answers = task.vocabulary(examples)
    present = task.modalities(examples)
    encoders = {m: e for m, e in (spec.get("encoders") or {}).items() if m in present}
    if not encoders:
        raise ConfigError(f"the model has no encoder for the data's modalities ({', '.join(present)})")
    spec["encoders"] = encoders
    text_enc = encoders.get("text")
    if text_enc and text_enc.get("name") == "transformer" and "vocab" not in text_enc.setdefault("config", {}):
        text_enc["config"]["vocab"] = WordTokenizer.build(texts, unknown=getattr(task, "unknown_words", False)).vocab
    spec.setdefault("labels", answers)
    spec["task"] = task_name
    # `init`: start the model or an encoder from weights trained before (see warm_start); a
    # training-time choice, so it stays out of the saved model config.
    model_init = spec.pop("init", None)
    inits = {m: e.pop("init") for m, e in encoders.items() if "init" in e}
    try:
        model = MultimodalModel(ModelConfig.from_dict(spec))
    except (TypeError, ValueError, AssertionError) as e:   # torch asserts e.g. dim % heads == 0
        raise ConfigError(f"bad model option: {str(e) or type(e).__name__}") from None
    from . import warm_start
    if model_init:
        counts = warm_start.load_matching(model, model_init)
        print(f"init from {model_init}: {counts['taken']} tensors taken, {counts['fresh']} start fresh",
              file=sys.stderr)         # stdout is for the run's JSON result
    for m, source in inits.items():       # a wrapping encoder (speech-reader) names the part it takes
        warm_start.load_into(getattr(model.encoders[m], "pretrained_part", model.encoders[m]), source)
    return model


def check_recipe(recipe: dict) -> None:
    """Recipes come from users: say what is wrong instead of failing deep inside."""
    for key, kind in (("data", dict), ("model", dict)):
        if not isinstance(recipe.get(key), kind):
            raise InputError(f"recipe needs a '{key}' mapping" + (" with 'spec', 'seed', 'n'" if key == "data" else ""))
    for key in ("data", "val"):
        if key in recipe and not isinstance(recipe[key].get("spec") if isinstance(recipe[key], dict) else None, str):
            raise InputError(f"recipe '{key}' needs a 'spec' (shapes:<preset>:<split> or a manifest path)")
    if hasattr(TASKS.get(recipe.get("task", "vqa")), "build_model"):
        return                                # the task checks its own model spec
    if not isinstance(recipe["model"].get("fusion"), str) or not isinstance(recipe["model"].get("encoders"), dict):
        raise InputError("recipe 'model' needs 'encoders' (modality -> {name, config}) and 'fusion'")


def load_data(task, data: dict, recipe: dict, default_n: int):
    """A recipe's data (or val) entry: spec, seed, n, and task options such as `spoken`."""
    import inspect
    options = {k: v for k, v in data.items() if k not in ("spec", "seed", "n")}
    unknown = sorted(set(options) - set(inspect.signature(task.load_examples).parameters))
    if unknown:
        raise InputError(f"recipe data options {', '.join(unknown)} are not known to task {recipe.get('task', 'vqa')!r}")
    return task.load_examples(data["spec"], data.get("seed", 0), data.get("n", default_n), recipe.get("columns"),
                              recipe.get("on_bad_rows", "fail"), **options)


def run(recipe: dict, out: str | Path, resume: bool = False) -> dict:
    check_recipe(recipe)
    task_name = recipe.get("task", "vqa")
    task = TASKS.get(task_name)
    cfg = TrainConfig.from_dict(recipe.get("train", {}))
    data, val = recipe["data"], recipe.get("val")
    train_examples, manifest = load_data(task, data, recipe, 1000)
    report_bad_rows(manifest, out)
    val_examples = []
    if val:
        val_examples, val_manifest = load_data(task, val, recipe, 200)
        report_bad_rows(val_manifest, out, "skipped_val_rows.jsonl")
    torch.manual_seed(cfg.seed)          # same recipe, same initial weights
    model = build_model(task_name, recipe["model"], train_examples)
    trainer = Trainer(model, task, train_examples, val_examples, out, cfg, recipe)
    if resume and not trainer.resume():
        raise InputError(f"{out}: nothing to resume (no checkpoints/latest.json)")
    return trainer.fit()


def saved_recipe(out: str | Path) -> dict:
    """The recipe an interrupted run was started with (so `--resume` needs only `--out`)."""
    from . import checkpoint
    pointer = Path(out) / "checkpoints" / "latest.json"
    if not pointer.exists():
        raise InputError(f"{out}: nothing to resume (no checkpoints/latest.json)")
    folder = pointer.parent / checkpoint.load_json(pointer)["latest"]
    return checkpoint.load_json(folder / "state.json")["recipe"]
