"""Data: the embedded `shapes` world and users' manifests.

    pm.data.shapes(preset="sort-of-clevr", split="test", seed=1, n=100)
"""
from .manifest import read_manifest, write_manifest
from .world import PRESETS, SPLITS, shapes

__all__ = ["PRESETS", "SPLITS", "read_manifest", "shapes", "write_manifest"]
