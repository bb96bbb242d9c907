"""Finding and loading Hugging Face models without touching the network."""
from __future__ import annotations

import contextlib
import json
from pathlib import Path

from ..core.errors import ModelNotFoundError


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


def read_hf_config(directory: Path) -> dict | None:
    try:
        config = json.loads((directory / "config.json").read_text())
    except (OSError, ValueError):
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


def load_pretrained(loader, directory: Path, what: str):
    """loader.from_pretrained(directory) offline, with a one-line error naming the folder."""
    try:
        with quiet():
            return loader.from_pretrained(str(directory), local_files_only=True)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ModelNotFoundError(f"{directory}: cannot load its {what} ({reason})") from None
