"""What the closed-vocabulary tasks (VQA, classify, text QA) share: label lookup and prediction."""
from __future__ import annotations

import torch
from tqdm.auto import tqdm

from ..core.errors import InputError
from ..layers import to_device


def label_targets(model, truths: list, rows: list, what: str) -> torch.Tensor:
    """Indices of the true labels in the model's label set; an unknown one is an input error
    naming its manifest row (training cannot learn a label the head does not have)."""
    lookup = {label: i for i, label in enumerate(model.config.labels)}
    for truth, row in zip(truths, rows):
        if truth not in lookup:
            where = f"row {row}: " if row else ""
            raise InputError(f"{where}{what} {truth!r} is not one this model can give "
                             f"({', '.join(model.config.labels)})")
    return torch.tensor([lookup[t] for t in truths])


@torch.no_grad()
def predict_labels(model, examples: list, make_batch, batch_size: int = 64, device=None, progress: bool = False):
    """Run `make_batch(model, chunk) -> (batch, rows)` over the examples.
    Returns (rows, best label per row, its probability)."""
    model.eval()
    device = device or next(model.parameters()).device
    rows, labels, scores = [], [], []
    for start in tqdm(range(0, len(examples), batch_size), disable=not progress, desc="predicting"):
        batch, chunk_rows = make_batch(model, examples[start:start + batch_size])
        best = model(to_device(batch, device)).float().softmax(-1).cpu().max(-1)
        rows += chunk_rows
        labels += [model.config.labels[i] for i in best.indices.tolist()]
        scores += best.values.tolist()
    return rows, labels, scores
