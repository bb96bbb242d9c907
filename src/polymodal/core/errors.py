"""One exception family. The CLI turns any PolymodalError into one line on stderr and exit 2."""


class PolymodalError(Exception):
    """Base of every error polymodal raises on purpose."""


class InputError(PolymodalError):
    """Bad user input: a file, a value, a manifest row. The message names the input."""


class TooLargeError(InputError):
    """An input over a size limit (bytes, pixels, seconds): the server answers 413."""


class ConfigError(PolymodalError):
    """An unknown name (encoder, fusion, head, model) or an inconsistent configuration."""


class ModelNotFoundError(PolymodalError):
    """A model that is neither shipped, nor a local directory, nor in the local cache."""


class SlowPathWarning(UserWarning):
    """A setting that runs, but far slower on this machine than another one would (the CLI
    prints it as one line)."""
