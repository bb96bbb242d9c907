"""Property-based fuzzing of the command line: any verb, any flag or text positional, valid or
hostile values. Each command line is answered (exit 0) or refused in one line (exit 2); never
a traceback, another exit status, or a run past CASE_SECONDS. A fixed seed and a bounded
count here; `make test-slow` runs many more."""
import contextlib
import io
import signal
import time

import pytest
import torch
from bad_inputs import files
from bad_inputs.cli_cases import bases
from cli_strategies import command_lines, value_flags
from hypothesis import HealthCheck, given, settings

from polymodal.cli.main import main
from polymodal.cli.parser import build_parser

CASE_SECONDS = 60


class Hang(BaseException):
    pass


class Served(BaseException):
    """`serve` got past its checks: an answer, for the fuzz."""


@pytest.fixture(scope="module")
def command_bases(tmp_path_factory):
    return bases(files.make(tmp_path_factory.mktemp("fuzz-cli-files")))


def answer(argv: list[str]) -> tuple[int, str, float]:
    """(exit status, stderr, seconds) of `polymodal ARGV`, in this process."""
    def hang(*_):
        raise Hang()
    previous, threads = signal.signal(signal.SIGALRM, hang), torch.get_num_threads()
    stderr, start = io.StringIO(), time.perf_counter()
    signal.setitimer(signal.ITIMER_REAL, CASE_SECONDS)
    try:
        with contextlib.redirect_stderr(stderr), contextlib.redirect_stdout(io.StringIO()):
            status = main(argv)
    except Served:
        status = 0
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        torch.set_num_threads(threads)          # --threads changes the process's
    return status, stderr.getvalue(), time.perf_counter() - start


def check(argv: list[str]) -> None:
    try:
        status, stderr, _ = answer(argv)
    except Hang:
        pytest.fail(f"still running after {CASE_SECONDS} s: {argv!r}")
    assert "Traceback" not in stderr, (argv, stderr[-500:])
    assert status in (0, 2), (argv, status, stderr[-300:])
    if status == 2:
        lines = [line for line in stderr.splitlines() if line.strip()]
        assert len(lines) == 1 and lines[0].startswith("polymodal"), (argv, stderr[:500])


def fuzz(command_bases, monkeypatch, tmp_path, examples: int) -> None:
    import uvicorn

    def served(self):
        raise Served()
    monkeypatch.setattr(uvicorn.Server, "run", served)
    monkeypatch.chdir(tmp_path)                 # relative --out values land here

    @settings(max_examples=examples, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(argv=command_lines(command_bases))
    def run(argv):
        check(argv)
    run()


def test_every_verb_has_a_base_command_line(command_bases):
    verbs = {path for path, _ in value_flags(build_parser())}
    assert verbs <= set(command_bases), verbs - set(command_bases)


def test_fuzzing_the_command_line_finds_nothing(command_bases, monkeypatch, tmp_path):
    fuzz(command_bases, monkeypatch, tmp_path, examples=150)


@pytest.mark.slow
def test_fuzzing_the_command_line_longer(command_bases, monkeypatch, tmp_path):
    fuzz(command_bases, monkeypatch, tmp_path, examples=3000)
