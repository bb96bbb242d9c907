"""MODEL_KINDS: a saved config's "kind" -> the polymodal model class that reads it."""
from ..core.registry import Registry

MODEL_KINDS: Registry = Registry("model kind")
