"""What a frozen pretrained encoder gave for an input, kept so that it runs once per input.

A frozen tower gives the same embedding for the same input, so an item is encoded once and
looked up afterwards: in later epochs, in the other strategies of a fusion table (each
builds its own model, but they share the process's cache), and, on disk, in later runs.

An item's key is the hash of its processed tensor (the pixels or features the tower reads),
so a renamed or copied file hits the cache and an edited one misses it. A cache belongs to
one tower: its folder is named by the tower's fingerprint (its config and its weight files),
so a different checkpoint never reads another's embeddings.

The disk cache lives under $POLYMODAL_CACHE (default ~/.cache/polymodal) in `embeddings/`;
POLYMODAL_EMBEDDING_CACHE=off keeps it in memory only. A service turns `keep_new` off: it
meets any number of distinct inputs from clients, so it reads what training stored and adds
nothing (neither to memory nor to disk).
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import torch

from ..core.files import load_tensors, save_tensors

MEMORY_BYTES = 2 << 30          # kept in memory per tower (a ViT-B item is 0.6 MB); past it the oldest go first
HEAD_BYTES = 1 << 20            # a weight file is fingerprinted by its size, head and tail


def cache_root() -> Path | None:
    """Where embeddings are stored on disk, or None when the disk cache is off."""
    if os.environ.get("POLYMODAL_EMBEDDING_CACHE", "").lower() in ("off", "0", "no"):
        return None
    root = os.environ.get("POLYMODAL_CACHE") or Path.home() / ".cache" / "polymodal"
    return Path(root) / "embeddings"


def fingerprint(folder: Path, options: dict) -> str:
    """A tower's identity: its options and its files (names, sizes and the first and last
    MiB of each: enough to tell checkpoints apart without reading gigabytes)."""
    h = hashlib.sha256(json.dumps(options, sort_keys=True, default=str).encode())
    for path in sorted(p for p in Path(folder).rglob("*") if p.is_file()):
        size = path.stat().st_size
        h.update(f"{path.relative_to(folder)}:{size}".encode())
        with open(path, "rb") as f:
            h.update(f.read(HEAD_BYTES))
            if size > 2 * HEAD_BYTES:
                f.seek(-HEAD_BYTES, os.SEEK_END)
                h.update(f.read(HEAD_BYTES))
    return h.hexdigest()[:24]


def item_key(tensor: torch.Tensor) -> str:
    """The content hash of one processed input."""
    t = tensor.detach().contiguous().cpu()
    h = hashlib.sha256(f"{t.dtype}{tuple(t.shape)}".encode())
    h.update(t.view(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


class EmbeddingCache:
    """key -> {"tokens": [T, D], "pooled": [D], ...} for one tower, in memory and (given a
    folder) in safetensors files written atomically, one per item."""

    def __init__(self, folder: Path | None):
        self.folder = folder
        self.memory: dict[str, dict[str, torch.Tensor]] = {}
        self.bytes = self.hits = self.misses = 0

    def get(self, key: str) -> dict[str, torch.Tensor] | None:
        found = self.memory.get(key)
        if found is None and self.folder is not None:
            path = self.path(key)
            if path.is_file():
                found = load_tensors(path)
                self.remember(key, found)
        if found is None:
            self.misses += 1
        else:
            self.hits += 1
        return found

    def put(self, key: str, tensors: dict[str, torch.Tensor]) -> None:
        if not _policy["keep_new"]:
            return
        tensors = {k: v.detach().cpu().contiguous() for k, v in tensors.items()}
        self.remember(key, tensors)
        if self.folder is not None:
            path = self.path(key)
            path.parent.mkdir(parents=True, exist_ok=True)
            save_tensors(tensors, path)

    def remember(self, key: str, tensors: dict[str, torch.Tensor]) -> None:
        self.memory[key] = tensors
        self.bytes += size_of(tensors)
        while self.bytes > MEMORY_BYTES and len(self.memory) > 1:
            self.bytes -= size_of(self.memory.pop(next(iter(self.memory))))

    def path(self, key: str) -> Path:
        return self.folder / key[:2] / f"{key}.safetensors"


def size_of(tensors: dict[str, torch.Tensor]) -> int:
    return sum(t.numel() * t.element_size() for t in tensors.values())


_caches: dict[str, EmbeddingCache] = {}
_policy = {"keep_new": True}


def keep_new(enabled: bool = True) -> None:
    """Whether embeddings computed from now on are kept (training, evaluation) or only used
    (a service)."""
    _policy["keep_new"] = bool(enabled)


def cache_for(tower_fingerprint: str) -> EmbeddingCache:
    """The process's cache for one tower (shared by every model built on it)."""
    if tower_fingerprint not in _caches:
        root = cache_root()
        _caches[tower_fingerprint] = EmbeddingCache(root / tower_fingerprint if root else None)
    return _caches[tower_fingerprint]


def usage() -> dict[str, int]:
    """Over every tower in this process: embeddings computed (misses) and reused (hits)."""
    return {"computed": sum(c.misses for c in _caches.values()), "reused": sum(c.hits for c in _caches.values())}
