"""Unimodal encoders, registered by name in ENCODERS. Importing this package registers them all.

Convention: `ENCODERS.build(name, **config)` returns an Encoder whose `config` attribute is
the JSON-serialisable dict of those kwargs (saved beside the weights), and whose
`processor` turns a list of modality values into the tensors its forward() takes.
"""
from ..registry import Registry
from .base import Embedding, Encoder, masked_mean

ENCODERS: Registry = Registry("encoder")

from . import image, text, audio, speech_reader, hf_text  # noqa: E402,F401  (registration side effects)

__all__ = ["ENCODERS", "Embedding", "Encoder", "masked_mean"]
