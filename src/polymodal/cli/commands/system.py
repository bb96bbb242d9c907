"""`polymodal system list | run`."""
from __future__ import annotations

import json
import sys
from pathlib import Path

from ...core import files
from ...core.errors import InputError
from ...core.machine import describe_machine
from ...data.manifest import parse_column_map, report_bad_rows
from ...modalities import Audio, Image
from ...systems import compare as harness
from ...systems.core import SystemStepError
from ...systems.definition import (
    build_system,
    builtin_systems,
    find_system,
    load_system,
)
from ...tasks import vqa
from .inputs import pairs
from .speech import save_wav


def system(args) -> int:
    if args.system_command == "list":
        for name, spec in builtin_systems().items():
            steps = " -> ".join(s["step"] for s in spec["steps"])
            print(f"{name}\t{steps}\t{spec.get('description', '')}")
        return 0
    return run(args)


def run(args) -> int:
    spec = find_system(args.name)
    system = build_system(spec, pairs(args.model, "--model"))
    item = pairs(args.text, "--text")
    if args.image:
        item["image"] = Image.open(args.image)
    if args.audio:
        item["audio"] = Audio.open(args.audio)
    missing = [name for name in system.inputs if name not in item]
    if missing:
        raise InputError(f"system {system.name!r} needs {', '.join(missing)} (--image, --audio or --text NAME=...)")
    result = system.run([item])[0]
    if result.error:
        raise SystemStepError(result.error)
    shown = {}
    for name, value in result.outputs.items():
        if isinstance(value, Audio):
            if not args.out:
                raise InputError(f"system {system.name!r} gives audio ({name}): pass --out FILE.wav")
            save_wav(value, Path(args.out))
            shown[name] = args.out
        else:
            shown[name] = value
    if args.trace:
        shown["trace"] = [{"step": step, **{k: v if isinstance(v, (str, list)) else type(v).__name__
                                            for k, v in out.items()}} for step, out in result.trace]
    print(json.dumps(shown) if args.json else "\n".join(f"{k}: {v}" for k, v in shown.items()))
    return 0


def compare(args) -> int:
    """`polymodal compare --task vqa --model M --system S --data D`."""
    chain = load_system(args.system, pairs(args.system_model, "--system-model"))
    examples, manifest = vqa.load_examples(args.data, args.seed, args.n, parse_column_map(args.column),
                                           args.on_bad_rows, spoken="audio" in chain.inputs)
    report_bad_rows(manifest, args.out)
    report = harness.compare(args.model, chain, examples, harness.references(args.data, args.seed, args.n),
                             {"spec": args.data, "seed": args.seed, "n": args.n})
    table = harness.markdown(report, "polymodal " + " ".join(sys.argv[1:]), describe_machine())
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        files.save_json(report, out / "compare.json")
        files.save_text(table, out / "compare.md")
    print(json.dumps(report, indent=2) if args.json else table)
    return 0
