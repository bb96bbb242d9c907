"""Retrieval: recall at k."""
from __future__ import annotations

import torch


def recall_at(scores: torch.Tensor, hits: torch.Tensor, k: int) -> float:
    """scores, hits: [queries, items]; a query scores if any of its top k items is a hit."""
    top = scores.topk(min(k, scores.shape[1]), dim=1).indices
    return float(hits.gather(1, top).any(1).float().mean())


def recall_both_ways(sims: torch.Tensor, hits: torch.Tensor, items: str, ks=(1, 5)) -> dict:
    """sims, hits: [items, texts] -> R@k text -> item and item -> text (`items` names them:
    image, video)."""
    out = {}
    for k in ks:
        out[f"text_to_{items}_r{k}"] = recall_at(sims.T, hits.T, k)
        out[f"{items}_to_text_r{k}"] = recall_at(sims, hits, k)
    return out
