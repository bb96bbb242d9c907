"""Models loaded on first use and kept within a memory budget (least recently used go first)."""
from __future__ import annotations

import threading
import time
from collections import OrderedDict

import torch

from ..core.errors import ModelNotFoundError
from ..inference.pipelines import load
from ..loading import DEFAULTS, SPOKEN_DEFAULTS, default_model
from ..systems.definition import load_system


def weight_bytes(pipe) -> int:
    """Bytes of the torch weights behind a pipeline (0 for engines such as eSpeak)."""
    model = pipe.model
    if not isinstance(model, torch.nn.Module):
        return 0
    tensors = list(model.parameters()) + list(model.buffers())
    return sum(t.numel() * t.element_size() for t in tensors)


class ModelPool:
    def __init__(self, models: dict[str, str], budget_bytes: float, options: dict[str, dict] | None = None):
        """options: task -> its pipeline's options (e.g. the chat model's listener)."""
        self.models, self.budget, self.options = dict(models), budget_bytes, dict(options or {})
        self.loaded: OrderedDict[str, tuple[object, int]] = OrderedDict()   # task -> (pipeline, bytes)
        self.load_seconds: dict[str, float] = {}
        self.lock = threading.Lock()

    def name(self, task: str, spoken: bool = False) -> str:
        name = self.models.get(task) or default_model(task, spoken)
        if name is None:
            raise ModelNotFoundError(f"this server has no model for {task}: start it with --model {task}=NAME_OR_DIR")
        return name

    def get(self, task: str, spoken: bool = False):
        """The task's pipeline, loaded now if it is not yet; `spoken` inputs may take another default."""
        name = self.name(task, spoken)
        key = task if name == self.name(task) else f"{task} (spoken)"
        return self.cached(key, lambda: load(task, name, **self.options.get(task, {})), weight_bytes)

    def system(self, name: str):
        """A built-in system, its steps' models loaded on first use (they count as its weight)."""
        return self.cached(f"system:{name}", lambda: load_system(name), lambda s: 4 * s.parameters)

    def cached(self, key: str, build, size_of):
        with self.lock:                          # one load at a time; a second caller waits for it
            if key in self.loaded:
                self.loaded.move_to_end(key)
                return self.loaded[key][0]
            start = time.perf_counter()
            value = build()
            size = size_of(value)
            self.evict_for(size)
            self.loaded[key] = (value, size)
            self.load_seconds[key] = round(time.perf_counter() - start, 3)
            return value

    def evict_for(self, size: int) -> None:
        """Unload the least recently used models until `size` more bytes fit (a model larger
        than the whole budget still loads, alone)."""
        while self.loaded and self.used() + size > self.budget:
            self.loaded.popitem(last=False)

    def used(self) -> int:
        return sum(size for _, size in self.loaded.values())

    def describe(self) -> dict:
        configured = {t: self.name(t) for t in sorted(set(DEFAULTS) | set(self.models))}
        configured.update({f"{t} (spoken)": self.name(t, True) for t in SPOKEN_DEFAULTS
                           if self.name(t, True) != configured.get(t)})
        return {"configured": configured,
                "loaded": {t: {"bytes": size, "load_seconds": self.load_seconds.get(t)} for t, (_, size) in self.loaded.items()},
                "budget_bytes": int(self.budget), "used_bytes": self.used()}
