"""Engines: components that are used, not trained (eSpeak NG, pocketsphinx, RapidOCR).
Importing this package registers the speech engines in ENGINES (engines/registry.py)."""
from . import speech  # noqa: F401  (registers the speech engines)
