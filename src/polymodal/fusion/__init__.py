"""Fusion strategies (early, late, hybrid) and the operators used inside them.

`FUSIONS.build("hybrid:cross-attention", dims={"image": 64, "text": 64}, out_dim=128, **knobs)`
returns a module mapping {modality: Embedding} to one [B, out_dim] vector per item.
"""
from ..registry import Registry

FUSIONS: Registry = Registry("fusion")
OPS: Registry = Registry("fusion operator")

from . import ops, early, late, hybrid  # noqa: E402,F401  (registration side effects)

__all__ = ["FUSIONS", "OPS"]
