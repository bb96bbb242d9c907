"""polymodal: build, train, evaluate and serve multimodal models and systems.

    import polymodal as pm
    vqa = pm.load("vqa")
    vqa(image="scene.png", question="what is the shape of the red object?")

Heavy modules (torch, transformers) load on first use, so `import polymodal` is cheap.
"""
from importlib import import_module

__version__ = "0.1.0"

_LAZY = {
    "load": ("hub", "load"),
    "MultimodalModel": ("model", "MultimodalModel"),
    "ModelConfig": ("model", "ModelConfig"),
    "build": ("api", "build"),
    "train": ("api", "train"),
    "Image": ("modalities", "Image"),
    "Text": ("modalities", "Text"),
    "Audio": ("modalities", "Audio"),
    "PolymodalError": ("errors", "PolymodalError"),
    "InputError": ("errors", "InputError"),
}


def __getattr__(name):
    if name == "data":
        return import_module(".data", __name__)
    if name in _LAZY:
        module, attr = _LAZY[name]
        return getattr(import_module(f".{module}", __name__), attr)
    raise AttributeError(f"module 'polymodal' has no attribute {name!r}")


__all__ = [*_LAZY, "data"]
