"""Input values: `Image`, `Text` and `Audio`, each opened from whatever a user hands over.

Every value is checked once, at `open`, so code downstream can trust it. A bad input raises
`InputError` with a one-line message that starts with the input's name (its path, or
"<bytes>", "<array>", ...), which the CLI prints as is.
"""
from .audio import Audio
from .image import Image, as_array
from .inputs import DEFAULT_LIMITS, Limits
from .text import Text

__all__ = ["DEFAULT_LIMITS", "Audio", "Image", "Limits", "Text", "as_array"]
