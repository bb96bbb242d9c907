"""polymodal's model kinds: the multimodal encoders -> fusion -> head model and the task
models of their own design. Importing this package registers every kind in MODEL_KINDS
(models/registry.py)."""
from . import (  # noqa: F401
    aligner,
    autoencoder,
    captioner,
    diffusion,
    grounder,
    multimodal,
    reader,
    recognizer,
    synthesizer,
    vlm,
)
