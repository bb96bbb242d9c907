"""Grounding: the intersection over union of predicted and true boxes."""
from __future__ import annotations

import numpy as np

from ...core.errors import InputError


def iou(a, b) -> float:
    """IoU of two [x0, y0, x1, y1] boxes."""
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def box_metrics(truth: list, predicted: list, kinds: list[str | None]) -> dict:
    """Accuracy at IoU >= 0.5 and mean IoU, overall and per kind of phrase."""
    if any(box is None for box in truth):
        raise InputError("grounding evaluation needs a box for every phrase")
    ious = np.array([iou(p, t) for p, t in zip(predicted, truth)])
    out = {"phrases": len(truth), "accuracy_iou50": float((ious >= 0.5).mean()), "mean_iou": float(ious.mean())}
    for kind in sorted({k for k in kinds if k}):
        chosen = np.array([k == kind for k in kinds])
        out[f"{kind}_accuracy_iou50"] = float((ious[chosen] >= 0.5).mean())
        out[f"{kind}_phrases"] = int(chosen.sum())
    return out
