"""Unimodal encoders: each turns one modality's values into an encoders.base.Embedding.
Importing this package registers every built-in encoder in ENCODERS (encoders/registry.py)."""
from . import audio, hf_audio, hf_image, hf_text, image, speech_reader, tabular, text, video  # noqa: F401  (each registers its encoders)
