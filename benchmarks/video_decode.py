"""Decoding speed of Video.open on this CPU: frames per second for H.264 clips of 64x64 (the
motion world's size) and 224x224 (a video model's usual input), decoding every frame and
picking 16 of them (Video.open(frames=16), which still decodes each frame: H.264 frames depend
on each other), with PyAV's own threading.

    python benchmarks/video_decode.py                   # 8 clips of 10 s at 25 fps each size
    python benchmarks/video_decode.py --clips 4 --seconds 5

The clips are made here (moving noise blocks, so the encoder cannot skip them); the median
of `--repeats` timed passes over all clips is reported. Writes
benchmarks/results/video_decode.{json,md}.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from polymodal.modalities import Video

RESULTS = Path(__file__).parent / "results"
FPS = 25


def make_clip(path: Path, side: int, seconds: float, seed: int) -> None:
    """A clip of moving textured blocks: each frame differs, as in real footage."""
    rng = np.random.default_rng(seed)
    texture = rng.integers(0, 256, (side * 2, side * 2, 3), dtype=np.uint8)
    frames = np.stack([np.roll(texture, (t * 3, t * 2), axis=(0, 1))[:side, :side] for t in range(int(seconds * FPS))])
    Video.open(frames, rate=FPS).save(path, crf=23)


def timed_pass(paths: list[Path], **options) -> tuple[float, int]:
    start = time.perf_counter()
    kept = sum(len(Video.open(p, audio=False, **options)) for p in paths)
    return time.perf_counter() - start, kept


def measure(side: int, clips: int, seconds: float, repeats: int, folder: Path) -> dict:
    paths = [folder / f"{side}-{i}.mp4" for i in range(clips)]
    for i, p in enumerate(paths):
        make_clip(p, side, seconds, i)
    decoded = clips * int(seconds * FPS)
    row = {"side": side, "clips": clips, "seconds": seconds, "frames_decoded": decoded,
           "mb_per_clip": round(sum(p.stat().st_size for p in paths) / clips / 2**20, 3)}
    for name, options in (("all frames", {}), ("16 frames picked", {"frames": 16})):
        times = [timed_pass(paths, **options)[0] for _ in range(repeats)]
        t = statistics.median(times)
        row[name] = {"seconds": round(t, 3), "decoded_frames_per_s": round(decoded / t, 1),
                     "clips_per_s": round(clips / t, 2)}
    return row


def markdown(rows: list[dict], settings: dict) -> str:
    lines = ["| clip | decoded frames/s (all kept) | clips/s (all kept) | decoded frames/s (16 picked) | "
             "clips/s (16 picked) | MB per clip |", "|---|---|---|---|---|---|"]
    for r in rows:
        a, p = r["all frames"], r["16 frames picked"]
        lines.append(f"| {r['side']}x{r['side']}, {r['seconds']:g} s at {FPS} fps | {a['decoded_frames_per_s']:,.0f} | "
                     f"{a['clips_per_s']:.2f} | {p['decoded_frames_per_s']:,.0f} | {p['clips_per_s']:.2f} | "
                     f"{r['mb_per_clip']} |")
    lines.append("")
    lines.append(f"H.264 (CRF 23) clips decoded by PyAV {settings['pyav']} (FFmpeg bundled in its wheel) through "
                 f"`Video.open`, RGB out; median of {settings['repeats']} passes. Command: `{settings['command']}`; "
                 f"machine: {settings['machine']}.")
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clips", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    import av
    settings = {"pyav": av.__version__, "repeats": args.repeats,
                "machine": f"{platform.machine()}, {os.cpu_count()} cores, torch threads {torch.get_num_threads()}",
                "command": f"python benchmarks/video_decode.py --clips {args.clips} --seconds {args.seconds:g} "
                           f"--repeats {args.repeats}"}
    with tempfile.TemporaryDirectory() as folder:
        rows = [measure(side, args.clips, args.seconds, args.repeats, Path(folder)) for side in (64, 224)]
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "video_decode.json").write_text(json.dumps({"settings": settings, "rows": rows}, indent=2) + "\n")
    (args.out / "video_decode.md").write_text(markdown(rows, settings))
    print(markdown(rows, settings))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
