"""One config policy, for every config polymodal reads: a saved model's config.json, a recipe
and each of its sections, training options, task options, encoder and fusion options.

An unknown key is an error that names it and the keys that are known (a misspelt `hiden: 32`
must not silently build the default width); a missing required key is named too; a value of
the wrong type (`lr: fast`, `hidden: "big"`, a non-finite number) is refused against the
field's annotation.
"""
from __future__ import annotations

import dataclasses
import math
import reprlib
import types
import typing
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


def type_problem(value, annotation) -> str | None:
    """Why `value` is not of the annotated type (int, float, str, bool, list[...], dict[...],
    tuple, X | None), or None when it is (or the annotation is one this does not read)."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        problems = [type_problem(value, a) for a in args]
        if None in problems:
            return None
        return "must be " + " or ".join(p.removeprefix("must be ") for p in problems)
    if annotation is type(None):
        return None if value is None else "must be null"
    if annotation is bool:
        return None if isinstance(value, bool) else "must be true or false"
    if annotation is int:
        return None if isinstance(value, int) and not isinstance(value, bool) else "must be an integer"
    if annotation is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return "must be a number"
        return None if math.isfinite(value) else "must be a finite number"
    if annotation is str:
        return None if isinstance(value, str) else "must be text"
    if annotation in (list, tuple) or origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            return "must be a list"
        items = args[0] if origin is list and args else None
        bad = next((p for p in (type_problem(v, items) for v in value) if p), None) if items else None
        return f"items {bad}" if bad else None
    if annotation is dict or origin is dict:
        return None if isinstance(value, dict) else "must be a mapping"
    return None


def check_types(values: Mapping, hints: Mapping, what: str) -> None:
    for key, value in values.items():
        problem = type_problem(value, hints[key]) if key in hints else None
        if problem:
            raise ConfigError(f"{what}: {key} {problem}, got {reprlib.repr(value)}")


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
        check_types(d, typing.get_type_hints(cls), what)
        return cls(**d)

    @classmethod
    def keys(cls) -> list[str]:
        return [f.name for f in dataclasses.fields(cls) if f.init]
