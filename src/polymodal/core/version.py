"""The version of polymodal (pyproject.toml gives the same to the package metadata)."""
__version__ = "0.1.0"
