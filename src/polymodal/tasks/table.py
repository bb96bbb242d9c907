"""Prediction from a table's columns (`polymodal fit`): image paths, audio paths, text,
numbers and categories -> the label column, a class (classify) or a number (regress).

Each used column feeds a modality: the image and audio columns their encoders, the text
columns one text (joined as "column: value" when there are several), the numbers and
categories together the table encoder (encoders/tabular.py). The model is a fusion model
whose config keeps the columns, their kinds and, for regression, the target's mean and spread
(`ModelConfig.table`), so `predict` reads a new table the same way.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field

import numpy as np
import torch

from ..core.errors import ConfigError, InputError
from ..data.table import (
    FEATURE_KINDS,
    Columns,
    Table,
    as_number,
    check_rows,
    describe_columns,
    empty,
    file_path,
    read_table,
)
from ..layers import to_device
from ..modalities import as_array
from ..processors.image import shifted
from .base import TaskOptions, TrainableTask
from .classify import open_value
from .label_prediction import label_targets
from .metrics.answers import label_metrics
from .metrics.regression import regression_metrics

ONE_PER_MODALITY = ("image", "audio")      # a model has one encoder per modality: one such column is used


@dataclass
class TableExample:
    values: dict                    # modality -> a file path, a text, or (table) {column: value}
    target: object = None           # the label's value: a class name or a number
    row: int | None = None


@dataclass
class TableOptions(TaskOptions):
    label: str = ""                 # the column to predict
    problem: str | None = None      # classify | regress; None: inferred from the label's values
    columns: dict = field(default_factory=dict)    # column -> kind, overriding the inferred one
    image_shift: float = 0.1        # training images moved by up to this share of their side (0: never)


def layout_of(columns: Columns) -> dict:
    """What a model keeps of the table: label, problem and the kinds of the used columns."""
    used = {c: k for c, k in columns.kinds.items() if k in FEATURE_KINDS}
    return {"label": columns.label, "problem": columns.problem, "columns": used}


def drop_extra_files(columns: Columns) -> list[str]:
    """A second image (audio) column is left out: one encoder per modality. -> what was said."""
    said = []
    for kind in ONE_PER_MODALITY:
        for extra in columns.of_kind(kind)[1:]:
            columns.kinds[extra] = "ignore"
            columns.reasons[extra] = f"a second {kind} column (a model takes one)"
            said.append(extra)
    return said


def example_values(row: dict, layout: dict, base) -> dict:
    """A row -> {modality: value} as the encoders take them."""
    out, texts, table = {}, [], {}
    kinds = layout["columns"]
    text_columns = [c for c, k in kinds.items() if k == "text"]
    for name, kind in kinds.items():
        value = row.get(name)
        if kind in ONE_PER_MODALITY:
            out[kind] = str(file_path(value, base))
        elif kind == "text":
            text = "" if empty(value) else str(value).strip()
            texts.append(f"{name}: {text}" if len(text_columns) > 1 else text)
        else:
            table[name] = value
    if text_columns:
        out["text"] = " ; ".join(texts) if len(text_columns) > 1 else texts[0]
    if table:
        out["table"] = table
    return out


def examples_from(table: Table, layout: dict, need_target: bool = True) -> list[TableExample]:
    base = table.path.absolute().parent
    missing = [c for c in layout["columns"] if c not in table.columns]
    if missing:
        raise InputError(f"{table.path}: the model reads column {missing[0]!r}, which the table lacks "
                         f"(it reads {', '.join(layout['columns'])})")
    label = layout["label"]
    examples = []
    for row in table.rows:
        target = row.get(label) if label in row and not empty(row.get(label)) else None
        if target is not None and layout["problem"] == "regress":
            target = as_number(target)
        elif target is not None:
            target = str(target)
        if need_target and target is None:
            raise InputError(f"{table.path} row {row['_row']}: no usable label in {label!r}")
        examples.append(TableExample(example_values(row, layout, base), target, row["_row"]))
    return examples


def table_encoder_config(examples: list[TableExample], layout: dict, dim: int = 64) -> dict:
    """The table encoder's columns, sized by the training rows: each number's mean and spread,
    each category's values."""
    numbers, categories = [], []
    for name, kind in layout["columns"].items():
        seen = [ex.values["table"].get(name) for ex in examples]
        if kind == "number":
            values = np.array([v for v in map(as_number, seen) if v is not None] or [0.0])
            numbers.append([name, float(values.mean()), float(values.std()) or 1.0])
        elif kind == "category":
            categories.append([name, sorted({str(v) for v in seen if not empty(v)})])
    return {"numbers": numbers, "categories": categories, "dim": dim}


