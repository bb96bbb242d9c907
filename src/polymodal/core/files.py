"""Checkpoints: safetensors + JSON, written atomically (temp file + rename), never pickle."""
from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import tempfile
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from .errors import InputError

WEIGHTS, CONFIG = "model.safetensors", "config.json"

# mkstemp/mkdtemp create private (0600/0700) files; saved models should get the usual
# permissions, as an ordinary open() would give them.
_UMASK = os.umask(0)
os.umask(_UMASK)


def atomic_write(path: Path, write) -> None:
    """Call write(temporary path) for a sibling temp file, then rename it onto `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, 0o666 & ~_UMASK)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def atomic_directory(directory: Path):
    """Yield a temporary sibling folder to fill; it then replaces `directory` whole, so
    readers never see new weights beside an old config."""
    directory.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=directory.parent, prefix=f".{directory.name}.", suffix=".tmp"))
    try:
        yield tmp
        os.chmod(tmp, 0o777 & ~_UMASK)
        old = None
        if directory.exists():
            old = Path(tempfile.mkdtemp(dir=directory.parent, prefix=f".{directory.name}.", suffix=".old"))
            os.replace(directory, old / directory.name)
        os.replace(tmp, directory)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def save_text(text: str, path: str | Path) -> None:
    def write(tmp):
        with open(tmp, "w") as f:
            f.write(text)
    atomic_write(Path(path), write)


def save_json(obj, path: str | Path) -> None:
    def write(tmp):
        with open(tmp, "w") as f:
            json.dump(obj, f, indent=2)
            f.write("\n")
    atomic_write(Path(path), write)


def save_tensors(tensors: dict[str, torch.Tensor], path: str | Path, metadata: dict | None = None) -> None:
    # safetensors refuses shared or non-contiguous storage: give it clean copies.
    clean = {k: v.detach().cpu().contiguous().clone() for k, v in tensors.items()}
    atomic_write(Path(path), lambda tmp: save_file(clean, tmp, metadata=metadata))


def read_text(path: str | Path, what: str = "file") -> str:
    """A UTF-8 text file a user names, or one InputError saying why it cannot be read."""
    try:
        return Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(f"{path}: no such {what}") from None
    except UnicodeDecodeError as e:
        raise InputError(f"{path}: not UTF-8 text (bad byte at offset {e.start})") from None
    except OSError as e:
        raise InputError(f"{path}: cannot read this {what} ({e.strerror or e})") from None


MAX_JSON_DEPTH = 100    # no config, manifest line or request body polymodal reads nests deeper than a few levels
_JSON_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"')     # unrolled: 20 ms for a 9 MB body
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")


def json_depth(text: str) -> int:
    """How deep the arrays and objects of JSON text nest (brackets inside strings not counted).
    Checked before parsing, so the limit does not hang on the interpreter's recursion limit,
    which other libraries raise."""
    depth = deepest = 0
    for c in _NOT_BRACKET.sub("", _JSON_STRING.sub("", text)):
        depth += 1 if c in "[{" else -1
        deepest = max(deepest, depth)
    return deepest


def parse_json(text: str | bytes, what: str):
    """JSON from a user or a client: anything that is not valid JSON, is not UTF-8, or nests
    deeper than MAX_JSON_DEPTH, is one InputError naming `what`."""
    try:
        if isinstance(text, bytes):
            text = text.decode("utf-8")
        if json_depth(text) > MAX_JSON_DEPTH:
            raise RecursionError
        return json.loads(text)
    except (ValueError, UnicodeDecodeError) as e:          # JSONDecodeError is a ValueError
        raise InputError(f"{what}: not valid JSON ({e})") from None
    except RecursionError:
        raise InputError(f"{what}: JSON nested too deeply") from None


def parse_yaml(text: str, what: str):
    """YAML by safe_load (no tags run), with the same one-line errors as parse_json."""
    import yaml
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise InputError(f"{what}: not valid YAML ({str(e).splitlines()[0]})") from None
    except RecursionError:
        raise InputError(f"{what}: YAML nested too deeply") from None


def load_json(path: str | Path):
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise InputError(f"{path}: missing") from None
    except OSError as e:
        raise InputError(f"{path}: cannot read ({e.strerror or e})") from None
    return parse_json(data, str(path))


def load_tensors(path: str | Path) -> dict[str, torch.Tensor]:
    try:
        return load_file(str(path))
    except FileNotFoundError:
        raise InputError(f"{path}: missing") from None
    except (SafetensorError, OSError) as e:
        raise InputError(f"{path}: not a readable safetensors file ({e})") from None
