"""Where models come from: shipped names, local directories (polymodal or Hugging Face
layout), and `hf:<repo-id>` from the local Hugging Face cache.

Offline-first: nothing here touches the network.
"""
from __future__ import annotations

from pathlib import Path

from .errors import ModelNotFoundError
from .registry import Registry

SHIPPED_DIR = Path(__file__).parent / "shipped"
SHIPPED: Registry = Registry("shipped model")
DEFAULTS = {"vqa": "vqa-sort-of-clevr", "caption": "caption-shapes", "align": "align-shapes",
            "ground": "ground-shapes", "speak": "espeak", "text-qa": "text-qa-signs",
            "transcribe": "asr-spoken-world", "generate": "generate-shapes"}   # task -> the model used without --model
SPOKEN_DEFAULTS = {"vqa": "vqa-spoken"}        # ... when the input is spoken (the typed default cannot hear)


def default_model(task: str, spoken: bool = False) -> str | None:
    """The model a task uses when none is named; a spoken input may need one that hears."""
    return (spoken and SPOKEN_DEFAULTS.get(task)) or DEFAULTS.get(task)

for _name in ("vqa-sort-of-clevr", "caption-shapes", "align-shapes", "ground-shapes", "text-qa-signs",
              "caption-sort-of-clevr", "text-qa-sort-of-clevr", "asr-spoken-world", "tts-spoken-world",
              "vqa-spoken", "generate-shapes"):
    SHIPPED.register(_name)(lambda _n=_name: SHIPPED_DIR / _n)


def resolve(task: str, model: str | None) -> Path:
    """A shipped name, a local directory, or None (the task's default) -> a model directory."""
    name = model or DEFAULTS.get(task)
    if name is None:
        raise ModelNotFoundError(f"task {task!r} has no shipped default; pass --model")
    if name.startswith("hf:"):
        from .hf import resolve_hub_id
        return resolve_hub_id(name[3:])
    if name in SHIPPED:
        path = SHIPPED.get(name)()
        if not (path / "config.json").exists():
            raise ModelNotFoundError(f"{name}: shipped model files are missing from {path}; reinstall polymodal "
                                     f"or train it with its recipe")
        return path
    path = Path(name).expanduser()
    if path.is_dir():
        return path
    raise ModelNotFoundError(f"{name}: not a shipped model ({', '.join(SHIPPED.names())}) nor a local directory")


def load_for_task(task: str, model: str | None = None):
    """The model (shipped name, directory or the task's default) checked to be one for `task`."""
    from .errors import InputError
    from .pretrained import load_model
    from .speech.engines import ENGINES
    name = model or DEFAULTS.get(task)
    loaded = ENGINES.build(name) if name in ENGINES else load_model(resolve(task, model))
    if loaded.config.task != task:
        raise InputError(f"{model or DEFAULTS.get(task)}: a model for {loaded.config.task}, not for {task}")
    return loaded


def load(task: str = "vqa", model: str | None = None, device: str = "cpu", precision: str = "fp32"):
    """The Python entry point: `pm.load("vqa")` -> a callable pipeline for the task.

    device: "cpu", "cuda", "cuda:1", ...; precision: "fp32", or "bf16" / "fp16" mixed
    precision: every call runs under autocast (matmuls in the lower precision, norms and
    softmax in fp32). A Hugging Face model also holds its weights in that dtype (Whisper: its
    encoder), which halves their memory and, on a CPU, saves autocast re-casting them at each
    call (see benchmarks/results/vs_pipelines.md); polymodal's own small models keep fp32 weights."""
    from .fast_path import FastPath, OnFastPath
    from .hf.base import HFAdapter
    from .pipelines import PIPELINES
    path = FastPath(device=device, dtype=precision)      # checks both
    loaded = load_for_task(task, model)
    if device != "cpu" and hasattr(loaded, "to"):
        loaded = loaded.to(device)
    if precision != "fp32" and isinstance(loaded, HFAdapter):
        loaded.hold_weights_in(path.torch_dtype)
    pipeline = PIPELINES.build(task, loaded)
    return pipeline if precision == "fp32" else OnFastPath(pipeline, path)
