"""Data: the embedded world (sort-of-clevr, shapes and signs presets; the spoken world in
data/spoken/) and users' manifests.

    pm.data.shapes(preset="sort-of-clevr", split="test", seed=1, n=100)
"""
from .manifest import read_manifest, write_manifest
from .world import PRESETS, SPLITS, shapes

__all__ = ["PRESETS", "SPLITS", "read_manifest", "shapes", "write_manifest"]
