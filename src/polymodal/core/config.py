"""One config policy, for every config polymodal reads: a saved model's config.json, a recipe
and each of its sections, training options, task options, encoder and fusion options.

An unknown key is an error that names it and the keys that are known (a misspelt `hiden: 32`
must not silently build the default width); a missing required key is named too.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping

from .errors import ConfigError


def check_keys(given: Mapping, known: Iterable[str], what: str) -> None:
    """Refuse keys of `given` that are not among `known`, in one line naming both."""
    known = sorted(known)
    unknown = sorted(str(k) for k in given if k not in known)
    if unknown:
        plural = "s" if len(unknown) > 1 else ""
        raise ConfigError(f"{what}: unknown key{plural} {', '.join(unknown)}; known: {', '.join(known) or 'none'}")


def check_mapping(value, what: str) -> Mapping:
    if not isinstance(value, Mapping):
        raise ConfigError(f"{what}: expected a mapping, got {type(value).__name__}")
    return value


class Config:
    """Base of polymodal's config dataclasses: `from_dict` is the one way to read one."""

    @classmethod
    def from_dict(cls, d: Mapping, what: str | None = None):
        what = what or cls.__name__
        fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
        check_keys(check_mapping(d, what), fields, what)
        missing = [name for name, f in fields.items() if f.default is dataclasses.MISSING
                   and f.default_factory is dataclasses.MISSING and name not in d]
        if missing:
            raise ConfigError(f"{what} lacks {', '.join(missing)}")
        return cls(**d)

    @classmethod
    def keys(cls) -> list[str]:
        return [f.name for f in dataclasses.fields(cls) if f.init]
