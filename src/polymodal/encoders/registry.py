"""ENCODERS: a name -> the unimodal encoder class (or builder) it builds.

`ENCODERS.build(name, **config)` returns an encoders.base.Encoder whose `config` attribute is
the JSON-serialisable dict of those options (saved beside the weights); `build_encoder` does
the same from the {name, config} spec a model config holds."""
from __future__ import annotations

from ..core.config import check_keys, check_mapping
from ..core.errors import ConfigError
from ..core.registry import Registry

ENCODERS: Registry = Registry("encoder")


def build_encoder(spec: dict, what: str = "encoder"):
    """{"name": registry name, "config": {options}} -> the encoder."""
    check_keys(check_mapping(spec, what), ("name", "config"), what)
    if not isinstance(spec.get("name"), str):
        raise ConfigError(f"{what}: give its registry name, as {{name: ..., config: {{...}}}}")
    return ENCODERS.build(spec["name"], **check_mapping(spec.get("config", {}), f"{what} config"))
