"""`polymodal system list | run`."""
from __future__ import annotations

import json
from pathlib import Path

from ..errors import InputError


def system(args) -> int:
    from ..systems.definition import builtin_systems
    if args.system_command == "list":
        for name, spec in builtin_systems().items():
            steps = " -> ".join(s["step"] for s in spec["steps"])
            print(f"{name}\t{steps}\t{spec.get('description', '')}")
        return 0
    return run(args)


def pairs(values, what: str) -> dict[str, str]:
    out = {}
    for v in values or []:
        key, sep, value = v.partition("=")
        if not sep or not key:
            raise InputError(f"{what} {v!r}: expected NAME=VALUE")
        out[key.strip()] = value
    return out


def run(args) -> int:
    from ..modalities import Audio, Image
    from ..systems import SystemStepError
    from ..systems.definition import build_system, find_system
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
            from .speech import save_wav
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
    import platform
    import sys

    import torch

    from .. import checkpoint
    from ..data.manifest import parse_column_map, report_bad_rows
    from ..systems import compare as harness
    from ..systems.definition import load_system
    from ..tasks import vqa
    chain = load_system(args.system, pairs(args.system_model, "--system-model"))
    examples, manifest = vqa.load_examples(args.data, args.seed, args.n, parse_column_map(args.column),
                                           args.on_bad_rows, spoken="audio" in chain.inputs)
    report_bad_rows(manifest, args.out)
    report = harness.compare(args.model, chain, examples, harness.references(args.data, args.seed, args.n),
                             {"spec": args.data, "seed": args.seed, "n": args.n})
    machine = f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads, " + (
        torch.cuda.get_device_name() if torch.cuda.is_available() else "CPU")
    table = harness.markdown(report, "polymodal " + " ".join(sys.argv[1:]), machine)
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        checkpoint.save_json(report, out / "compare.json")
        checkpoint.save_text(table, out / "compare.md")
    print(json.dumps(report, indent=2) if args.json else table)
    return 0
