"""`polymodal train`: a recipe, or flags, to a trained model folder."""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import torch

from ...core.errors import InputError
from ...data.manifest import parse_column_map, report_bad_rows
from ...encoders.registry import encoder_spec
from ...training import finetune as tuning
from ...training import run as training_run
from ...training.recipes import load_recipe


def train(args) -> int:
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.init:
        return finetune(args)
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


def finetune(args) -> int:
    """`train --init MODEL`: a pretrained Hugging Face task model trained further on --data."""
    if args.recipe or args.resume or args.fusion:
        raise InputError("--init fine-tunes a pretrained model from flags: --recipe, --resume and --fusion do "
                         "not apply to it")
    if not args.task or not args.data:
        raise InputError("--init needs --task (caption, align, vqa, transcribe) and --data")
    task = training_run.trainable_task(args.task)
    columns = parse_column_map(args.column) if args.column else None
    examples, manifest = task.load_data(args.data, args.seed, args.n, columns, args.on_bad_rows)
    report_bad_rows(manifest, args.out)
    val = task.load_data(args.val, args.seed + 1, args.val_n, columns, args.on_bad_rows)[0] if args.val else []
    options = {"tune": args.tune or "full", "lora_rank": args.lora_rank, "lora_save": args.lora_save,
               "seed": args.seed}
    for flag, key in (("epochs", "epochs"), ("batch_size", "batch_size"), ("lr", "lr"), ("time_budget", "time_budget_s")):
        if getattr(args, flag) is not None:
            options[key] = getattr(args, flag)
    result = tuning.finetune(args.init, args.task, examples, val, args.out, tuning.FinetuneConfig(**options))
    print(json.dumps(result, indent=2))
    print(f"model saved in {result['model']} (Hugging Face layout)", file=sys.stderr)
    return 0


def default_recipe(args) -> dict:
    """The recipe the flags describe: every modality gets an encoder (the data decides which
    are kept), in the task's own model spec."""
    task = training_run.trainable_task(args.task or "vqa")
    if task.chooses_fusion and not args.fusion:
        raise InputError("train needs --fusion (e.g. hybrid:cross-attention) or --recipe")
    encoders = {m: encoder_spec(given, m, args.tune) for m, given in
                (("image", args.image_encoder), ("text", args.text_encoder), ("audio", args.audio_encoder),
                 ("video", args.video_encoder))}
    if args.temporal:
        if encoders["video"]["name"] != "frames":
            raise InputError("--temporal applies to the frames encoder")
        encoders["video"]["config"]["temporal"] = args.temporal
    spec = task.model_spec(encoders, args.fusion, {}, 128)
    return {"task": args.task or "vqa", "model": spec, "train": {}}
