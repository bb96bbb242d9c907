"""The one registry pattern: a name maps to a builder (a class or a function).

Encoders, fusion strategies, fusion operators, heads, model kinds, tasks, pipelines, engines,
Hugging Face adapters, batch jobs, system steps and server endpoints each own a Registry, in
a module of its own (or in the one module that defines all its members). Tests parametrise
over `registry.names()`.
"""
from __future__ import annotations

import inspect
import typing
from typing import Callable, Generic, TypeVar

from .config import check_keys, check_types
from .errors import ConfigError

T = TypeVar("T")


class Registry(Generic[T]):
    def __init__(self, kind: str):
        self.kind = kind
        self._builders: dict[str, Callable[..., T]] = {}

    def register(self, name: str):
        def add(builder: Callable[..., T]) -> Callable[..., T]:
            if name in self._builders:
                raise ValueError(f"{self.kind} {name!r} registered twice")
            self._builders[name] = builder
            return builder
        return add

    def get(self, name: str) -> Callable[..., T]:
        try:
            return self._builders[name]
        except (KeyError, TypeError):
            known = ", ".join(sorted(self._builders))
            raise ConfigError(f"unknown {self.kind} {name!r}; known: {known}") from None

    def build(self, name: str, *args, **options) -> T:
        """The builder's result; an option it does not take is a one-line error naming the
        options it does take (config keys come from users)."""
        self.check_options(name, options, len(args))
        return self.get(name)(*args, **options)

    def check_options(self, name: str, options: dict, positional: int = 0) -> None:
        """The options' names against the builder's parameters, their values against its
        annotations (core/config.py reads int, float, str, bool, lists, mappings)."""
        builder = self.get(name)
        parameters = list(inspect.signature(builder).parameters.values())
        what = f"{self.kind} {name!r} options"
        if not any(p.kind is p.VAR_KEYWORD for p in parameters):
            named = [p.name for p in parameters if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
            check_keys(options, named[positional:], what)
        try:
            hints = typing.get_type_hints(builder.__init__ if isinstance(builder, type) else builder)
        except (NameError, TypeError):          # annotations this cannot resolve: names checked only
            return
        check_types(options, hints, what)

    def names(self) -> list[str]:
        return sorted(self._builders)

    def __contains__(self, name: str) -> bool:
        return isinstance(name, str) and name in self._builders
