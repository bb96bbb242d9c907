"""Systems defined as data (a dict or a YAML file):

    name: voice-assistant
    inputs: {image: image, audio: audio}
    steps:
      - {step: transcribe, model: pocketsphinx, gives: {text: question}}   # rename an output
      - {step: vqa}
      - {step: speak, takes: {text: answer}}                               # read another value
    outputs: [question, answer, audio]
"""
from __future__ import annotations

from pathlib import Path

from ..core.config import check_keys, check_mapping
from ..core.errors import ConfigError, InputError
from ..core.files import parse_yaml, read_text
from .core import Step, System
from .steps import STEPS


def build_step(spec: dict) -> Step:
    if not isinstance(spec, dict) or "step" not in spec:
        raise ConfigError(f"a system step is a mapping with a 'step' name, got {spec!r}")
    options = {k: v for k, v in spec.items() if k not in ("step", "takes", "gives")}
    step = STEPS.build(spec["step"], **options)
    renames = spec.get("gives") or {}
    unknown = [k for k in renames if k not in step.gives]
    if unknown:
        raise ConfigError(f"step {step.name!r} gives {', '.join(step.gives)}, not {unknown[0]!r}")
    if renames:
        inner, names = step.fn, dict(renames)
        step = Step(step.name, step.takes, {names.get(k, k): v for k, v in step.gives.items()},
                    lambda items, f=inner: [{names.get(k, k): v for k, v in out.items()} for out in f(items)],
                    parameters=step.parameters)
    wiring = spec.get("takes") or {}
    unknown = [k for k in wiring if k not in step.takes]
    if unknown:
        raise ConfigError(f"step {step.name!r} takes {', '.join(step.takes)}, not {unknown[0]!r}")
    step.wiring = dict(wiring)
    return step


BUILTIN = Path(__file__).parent / "builtin"


SYSTEM_KEYS = ("name", "description", "inputs", "steps", "outputs")


def build_system(spec: dict, models: dict | None = None) -> System:
    """models: step name -> model, overriding the definition's (e.g. {"vqa": "runs/x/model"})."""
    check_keys(check_mapping(spec, "a system"), SYSTEM_KEYS, "a system definition")
    for key in ("inputs", "steps", "outputs"):
        if key not in spec:
            raise ConfigError(f"a system needs {key!r}")
    steps = [dict(s, model=models[s["step"]]) if models and s.get("step") in models else s for s in spec["steps"]]
    return System([build_step(s) for s in steps], spec["inputs"], spec["outputs"], spec.get("name", "system"))


def builtin_systems() -> dict[str, dict]:
    """name -> definition of the systems that ship with polymodal."""
    return {p.stem: parse_yaml(read_text(p), str(p)) for p in sorted(BUILTIN.glob("*.yaml"))}


def find_system(name_or_path: str) -> dict:
    """A built-in system's name or a YAML file -> its definition."""
    systems = builtin_systems()
    if name_or_path in systems:
        return systems[name_or_path]
    path = Path(name_or_path)
    if not path.is_file():
        raise InputError(f"{name_or_path}: not a built-in system ({', '.join(systems)}) nor a YAML file")
    spec = parse_yaml(read_text(path, "system file"), str(path))
    if not isinstance(spec, dict):
        raise InputError(f"{path}: a system file is a mapping of name, inputs, steps, outputs")
    return spec


def load_system(name_or_path: str | Path, models: dict | None = None) -> System:
    """A built-in system by name, or a YAML definition file."""
    return build_system(find_system(str(name_or_path)), models)
