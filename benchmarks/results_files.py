"""Where a benchmark's results go: benchmarks/results/NAME.json (the command, the machine and
the rows) and NAME.md (a title, a sentence on how it was measured, and the table), written
together so the two always come from the same run."""
from __future__ import annotations

import json
import platform
from pathlib import Path

import torch

RESULTS = Path(__file__).resolve().parent / "results"


def add_name_option(parser, default: str) -> None:
    """--name: the results files' NAME, so a run on another machine keeps an earlier one's beside it."""
    parser.add_argument("--name", default=default,
                        help="results/NAME.{json,md} (another name keeps an earlier run's results beside it)")


def name_flag(name: str, default: str) -> str:
    """The ` --name NAME` a results file's command line shows, where NAME is not the default."""
    return "" if name == default else f" --name {name}"


def cpu_name() -> str:
    """The processor's model name (/proc/cpuinfo) and the widest vectors torch uses on it:
    results differ between CPUs of one architecture, and two "AMD EPYC"s differed in AVX-512
    (docs/performance.md, "On an AMD EPYC", "With AVX2 only")."""
    name = platform.processor() or "unknown CPU"
    for line in Path("/proc/cpuinfo").read_text().splitlines() if Path("/proc/cpuinfo").exists() else []:
        if line.startswith("model name"):
            name = line.split(":", 1)[1].strip()
            break
    return f"{name}, {torch.backends.cpu.get_cpu_capability()}"


def machine() -> str:
    """The machine and torch, as the results files name them."""
    return f"{platform.machine()} {torch.get_num_threads()} threads ({cpu_name()}), torch {torch.__version__}"


def write_results(name: str, command: str, title: str, how: str, table: list[str], rows: list[dict]) -> None:
    """NAME.json and NAME.md in benchmarks/results; how: what follows "`command` on machine"."""
    where = machine()
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps({"command": command, "machine": where, "rows": rows},
                                                     indent=2) + "\n")
    (RESULTS / f"{name}.md").write_text(f"# {title}\n\n`{command}` on {where}{how}\n\n" + "\n".join(table) + "\n")
