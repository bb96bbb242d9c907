"""The bad-input corpus (tests/bad_inputs/): every case refused in one line with exit status 2
or a 4xx naming what is wrong, or answered, as the case says; never a traceback, a 5xx or
garbage accepted."""
import contextlib
import io
import signal
import time

import pytest
from bad_inputs import Case, corpus, judge_cli, judge_http

from polymodal.cli.main import main


@pytest.fixture(scope="module")
def cases(tmp_path_factory) -> list[Case]:
    return corpus(tmp_path_factory.mktemp("bad-inputs"))


def test_the_corpus_is_large_and_covers_both_surfaces(cases):
    assert len(cases) >= 300
    assert sum(c.surface == "cli" for c in cases) >= 150 and sum(c.surface == "http" for c in cases) >= 150


CASE_SECONDS = 60          # a case still running then counts as a hang


class Hang(BaseException):
    """Raised in the case's own thread when it runs past CASE_SECONDS."""


def test_every_bad_command_line_is_refused_in_one_line(cases, monkeypatch):
    import uvicorn
    monkeypatch.setattr(uvicorn.Server, "run", lambda self: pytest.fail("serve started on a bad command line"))

    def hang(*_):
        raise Hang()
    previous = signal.signal(signal.SIGALRM, hang)
    problems = []
    try:
        for case in (c for c in cases if c.surface == "cli"):
            stderr, start = io.StringIO(), time.perf_counter()
            signal.setitimer(signal.ITIMER_REAL, CASE_SECONDS)
            try:
                with contextlib.redirect_stderr(stderr), contextlib.redirect_stdout(io.StringIO()):
                    status = main(case.argv)
                problems.append(judge_cli(case, status, stderr.getvalue()))
            except Hang:
                problems.append(f"{case.name}: still running after {time.perf_counter() - start:.0f} s")
            except Exception as e:              # noqa: BLE001  (what escapes main is a traceback)
                problems.append(f"{case.name}: {type(e).__name__} escaped: {str(e)[:200]}")
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
    finally:
        signal.signal(signal.SIGALRM, previous)
    problems = [p for p in problems if p]
    assert not problems, f"{len(problems)} cases:\n" + "\n".join(problems[:40])


def test_every_bad_request_gets_a_4xx_naming_it(cases):
    from fastapi.testclient import TestClient

    from polymodal.server import ServerConfig, create_app
    client = TestClient(create_app(ServerConfig(contain_engines=False)))
    problems = []
    for case in (c for c in cases if c.surface == "http"):
        response = client.post(case.route, **case.request)
        problems.append(judge_http(case, response.status_code, response.content))
    problems = [p for p in problems if p]
    assert not problems, f"{len(problems)} cases:\n" + "\n".join(problems[:40])
    assert client.get("/health").status_code == 200
