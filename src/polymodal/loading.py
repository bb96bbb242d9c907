"""The one loader: every model polymodal runs comes from `load_model`, whatever its source.

    load_model("vqa-sort-of-clevr")          # a shipped model, by name
    load_model("runs/x/model")               # a folder: polymodal's, Hugging Face's or diffusers' layout
    load_model("hf:openai/clip-vit-base-patch32", task="align")   # the local Hugging Face cache
    load_model(task="speak")                 # the task's default (here the eSpeak engine)

Each family of model reads its own folder (`from_pretrained`); this module only decides which
family a folder is (importing a registry imports its package, which registers every member).
Offline-first: nothing here touches the network.
"""
from __future__ import annotations

from pathlib import Path

from .core import files
from .core.chat import PROMPTED_TASKS, ChatModel
from .core.errors import ConfigError, InputError, ModelNotFoundError
from .engines.registry import ENGINES
from .hf.diffusion import DiffusersTextToImage, is_diffusers_directory
from .hf.loading import is_hf_directory, read_hf_config, resolve_hub_id
from .hf.registry import HF_ADAPTERS
from .models.base import read_config
from .models.registry import MODEL_KINDS

SHIPPED_DIR = Path(__file__).parent / "shipped"
SHIPPED = ("vqa-sort-of-clevr", "caption-shapes", "align-shapes", "ground-shapes", "text-qa-signs",
           "caption-sort-of-clevr", "text-qa-sort-of-clevr", "asr-spoken-world", "tts-spoken-world",
           "vqa-spoken", "generate-shapes", "vlm-embedded", "video-qa-motion", "video-caption-motion",
           "video-align-motion")
DEFAULTS = {"vqa": "vqa-sort-of-clevr", "caption": "caption-shapes", "align": "align-shapes",
            "ground": "ground-shapes", "speak": "espeak", "text-qa": "text-qa-signs",
            "transcribe": "asr-spoken-world", "generate": "generate-shapes", "vlm": "vlm-embedded",
            "video-qa": "video-qa-motion", "video-caption": "video-caption-motion",
            "video-align": "video-align-motion"}       # task -> the model used without --model
SPOKEN_DEFAULTS = {"vqa": "vqa-spoken"}        # ... when the input is spoken (the typed default cannot hear)


def default_model(task: str, spoken: bool = False) -> str | None:
    """The model a task uses when none is named; a spoken input may need one that hears."""
    return (spoken and SPOKEN_DEFAULTS.get(task)) or DEFAULTS.get(task)


def resolve(source: str | Path) -> Path:
    """A shipped name, `hf:<repo-id>` or a local directory -> the model's folder."""
    name = str(source)
    if name.startswith("hf:"):
        return resolve_hub_id(name[3:])
    if name in SHIPPED:
        path = SHIPPED_DIR / name
        if not (path / files.CONFIG).exists():
            raise ModelNotFoundError(f"{name}: shipped model files are missing from {path}; reinstall polymodal "
                                     f"or train it with its recipe")
        return path
    path = Path(name).expanduser()
    if path.is_dir():
        return path
    raise ModelNotFoundError(f"{name}: not a shipped model ({', '.join(SHIPPED)}), an engine "
                             f"({', '.join(ENGINES.names())}) nor a local directory")


def load_model(source: str | Path | None = None, task: str | None = None):
    """The model a source names: a shipped name, an engine name, a local folder or
    `hf:<repo-id>`; None: the task's default. With `task`, it is checked to be a model for
    that task (its config's `task`), or a chat model that serves it by prompt."""
    if source is None:
        source = default_model(task) if task else None
        if source is None:
            raise ModelNotFoundError(f"task {task!r} has no shipped default; pass --model")
    model = ENGINES.build(source) if str(source) in ENGINES else from_folder(resolve(source))
    if task is not None and model.config.task != task and not (task in PROMPTED_TASKS and isinstance(model, ChatModel)):
        raise InputError(f"{source}: a model for {model.config.task}, not for {task}")
    return model


def from_folder(directory: Path):
    """A model folder -> its model: a Hugging Face folder gets the adapter of its model_type,
    a diffusers pipeline folder its adapter, a polymodal folder the class its "kind" names."""
    if is_hf_directory(directory):
        model_type = read_hf_config(directory)["model_type"]
        if model_type not in HF_ADAPTERS:
            raise ModelNotFoundError(f"{directory}: Hugging Face model type {model_type!r} is not supported; "
                                     f"supported: {', '.join(HF_ADAPTERS.names())}")
        return HF_ADAPTERS.get(model_type).from_pretrained(directory)
    if is_diffusers_directory(directory):
        return DiffusersTextToImage.from_pretrained(directory)
    kind = read_config(directory).get("kind", "multimodal")   # folders saved before "kind" existed
    if kind not in MODEL_KINDS:
        raise ConfigError(f"{directory}: unknown model kind {kind!r}; known: {', '.join(MODEL_KINDS.names())}")
    return MODEL_KINDS.get(kind).from_pretrained(directory)
