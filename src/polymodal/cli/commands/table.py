"""`polymodal fit TABLE --label COLUMN` and `polymodal predict MODEL TABLE --out preds.csv`."""
from __future__ import annotations

import csv
import io
import json
import sys
from pathlib import Path

import torch

from ...core import files
from ...core.errors import InputError
from ...data.table import Columns, check_rows, infer_kind, read_table
from ...experiments.fit import FitOptions, ablation_table
from ...experiments.fit import fit as fit_table
from ...loading import load_model
from ...tasks.table import examples_from
from ...tasks.table import predict as predict_rows


def fit(args) -> int:
    if args.threads:
        torch.set_num_threads(args.threads)
    encoders = {m: given for m, given in (("image", args.image_encoder), ("text", args.text_encoder),
                                          ("audio", args.audio_encoder)) if given}
    opts = FitOptions(label=args.label, time_budget_s=args.time_budget, problem=args.problem,
                      columns=dict(args.column or []), encoders=encoders, fusion=args.fusion,
                      ablation=not args.no_ablation, seed=args.seed)
    report = fit_table(args.table, args.out, opts)
    print(ablation_table([report["validation"], *report["ablation"]], report["metric"]), end="")
    print(json.dumps({k: report[k] for k in ("problem", "metric", "validation", "left_out", "encoders", "fusion",
                                             "seconds", "model")}, indent=2))
    print(f"model saved in {report['model']}; report in {Path(args.out) / 'report.json'}", file=sys.stderr)
    return 0


def predict(args) -> int:
    model = load_model(args.model)
    layout = getattr(model.config, "table", None)
    if model.config.task != "table" or not layout:
        raise InputError(f"{args.model}: a model for {model.config.task}, not one `polymodal fit` made")
    out = Path(args.out)
    if out.is_dir():
        raise InputError(f"{out}: is a folder; --out names the CSV file to write")
    table = read_table(args.table)
    check_rows(table, Columns(layout["label"], layout["problem"], dict(layout["columns"])), min_rows=1)
    examples = examples_from(table, layout, need_target=False)
    predicted, scores = predict_rows(model, examples, args.batch_size)
    ids = [c for c in table.columns if c not in layout["columns"] and c != layout["label"]
           and infer_kind(c, [r.get(c) for r in table.rows])[0] == "id"]
    header = ["row", *ids, "prediction"] + (["probability"] if layout["problem"] == "classify" else [])
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    for row, value, score in zip(table.rows, predicted, scores):
        writer.writerow([row["_row"], *(row.get(c) for c in ids), value] + ([f"{score:.6f}"] if score is not None
                                                                            else []))
    files.save_text(buffer.getvalue(), out)
    print(f"{len(predicted)} predictions written to {out}", file=sys.stderr)
    return 0
