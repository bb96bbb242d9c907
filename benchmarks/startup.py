"""Start-up time of the command line and of `import polymodal`, for one or more source trees
(e.g. before and after a change), measured in fresh processes.

    python benchmarks/startup.py --tree before=/tmp/old/src --tree after=src --runs 20

Each figure is the median wall time of `runs` processes (after one warm-up each, so that the
bytecode is compiled): `python -m polymodal --help` and `python -c "import polymodal"`, and for
reference `python -c "pass"`. Writes benchmarks/results/startup.md and .json."""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
COMMANDS = {"python -m polymodal --help": ["-m", "polymodal", "--help"],
            "python -c 'import polymodal'": ["-c", "import polymodal"],
            "python -c 'pass' (the interpreter alone)": ["-c", "pass"]}


def seconds(args: list[str], src: str, runs: int) -> float:
    env = dict(os.environ, PYTHONPATH=str(Path(src).resolve()))
    subprocess.run([sys.executable, *args], env=env, capture_output=True, check=True)      # warm-up
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run([sys.executable, *args], env=env, capture_output=True, check=True)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tree", action="append", required=True, metavar="LABEL=SRC",
                        help="a source tree holding the polymodal package, e.g. after=src")
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    trees = dict(t.split("=", 1) for t in args.tree)
    rows = {label: {name: seconds(cmd, src, args.runs) for name, cmd in COMMANDS.items()} for label, src in trees.items()}
    from polymodal.core.machine import describe_machine
    command = "python benchmarks/startup.py " + " ".join(f"--tree {t}" for t in args.tree) + f" --runs {args.runs}"
    lines = ["| | " + " | ".join(trees) + " |", "|---" * (len(trees) + 1) + "|"]
    for name in COMMANDS:
        lines.append(f"| `{name}` | " + " | ".join(f"{1000 * rows[label][name]:.0f} ms" for label in trees) + " |")
    text = (f"# Start-up time\n\nMedian of {args.runs} fresh processes each (after a warm-up). Command: `{command}`; "
            f"machine: {describe_machine()}.\n\n" + "\n".join(lines) + "\n")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "startup.md").write_text(text)
    (RESULTS / "startup.json").write_text(json.dumps({"command": command, "seconds": rows}, indent=2) + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
