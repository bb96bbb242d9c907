"""Hypothesis strategies for command lines: any verb, one of its flags or text positionals,
and a value that is valid and small, or hostile (nan, inf, huge, negative, words for numbers;
empty, blank, NUL, unpaired surrogates, 20,000 characters, odd paths for texts). The verbs
and flags are read from the parser itself, so a flag added later is fuzzed too."""
from __future__ import annotations

import argparse

from hypothesis import strategies as st

from polymodal.cli.arguments import Checked
from polymodal.cli.parser import build_parser
from polymodal.core.values import number, seed

# Texts a user or a script might pass anywhere (all relative: the fuzz runs in a scratch folder).
ODD_TEXTS = ["", " ", " \t ", "a\x00b", "\ud800", "a \udcff b", "-", "--", "..", ".", "nan", "-1", "{}", "[[[",
             "shapes:nope:train", "shapes:sort-of-clevr:nope", "hf:nobody/nothing", "x.jsonl", "x.csv", "x.png",
             "x.wav", "x.parquet", "x.npz", "~", "a=b", "=", "red circle", "en-us+m3", "klingon", "early:nope"]
hostile_texts = st.one_of(st.sampled_from(ODD_TEXTS), st.text(alphabet=st.characters(exclude_categories=()), max_size=30),
                          st.integers(1_000, 20_000).map(lambda n: "x" * n))
HOSTILE_NUMBERS = ["nan", "inf", "-inf", "1e309", str(2**70), str(-2**70), "ten", "", " ", "0x1A", "1e-400", "-0",
                   "2.5", "0", "-1", "1e9"]
# Verb -> the positions in its base command line (cli_cases.bases) that hold a text or a path.
POSITIONALS = {("ask",): (1, 2), ("ground",): (1, 2), ("search",): (1,), ("speak",): (1,), ("generate",): (1,),
               ("edit",): (1, 2), ("caption",): (1,), ("transcribe",): (1,), ("classify",): (1,), ("embed",): (1,)}


def value_flags(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()):
    """(verb path, action) of every option that takes a value, in every verb."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from value_flags(sub, path + (name,))
        elif action.option_strings and action.nargs != 0 and action.dest != "help":
            yield path, action


def small_valid(kind: Checked) -> st.SearchStrategy:
    """A valid value of a numeric flag, small (so that an accepted command stays cheap)."""
    low = kind.options.get("low")
    high = kind.options.get("high")
    low = 0 if low is None else low
    if kind.check is seed:
        return st.integers(0, 2**31 - 1).map(str)
    top = low + 3 if high is None else min(high, low + 3)
    if kind.options.get("integer"):
        return st.integers(int(low), int(top)).map(str)
    return st.floats(low, top, allow_nan=False).map(repr)


def value_for(action) -> st.SearchStrategy:
    kind = action.type
    if isinstance(kind, Checked) and kind.check in (number, seed):
        return st.one_of(small_valid(kind), st.sampled_from(HOSTILE_NUMBERS))
    if action.choices:
        return st.one_of(st.sampled_from(sorted(map(str, action.choices))), hostile_texts)
    return hostile_texts


@st.composite
def command_lines(draw, bases: dict) -> list[str]:
    """A base command line of some verb with one flag or positional changed."""
    flags = [(path, action) for path, action in value_flags(build_parser()) if path in bases]
    positional = [(path, i) for path, slots in POSITIONALS.items() for i in slots]
    if draw(st.floats(0, 1)) < 0.8:
        path, action = draw(st.sampled_from(flags))
        return bases[path] + [action.option_strings[-1], draw(value_for(action))]
    path, i = draw(st.sampled_from(positional))
    argv = list(bases[path])
    argv[i] = draw(hostile_texts)
    return argv
