"""ENCODERS: a name -> the unimodal encoder class (or builder) it builds.

`ENCODERS.build(name, **config)` returns an encoders.base.Encoder whose `config` attribute is
the JSON-serialisable dict of those options (saved beside the weights); `build_encoder` does
the same from the {name, config} spec a model config holds."""
from __future__ import annotations

from pathlib import Path

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


PRETRAINED = {"image": "hf-image", "text": "hf-text", "audio": "hf-audio"}    # modality -> its Hugging Face encoder


def encoder_spec(given: str, modality: str, tune: str | None = None) -> dict:
    """What a user names on the command line -> {name, config}: a registered encoder (cnn,
    minilm, ...), or a pretrained model (`hf:<repo-id>` or a local folder) read by the
    modality's Hugging Face encoder; `tune` (none, full, lora) for a pretrained one."""
    if given in ENCODERS.names():
        config = {"tune": tune} if tune and given in PRETRAINED.values() else {}
        return {"name": given, "config": config}
    if given.startswith("hf:") or Path(given).expanduser().is_dir():
        if modality not in PRETRAINED:
            raise ConfigError(f"{modality} encoder {given!r}: no pretrained {modality} models are read yet; "
                              f"use a registered encoder ({', '.join(ENCODERS.names())})")
        return {"name": PRETRAINED[modality], "config": {"path": given, **({"tune": tune} if tune else {})}}
    raise ConfigError(f"{modality} encoder {given!r}: not a registered encoder ({', '.join(ENCODERS.names())}), "
                      f"hf:<repo-id> nor a model folder")
