"""HF_ADAPTERS: a Hugging Face config's model_type -> the adapter class that serves it."""
from ..core.registry import Registry

HF_ADAPTERS: Registry = Registry("Hugging Face model type")
