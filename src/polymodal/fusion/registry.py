"""FUSIONS: "family:strategy" -> a fusion module; OPS: the operators used inside them.

`FUSIONS.build("hybrid:cross-attention", dims={"image": 64, "text": 64}, out_dim=128, **knobs)`
returns a module mapping {modality: Embedding} to one [B, out_dim] vector per item."""
from ..core.registry import Registry

FUSIONS: Registry = Registry("fusion")
OPS: Registry = Registry("fusion operator")
