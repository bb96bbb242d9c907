"""Multimodal systems: chains of unimodal models, checked when built, run batched, traced.

    from polymodal.systems import build_system
    voice = build_system({"inputs": {"image": "image", "audio": "audio"},
                          "steps": [{"step": "transcribe", "gives": {"text": "question"}},
                                    {"step": "vqa"},
                                    {"step": "speak", "takes": {"text": "answer"}}],
                          "outputs": ["answer", "audio"]})
"""
from .core import KINDS, ItemResult, Step, System, SystemStepError
from .definition import build_system, load_system
from .steps import STEPS

__all__ = ["KINDS", "STEPS", "ItemResult", "Step", "System", "SystemStepError", "build_system", "load_system"]
