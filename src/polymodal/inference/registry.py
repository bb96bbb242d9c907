"""PIPELINES: a task -> its callable pipeline class; JOBS: a verb run as a batch job -> its
builder (inference/batch_parts.py)."""
from ..core.registry import Registry

PIPELINES: Registry = Registry("task pipeline")
JOBS: Registry = Registry("batch job")
