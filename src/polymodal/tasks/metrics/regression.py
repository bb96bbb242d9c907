"""Scores of numeric predictions."""
from __future__ import annotations

import numpy as np


def regression_metrics(truth: list[float], predicted: list[float]) -> dict:
    """rmse, mae and r2 (1 - residual / total sum of squares; 0 for predicting the mean)."""
    t, p = np.asarray(truth, dtype=float), np.asarray(predicted, dtype=float)
    residual = float(((t - p) ** 2).sum())
    total = float(((t - t.mean()) ** 2).sum())
    return {"rmse": float(np.sqrt(residual / len(t))), "mae": float(np.abs(t - p).mean()),
            "r2": 1.0 - residual / total if total > 0 else 0.0, "items": len(t)}
