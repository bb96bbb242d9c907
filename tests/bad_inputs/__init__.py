"""A corpus of bad inputs, each with what polymodal must do with it: refuse it in one line
(exit status 2 on the command line, a 4xx over HTTP) or answer it. A user's slips and a
hostile client's tries alike: missing, truncated, renamed, lying and oversized media; numbers
that are nan, infinite, huge, negative or words; texts that are blank, hold NUL or unpaired
surrogates, or are nested 100,000 deep; configs, recipes, manifests and model folders of the
wrong shape, type or encoding; voices eSpeak does not have.

    files.make(folder)          writes the hostile files the cases name
    cli_cases.cases(f)          command lines (argv after `polymodal`)
    http_cases.cases(f)         requests to the HTTP service

tests/test_bad_inputs.py runs the whole corpus in-process on every `make test`;
benchmarks/bad_inputs.py runs it against the real command and a real server process.
"""
from __future__ import annotations

from dataclasses import dataclass, field

REFUSED, ANSWERED = "refused", "answered"


@dataclass
class Case:
    name: str                       # unique, says what is wrong
    expect: str                     # REFUSED or ANSWERED
    words: str = ""                 # refused: these words appear in the one-line message
    argv: list[str] | None = None   # a command line
    route: str | None = None        # an HTTP POST route ...
    request: dict = field(default_factory=dict)    # ... and its httpx keyword arguments (json=, content=, files=)

    @property
    def surface(self) -> str:
        return "cli" if self.argv is not None else "http"


def corpus(folder) -> list[Case]:
    from . import cli_cases, files, http_cases
    f = files.make(folder)
    found = cli_cases.cases(f) + http_cases.cases(f)
    names = [c.name for c in found]
    duplicated = {n for n in names if names.count(n) > 1}
    assert not duplicated, f"case names used twice: {sorted(duplicated)}"
    return found


def judge_cli(case: Case, status: int, stderr: str) -> str | None:
    """What is wrong with how a command line was answered (None: nothing)."""
    if "Traceback" in stderr:
        return f"{case.name}: a traceback: {stderr.strip().splitlines()[-1][:200]}"
    if case.expect == ANSWERED:
        return None if status == 0 else f"{case.name}: exit {status}, not answered: {stderr.strip()[:200]!r}"
    lines = [line for line in stderr.splitlines() if line.strip()]
    if status == 0:
        return f"{case.name}: garbage accepted (exit 0)"
    if status != 2:
        return f"{case.name}: exit {status}, not 2: {stderr.strip()[-200:]!r}"
    if len(lines) != 1 or not lines[0].startswith("polymodal"):
        return f"{case.name}: {len(lines)} lines on stderr, not one: {stderr[:300]!r}"
    if case.words.lower() not in lines[0].lower():
        return f"{case.name}: the message lacks {case.words!r}: {lines[0][:200]!r}"
    return None


def judge_http(case: Case, status: int, body: bytes) -> str | None:
    """What is wrong with how a request was answered (None: nothing)."""
    if case.expect == ANSWERED:
        return None if status == 200 else f"{case.name}: {status}, not answered: {body[:200]!r}"
    if status == 200:
        return f"{case.name}: garbage accepted (200)"
    if not 400 <= status < 500:
        return f"{case.name}: {status}, not a 4xx: {body[:200]!r}"
    import json
    try:
        error = json.loads(body)["error"]
    except (ValueError, KeyError, TypeError):
        return f"{case.name}: {status} without a JSON error: {body[:200]!r}"
    if "\n" in error or "Traceback" in error:
        return f"{case.name}: the error is not one line: {error[:200]!r}"
    if case.words.lower() not in error.lower():
        return f"{case.name}: the message lacks {case.words!r}: {error[:200]!r}"
    return None
