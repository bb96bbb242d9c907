"""Input values: `Image`, `Text`, `Audio` and `Video`, each opened from whatever a user hands over.

Every value is checked once, at `open`, so code downstream can trust it. A bad input raises
`InputError` with a one-line message that starts with the input's name (its path, or
"<bytes>", "<array>", ...), which the CLI prints as is.
"""
from .audio import Audio
from .image import Image, as_array
from .inputs import DEFAULT_LIMITS, Limits
from .text import Text
from .video import Video

# what a file's name ends with when it holds an image, audio or video (folders, lists and tables are read by it)
IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff"})
AUDIO_SUFFIXES = frozenset({".wav", ".flac", ".ogg", ".mp3", ".opus"})
VIDEO_SUFFIXES = frozenset({".mp4", ".m4v", ".mov", ".webm", ".mkv", ".avi"})   # (a GIF is read as an image)

__all__ = ["AUDIO_SUFFIXES", "DEFAULT_LIMITS", "IMAGE_SUFFIXES", "VIDEO_SUFFIXES", "Audio", "Image", "Limits", "Text",
           "Video", "as_array"]
