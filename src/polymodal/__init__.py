"""polymodal: build, train, evaluate and serve multimodal models and systems.

    import polymodal as pm
    vqa = pm.load("vqa")
    vqa(image="scene.png", question="what is the shape of the red object?")

The names below load on first use (torch, transformers and the models come with them), so
`import polymodal` imports nothing but this file. docs/architecture.md says where everything
lives.
"""
from importlib import import_module

_LAZY = {       # public name -> (module, attribute)
    "__version__": ("core.version", "__version__"),
    "load": ("inference.pipelines", "load"),
    "load_model": ("loading", "load_model"),
    "MultimodalModel": ("models.multimodal", "MultimodalModel"),
    "ModelConfig": ("models.multimodal", "ModelConfig"),
    "build": ("api", "build"),
    "train": ("api", "train"),
    "finetune": ("api", "finetune"),
    "fit": ("api", "fit"),
    "Image": ("modalities", "Image"),
    "Text": ("modalities", "Text"),
    "Audio": ("modalities", "Audio"),
    "PolymodalError": ("core.errors", "PolymodalError"),
    "InputError": ("core.errors", "InputError"),
}


def __getattr__(name):
    if name == "data":
        return import_module(".data", __name__)
    if name in _LAZY:
        module, attr = _LAZY[name]
        return getattr(import_module(f".{module}", __name__), attr)
    raise AttributeError(f"module 'polymodal' has no attribute {name!r}")


__all__ = [*_LAZY, "data"]
