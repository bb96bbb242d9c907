"""`pm.data`: the embedded world and manifests from Python."""
from .manifest import read_manifest, write_manifest  # noqa: F401
from .shapes import PRESETS, SPLITS, shapes  # noqa: F401
