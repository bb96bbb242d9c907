"""Tasks: each knows its data, its batches and its metrics. TASKS maps a name to a task class
with static methods load_examples, vocabulary, make_batch and evaluate."""
from ..registry import Registry

TASKS: Registry = Registry("task")

from . import classify, vqa  # noqa: E402,F401  (registration side effects)
