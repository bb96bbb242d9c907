"""Finding and loading Hugging Face models without touching the network."""
from __future__ import annotations

import contextlib
import json
import pickle
from pathlib import Path

from ..core.errors import InputError, ModelNotFoundError


def resolve_hub_id(repo_id: str) -> Path:
    """`org/name` -> its snapshot folder in the local Hugging Face cache (never downloads)."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError
    try:
        return Path(snapshot_download(repo_id, local_files_only=True))
    except (LocalEntryNotFoundError, OSError, ValueError):
        raise ModelNotFoundError(
            f"hf:{repo_id}: not in the local Hugging Face cache, and polymodal never downloads; on a machine "
            f"with internet run `huggingface-cli download {repo_id}` (or copy the model folder here) and "
            f"pass --model hf:{repo_id} or the folder") from None


def hf_folder(name: str, what: str = "model") -> Path:
    """`hf:<repo-id>` (in the local cache) or a local folder -> the folder; anything else is a
    one-line error naming it."""
    if name.startswith("hf:"):
        return resolve_hub_id(name[3:])
    folder = Path(name).expanduser()
    if not folder.is_dir():
        raise ModelNotFoundError(f"{name}: no such {what} folder (give a Hugging Face model folder or hf:<repo-id>)")
    if read_hf_config(folder) is None:
        raise ModelNotFoundError(f"{name}: not a Hugging Face model folder (no readable config.json)")
    return folder


def read_hf_config(directory: Path) -> dict | None:
    try:
        config = json.loads((directory / "config.json").read_text())
    except (OSError, ValueError, RecursionError):
        return None
    return config if isinstance(config, dict) else None


def is_hf_directory(directory: Path) -> bool:
    """A Hugging Face model folder (its config names a model_type, not a polymodal kind)."""
    config = read_hf_config(directory)
    return bool(config) and "model_type" in config and "kind" not in config


@contextlib.contextmanager
def quiet():
    """transformers 5 draws a progress bar per load and warns about optional backends
    (torchvision); neither helps a CLI user."""
    from transformers.utils import logging as hf_logging
    bar, level = hf_logging.is_progress_bar_enabled(), hf_logging.get_verbosity()
    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()
    try:
        yield
    finally:
        hf_logging.set_verbosity(level)
        if bar:
            hf_logging.enable_progress_bar()


PICKLED = ("*.bin", "*.pt", "*.pth", "*.ckpt", "*.pkl")     # weights only pickle can read


def load_pretrained(loader, directory: Path, what: str, weights: bool = False):
    """loader.from_pretrained(directory) offline, with a one-line error naming the folder.
    weights: a model's weights, which are read from safetensors only (polymodal never
    unpickles a file: a pickle can run any code)."""
    options = {"use_safetensors": True} if weights else {}
    if weights:
        refuse_pickled(directory)
    try:
        with quiet():
            return loader.from_pretrained(str(directory), local_files_only=True, **options)
    except (OSError, ValueError, KeyError, TypeError, RuntimeError, pickle.UnpicklingError) as exc:
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ModelNotFoundError(f"{directory}: cannot load its {what} ({reason})") from None


def refuse_pickled(directory: Path) -> None:
    """A folder whose weights exist only as pickles is refused before anything reads them."""
    directory = Path(directory)
    if any(directory.rglob("*.safetensors")):
        return
    pickled = sorted(p.name for pattern in PICKLED for p in directory.rglob(pattern))
    if pickled:
        raise InputError(f"{directory}: its weights are pickled ({', '.join(pickled[:3])}), which polymodal never "
                         f"loads (a pickle can run any code); save them as safetensors")
