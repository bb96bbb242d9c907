"""Tasks: each knows its data, its batches and its metrics. TASKS maps a name to a task class
with static methods load_examples, vocabulary, make_batch and evaluate, and optionally
build_model(spec, examples) (default: encoders -> fusion -> head) and loss(outputs, targets)
(default: cross-entropy over classes)."""
from ..registry import Registry

TASKS: Registry = Registry("task")

from . import align, autoencode, caption, classify, generate, ground, speak, text_qa, transcribe, vqa  # noqa: E402,F401  (registration side effects)