def make_inputs(model, examples: list[TableExample], rng=None, image_shift: float = 0.0) -> dict:
    """The model's inputs; with rng (training), images moved by up to image_shift of their side."""
    values = {m: [open_value(m, ex.values[m]) for ex in examples] for m in model.modalities}
    if rng is not None and image_shift > 0 and "image" in values:
        values["image"] = [shifted(a, rng, int(round(image_shift * min(a.shape[:2]))))
                           for a in map(as_array, values["image"])]
    return model.preprocess(values)


@torch.no_grad()
def predict(model, examples: list[TableExample], batch_size: int = 64, device=None) -> tuple[list, list]:
    """-> (predictions: class names or numbers, the class's probability or None)."""
    model.eval()
    device = device or next(model.parameters()).device
    layout = model.config.table
    predicted, scores = [], []
    for start in range(0, len(examples), batch_size):
        out = model(to_device(make_inputs(model, examples[start:start + batch_size]), device)).float().cpu()
        if layout["problem"] == "regress":
            mean, std = layout["target"]
            predicted += (out * std + mean).tolist()
            scores += [None] * len(out)
        else:
            best = out.softmax(-1).max(-1)
            predicted += [model.config.labels[i] for i in best.indices.tolist()]
            scores += best.values.tolist()
    return predicted, scores


class TableTask(TrainableTask):
    """A table's columns -> its label column (see the module's docstring). Not in TASKS: it is
    built by `fit` (experiments/fit.py), which gives it the label and the columns' kinds, not
    named by `train --task` or `eval`."""

    model_task = "table"
    default_fusion = "early:feature"
    unknown_words = True             # a new row's text may hold words the training rows did not
    Options = TableOptions

    def __init__(self, **options):
        super().__init__(**options)
        if not self.options.label:
            raise ConfigError("the table task needs task_options: {label: COLUMN}")
        self.columns: Columns | None = None
        self.said: list[str] = []

    @property
    def problem(self) -> str:
        return self.columns.problem if self.columns else (self.options.problem or "classify")

    @property
    def curve_metrics(self) -> tuple[str, ...]:
        return ("rmse", "r2") if self.problem == "regress" else ("accuracy", "macro_f1")

    def load_examples(self, spec, seed=0, n=1000, columns=None, on_bad_rows="fail", need_answers=True):
        if columns:
            raise InputError("a table's columns are given as task options (columns: {name: kind}), not --column")
        table = read_table(spec)
        self.columns = describe_columns(table, self.options.label, self.options.columns, self.options.problem)
        self.said = drop_extra_files(self.columns)
        check_rows(table, self.columns)
        return examples_from(table, layout_of(self.columns), need_answers)[:n], table

    def vocabulary(self, examples) -> tuple[list[str], list[str]]:
        texts = [ex.values["text"] for ex in examples if "text" in ex.values]
        if self.problem == "regress":
            return texts, []
        return texts, sorted({str(ex.target) for ex in examples if ex.target is not None})

    def modalities(self, examples) -> list[str]:
        return [m for m in ("image", "text", "audio", "table") if all(m in ex.values for ex in examples)]

    def build_model(self, spec: dict, examples):
        if self.columns is None:
            raise ConfigError("the table task builds a model after reading its table")
        spec = copy.deepcopy(spec)
        layout = layout_of(self.columns)
        if self.problem == "regress":
            targets = np.array([ex.target for ex in examples], dtype=float)
            layout["target"] = [float(targets.mean()), float(targets.std()) or 1.0]
            spec["head"] = "regress"
        if "table" in self.modalities(examples):
            given = spec.setdefault("encoders", {}).get("table", {"name": "table", "config": {}})
            config = {**table_encoder_config(examples, layout), **given.get("config", {})}
            spec["encoders"]["table"] = {"name": "table", "config": config}
        spec["table"] = layout
        return super().build_model(spec, examples)

    def make_batch(self, model, examples, rng):
        batch = make_inputs(model, examples, rng, self.options.image_shift)
        layout = model.config.table
        if layout["problem"] == "regress":
            mean, std = layout["target"]
            return batch, torch.tensor([(ex.target - mean) / std for ex in examples], dtype=torch.float32)
        return batch, label_targets(model, [str(ex.target) for ex in examples], [ex.row for ex in examples], "label")

    def loss(self, outputs, targets):
        if targets.dtype == torch.float32:
            return torch.nn.functional.mse_loss(outputs.float(), targets)
        return torch.nn.functional.cross_entropy(outputs.float(), targets)

    def evaluate(self, model, examples, batch_size=64, device=None, progress=False) -> dict:
        predicted, _ = predict(model, examples, batch_size, device)
        if model.config.table["problem"] == "regress":
            return regression_metrics([ex.target for ex in examples], predicted)
        return label_metrics([ex.target for ex in examples], predicted)
