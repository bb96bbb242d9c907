"""Input values: `Image`, `Text` and `Audio`, each opened from whatever a user hands over.

Every value is checked once, at `open`, so code downstream can trust it. A bad input raises
`InputError` with a one-line message that starts with the input's name (its path, or
"<bytes>", "<array>", ...), which the CLI prints as is.
"""
from .audio import Audio
from .image import Image, as_array
from .inputs import DEFAULT_LIMITS, Limits
from .text import Text

# what a file's name ends with when it holds an image or audio (folders, lists and tables are read by it)
IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff"})
AUDIO_SUFFIXES = frozenset({".wav", ".flac", ".ogg", ".mp3", ".opus"})

__all__ = ["AUDIO_SUFFIXES", "DEFAULT_LIMITS", "IMAGE_SUFFIXES", "Audio", "Image", "Limits", "Text", "as_array"]
