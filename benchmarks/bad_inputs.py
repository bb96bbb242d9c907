"""The bad-input corpus (tests/bad_inputs/) against the real thing: every command line run as
`python -m polymodal ...` in a process of its own, every request sent to a real
`polymodal serve` process over HTTP. Counts what must never happen: a process killed by a
signal (a native crash), the server gone, a 5xx, a traceback, garbage accepted (exit 0 or 200
where a refusal is due), a hang (no answer within --timeout), and any other way an answer
differs from the case (more than one line, a message that does not name the input).

    python benchmarks/bad_inputs.py                       # this tree
    python benchmarks/bad_inputs.py --src /tmp/old/src --out /tmp/old-bad-inputs   # another one

Writes benchmarks/results/bad_inputs.{json,md} (or --out)."""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
sys.path.insert(0, str(ROOT / "tests"))


def os_argv(argv: list[str]) -> list[bytes]:
    """argv as the bytes a shell would pass: a lone surrogate goes as the bytes that encode it
    (invalid UTF-8, which Python reads back as surrogates)."""
    out = []
    for a in argv:
        try:
            out.append(os.fsencode(a))
        except UnicodeEncodeError:
            out.append(a.encode("utf-8", "surrogatepass"))
    return out


def run_cli(case, env: dict, timeout: float) -> dict:
    from bad_inputs import judge_cli
    start = time.perf_counter()
    try:
        done = subprocess.run([os.fsencode(sys.executable), b"-m", b"polymodal", *os_argv(case.argv)], env=env,
                              capture_output=True, timeout=timeout, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        return {"case": case.name, "outcome": "hang", "seconds": timeout}
    except (ValueError, OSError) as e:      # the OS refuses an argument holding NUL, or one over 128 KiB
        return {"case": case.name, "outcome": INPROCESS, "detail": f"no process can be given this command line "
                f"({e}); tests/test_bad_inputs.py gives it to main() in-process"}
    stderr = done.stderr.decode("utf-8", "replace")
    seconds = round(time.perf_counter() - start, 2)
    if done.returncode < 0:
        return {"case": case.name, "outcome": "crash", "detail": f"signal {-done.returncode}: {stderr[-200:]}",
                "seconds": seconds}
    problem = judge_cli(case, done.returncode, stderr)
    return {"case": case.name, "outcome": outcome_of(problem), "detail": problem, "seconds": seconds}


INPROCESS = "in-process only"


def outcome_of(problem: str | None) -> str:
    if problem is None:
        return "ok"
    for word, outcome in (("traceback", "traceback"), ("garbage accepted", "garbage"), ("not a 4xx", "5xx")):
        if word in problem:
            return outcome
    return "other"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def server(env: dict, log):
    """A `polymodal serve` process; yields a function that returns its URL, starting it
    again when it has died (each start is counted by the caller)."""
    import httpx
    state = {"process": None, "url": None}

    def start():
        port = free_port()
        state["process"] = subprocess.Popen([sys.executable, "-m", "polymodal", "serve", "--port", str(port),
                                             "--threads", "1"], env=env, stdout=log, stderr=log)
        state["url"] = f"http://127.0.0.1:{port}"
        for _ in range(600):
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(state["url"] + "/health", timeout=2).status_code == 200:
                    return state["url"]
            time.sleep(0.1)
        raise RuntimeError("the server did not start")

    def url(restart: bool = False) -> str:
        if restart or state["process"] is None or state["process"].poll() is not None:
            if state["process"] is not None:
                state["process"].kill()
            return start()
        return state["url"]
    try:
        yield url
    finally:
        if state["process"] is not None:
            state["process"].terminate()
            state["process"].wait(10)


def run_http(cases, env: dict, timeout: float, log) -> list[dict]:
    import httpx
    from bad_inputs import judge_http
    out = []
    with server(env, log) as url:
        for case in cases:
            base, start = url(), time.perf_counter()
            try:
                response = httpx.post(base + case.route, timeout=timeout, **case.request)
            except httpx.TimeoutException:
                out.append({"case": case.name, "outcome": "hang", "seconds": timeout})
                url(restart=True)
                continue
            except httpx.TransportError as e:
                out.append({"case": case.name, "outcome": "crash", "detail": f"server gone: {e!r}"})
                continue
            seconds = round(time.perf_counter() - start, 2)
            problem = judge_http(case, response.status_code, response.content)
            alive = True
            with contextlib.suppress(httpx.HTTPError):
                alive = httpx.get(base + "/health", timeout=10).status_code == 200
            if not alive:
                out.append({"case": case.name, "outcome": "crash", "detail": "no /health after it"})
                continue
            out.append({"case": case.name, "outcome": outcome_of(problem), "detail": problem, "seconds": seconds})
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--src", default=str(ROOT / "src"), help="the polymodal source tree to run")
    parser.add_argument("--only", choices=("cli", "http"))
    parser.add_argument("--jobs", type=int, default=2, help="command lines run at once")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds before a case counts as a hang")
    parser.add_argument("--out", default=str(RESULTS / "bad_inputs"))
    args = parser.parse_args()
    from bad_inputs import corpus
    env = dict(os.environ, PYTHONPATH=str(Path(args.src).resolve()), OMP_NUM_THREADS="1")
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as folder:
        cases = corpus(Path(folder) / "files")
        results = []
        if args.only in (None, "cli"):
            cli = [c for c in cases if c.surface == "cli"]
            with ThreadPoolExecutor(args.jobs) as pool:
                for i, result in enumerate(pool.map(lambda c: run_cli(c, env, args.timeout), cli), 1):
                    results.append({"surface": "cli", **result})
                    if i % 50 == 0:
                        print(f"cli {i}/{len(cli)}", file=sys.stderr)
        if args.only in (None, "http"):
            with open(Path(folder) / "server.log", "wb") as log:
                results += [{"surface": "http", **r} for r in
                            run_http([c for c in cases if c.surface == "http"], env, args.timeout, log)]
    counts = Counter((r["surface"], r["outcome"]) for r in results)
    report = {
        "command": "python benchmarks/bad_inputs.py" + (f" --src {args.src}" if args.src != str(ROOT / "src") else ""),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "seconds": round(time.perf_counter() - started, 1), "cases": len(results),
        "by_surface": {s: sum(1 for r in results if r["surface"] == s) for s in ("cli", "http")},
        "counts": {f"{s} {o}": n for (s, o), n in sorted(counts.items())},
        "problems": [r for r in results if r["outcome"] not in ("ok", INPROCESS)],
        "slowest": sorted(({"case": r["case"], "seconds": r.get("seconds")} for r in results),
                          key=lambda r: -(r["seconds"] or 0))[:10],
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    bad = {o: sum(n for (s, oo), n in counts.items() if oo == o) for o in
           ("crash", "5xx", "traceback", "garbage", "hang", "other")}
    rows = "\n".join(f"| {p['surface']} | {p['case']} | {p['outcome']} | {(p.get('detail') or '')[:160]} |"
                     for p in report["problems"][:200])
    out.with_suffix(".md").write_text(
        f"# The bad-input corpus against the real command line and server\n\n`{report['command']}` "
        f"({report['machine']}), {report['seconds']} s.\n\n{report['cases']} cases ({report['by_surface']['cli']} "
        f"command lines, {report['by_surface']['http']} requests): **{bad['crash']} crashes, {bad['5xx']} 5xx, "
        f"{bad['traceback']} tracebacks, {bad['garbage']} garbage accepted, {bad['hang']} hangs**, "
        f"{bad['other']} answered otherwise than the case says. {counts[('cli', INPROCESS)]} command lines hold a "
        f"NUL or an argument over 128 KiB, which no process can be given; tests/test_bad_inputs.py runs those through main() in-process.\n\n"
        + (f"| surface | case | outcome | detail |\n|---|---|---|---|\n{rows}\n" if rows else ""))
    print(json.dumps({k: report[k] for k in ("cases", "counts", "seconds")}))
    return 0 if not report["problems"] else 1


if __name__ == "__main__":
    sys.exit(main())
