"""Task models of their own kind (beyond encoders -> fusion -> head); importing this package
registers their kinds in pretrained.MODEL_KINDS."""
from . import aligner, autoencoder, captioner, diffusion, grounder, recognizer, synthesizer  # noqa: F401
