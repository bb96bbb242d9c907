"""Multimodal systems: unimodal models chained by what they take and give.

A Step reads named values of declared kinds (image, text, audio, boxes...) and writes named
values. A System checks when it is built that every step can get what it takes from the
system's inputs or an earlier step, runs its steps over a batch of items (each step batched,
on each distinct input once), and keeps a trace of every intermediate value. An item whose step fails is marked with the
step and the reason; the other items go on.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from ..core.errors import ConfigError, PolymodalError
from .input_keys import inputs_key

KINDS = ("image", "text", "audio", "boxes", "label")


@dataclass
class Step:
    """fn(list of {input name: value}) -> list of {output name: value}, one per item."""
    name: str
    takes: dict[str, str]              # input name -> kind
    gives: dict[str, str]              # output name -> kind
    fn: Callable[[list[dict]], list[dict]]
    wiring: dict[str, str] = field(default_factory=dict)   # input name -> the system value it reads
    parameters: int = 0                # weights of the model behind it (0 for rule-based engines)

    def __post_init__(self):
        for where in (self.takes, self.gives):
            bad = [k for k in where.values() if k not in KINDS]
            if bad:
                raise ConfigError(f"step {self.name!r}: unknown kind {bad[0]!r}; kinds are {', '.join(KINDS)}")

    def source(self, name: str) -> str:
        return self.wiring.get(name, name)


@dataclass
class ItemResult:
    outputs: dict                      # the system's outputs (empty if a step failed)
    trace: list[tuple[str, dict]]      # (step name, what it gave), in order
    error: str | None = None           # "step NAME failed on INPUT: reason"


class System:
    def __init__(self, steps: list[Step], inputs: dict[str, str], outputs: list[str], name: str = "system"):
        self.name, self.steps, self.inputs, self.outputs = name, list(steps), dict(inputs), list(outputs)
        self.check()

    def check(self) -> None:
        """Refuse a chain whose steps cannot get what they take (naming both sides)."""
        available = {name: (kind, "the system's inputs") for name, kind in self.inputs.items()}
        for step in self.steps:
            for name, kind in step.takes.items():
                source = step.source(name)
                if source not in available:
                    raise ConfigError(f"step {step.name!r} takes {source!r} ({kind}), which neither the system's "
                                      f"inputs nor an earlier step gives")
                have, giver = available[source]
                if have != kind:
                    raise ConfigError(f"step {step.name!r} takes {source!r} as {kind}, but {giver} give it as {have}")
            for name, kind in step.gives.items():
                available[name] = (kind, f"step {step.name!r}")
        missing = [o for o in self.outputs if o not in available]
        if missing:
            raise ConfigError(f"system {self.name!r}: no step gives its output {missing[0]!r}")

    def run(self, items: list[dict], start: int = 0) -> list[ItemResult]:
        """items: {input name: value}. Each step runs once over the items still going, and
        on each distinct input once: items whose inputs to a step are the same (by content,
        systems/input_keys.py) share its outputs. start: begin at that step, the items holding
        what the steps before it give (the comparison harness reruns a chain's tail from a
        reference caption this way)."""
        states = [dict(item) for item in items]
        traces: list[list] = [[] for _ in items]
        errors: list[str | None] = [None] * len(items)
        for step in self.steps[start:]:
            alive = [i for i, e in enumerate(errors) if e is None]
            if not alive:
                break
            inputs = [{n: states[i][step.source(n)] for n in step.takes} for i in alive]
            keys = [inputs_key(x) for x in inputs]
            slot: dict[tuple, int] = {}                  # key -> its place among the distinct inputs
            distinct = []
            for x, key in zip(inputs, keys):
                if key not in slot:
                    slot[key] = len(distinct)
                    distinct.append(x)
            given = self.call_step(step, distinct)
            for i, key in zip(alive, keys):
                out = given[slot[key]]
                if isinstance(out, Exception):
                    errors[i] = f"step {step.name!r} failed on {describe(items[i])}: {out}"
                else:
                    states[i].update(out)
                    traces[i].append((step.name, dict(out)))
        return [ItemResult({o: s[o] for o in self.outputs} if e is None else {}, t, e)
                for s, t, e in zip(states, traces, errors)]

    @staticmethod
    def call_step(step: Step, batch: list[dict]) -> list:
        """The step's outputs for each input of the batch; if the batch fails, the inputs
        one by one, so that one bad input fails alone (its place then holds the error)."""
        try:
            return step.fn(batch)
        except PolymodalError:
            pass
        out = []
        for one in batch:
            try:
                out.append(step.fn([one])[0])
            except PolymodalError as e:
                out.append(e)
        return out

    @property
    def parameters(self) -> int:
        return sum(step.parameters for step in self.steps)

    def giver(self, name: str) -> int:
        """The index of the last step that gives the value `name`."""
        found = [i for i, step in enumerate(self.steps) if name in step.gives]
        if not found:
            raise ConfigError(f"no step of system {self.name!r} gives {name!r}")
        return found[-1]

    def __call__(self, **inputs):
        result = self.run([inputs])[0]
        if result.error:
            raise SystemStepError(result.error)
        return result


class SystemStepError(PolymodalError):
    """A step of a system failed on an item."""


def describe(item: dict) -> str:
    """A short name for an item in messages: its file names, or its first text."""
    parts = [str(v) for v in item.values() if isinstance(v, str)][:2]
    return ", ".join(p if len(p) < 60 else p[:57] + "..." for p in parts) or "an item"
