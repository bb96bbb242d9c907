"""Text: a non-empty string, opened from a str, a UTF-8 file or bytes."""
from __future__ import annotations

from dataclasses import dataclass

from .inputs import DEFAULT_LIMITS, Limits, input_error, read_bytes


@dataclass(frozen=True)
class Text:
    """A non-empty string without NUL characters; `source` names where it came from."""

    text: str
    source: str = "<text>"

    def __post_init__(self) -> None:
        if not isinstance(self.text, str) or not self.text.strip():
            raise input_error(self.source, "empty or whitespace-only text")
        if "\0" in self.text:
            raise input_error(self.source, "text contains NUL characters (a binary file?)")

    @classmethod
    def open(cls, x: object, limits: Limits = DEFAULT_LIMITS) -> Text:
        """From a str (the text itself), a path (a UTF-8 file), bytes (UTF-8) or a `Text`."""
        if isinstance(x, Text):
            return x
        if isinstance(x, str):
            return cls(x)
        data, name = read_bytes(x, limits, "a str, a path or bytes")
        try:
            return cls(data.decode("utf-8-sig"), name)  # -sig drops the BOM some editors write
        except UnicodeDecodeError as e:
            raise input_error(name, f"not UTF-8 text (bad byte at offset {e.start})") from None
