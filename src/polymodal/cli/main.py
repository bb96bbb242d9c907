"""`polymodal VERB ...`: parse, run the verb, and turn any error a user caused into one line on
stderr and exit status 2."""
from __future__ import annotations

import atexit
import os
import sys
import threading
import warnings
from importlib import import_module

from ..core.errors import PolymodalError, SlowPathWarning
from .parser import build_parser

# verb -> (module of cli/commands, its function). A verb's module is imported when the verb
# runs: the verbs import torch and the models, which `--help` and usage errors must not wait for.
VERBS = {
    "data": ("data", "data"), "train": ("train", "train"), "eval": ("evaluate", "evaluate"),
    "caption": ("caption", "caption"), "transcribe": ("speech", "transcribe"), "speak": ("speech", "speak"),
    "generate": ("generate", "generate"), "edit": ("generate", "edit"), "ground": ("ground", "ground"),
    "embed": ("align", "embed"), "search": ("align", "search"), "classify": ("align", "classify"),
    "ask": ("ask", "ask"), "compare-fusion": ("experiments", "compare_fusion"), "system": ("system", "system"),
    "compare": ("system", "compare"), "serve": ("serve", "serve"), "demo": ("experiments", "demo"),
    "fit": ("table", "fit"), "predict": ("table", "predict"), "chat": ("chat", "chat"),
    "export": ("export", "export"),
}


PYTHON_FORMAT = warnings.formatwarning


def one_line(message, category, filename, lineno, line=None) -> str:
    """polymodal's own warnings as one line for a person; others as Python writes them."""
    if issubclass(category, SlowPathWarning):
        return f"polymodal: warning: {message}\n"
    return PYTHON_FORMAT(message, category, filename, lineno, line)


def main(argv: list[str] | None = None) -> int:
    warnings.formatwarning = one_line
    try:
        args = build_parser().parse_args(argv)
        module, function = VERBS[args.command]
        run = getattr(import_module(f"{__package__}.commands.{module}"), function)
        return run(args) or 0
    except PolymodalError as e:
        print(f"polymodal: error: {e}".splitlines()[0], file=sys.stderr)
        return 2
    except BrokenPipeError:        # e.g. `polymodal eval ... | head`: the reader left; not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())   # nothing left to flush at exit
        return 0
    except OSError as e:  # e.g. --out names an existing file, no permission, disk full
        where = f"{e.filename}: " if e.filename else ""
        print(f"polymodal: error: {where}{e.strerror or e}".splitlines()[0], file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("polymodal: interrupted", file=sys.stderr)
        return 130


def entry() -> None:
    """The console script (and `python -m polymodal`): main, then its exit status without the
    interpreter's teardown. What a clean exit does for the program still runs (its atexit
    functions: Ray's shutdown, temporary folders, log handlers), and every verb has written and
    closed its outputs before main returns (atomic writes); only the freeing of every module's objects is skipped, which the system does at once when
    the process ends: 0.3-0.7 s of each command with torch loaded on this 2-core CPU. A program
    that left a thread running exits the usual way, which waits for it."""
    code = main()
    if any(t is not threading.main_thread() and not t.daemon for t in threading.enumerate()):
        sys.exit(code)
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except OSError:         # e.g. the reader of a pipe left: nothing more can reach it
            pass
    os._exit(code)


if __name__ == "__main__":
    entry()
