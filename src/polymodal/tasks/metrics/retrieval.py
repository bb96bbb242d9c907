"""Retrieval: recall at k."""
from __future__ import annotations

import torch


def recall_at(scores: torch.Tensor, hits: torch.Tensor, k: int) -> float:
    """scores, hits: [queries, items]; a query scores if any of its top k items is a hit."""
    top = scores.topk(min(k, scores.shape[1]), dim=1).indices
    return float(hits.gather(1, top).any(1).float().mean())
