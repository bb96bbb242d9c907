"""Fusion strategies, early, late and hybrid, and the operators used inside them. Importing
this package registers them all in FUSIONS and OPS (fusion/registry.py)."""
from . import early, hybrid, late, ops  # noqa: F401  (each registers its strategies or operators)
