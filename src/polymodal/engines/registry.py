"""ENGINES: a name -> an engine: a component that is used, not trained (eSpeak NG,
pocketsphinx), chosen with --model like a model."""
from ..core.registry import Registry

ENGINES: Registry = Registry("engine")
