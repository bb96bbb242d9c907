"""Write the embedded world to disk: PNGs plus a manifest.jsonl (the columns docs/data.md describes)."""
from __future__ import annotations

from pathlib import Path

from PIL import Image as PILImage

from ..core.files import atomic_write
from .manifest import write_manifest
from .world import PRESETS, scene_rng, shapes


def export_shapes(preset: str, split: str, seed: int, n: int, out: Path, image_format: str = "png",
                  jpeg_quality: int = 90, spoken: bool = False, noise_snr: float | None = None) -> Path:
    """image_format "jpg" stores lossy copies: the same scenes stored differently, to check
    that a model does not depend on exact pixel values. spoken: each scene's questions (or
    caption) also as 16 kHz WAVs in the split's voices (audio + transcript + voice columns),
    with white noise at `noise_snr` dB when given."""
    scenes = shapes(preset, split, seed, n)          # validates preset and split first
    (out / "images").mkdir(parents=True, exist_ok=True)
    rows = []
    for i, scene in enumerate(scenes):
        name = f"images/{split}-{seed}-{i:06d}.{image_format}"
        options = {"quality": jpeg_quality} if image_format == "jpg" else {}
        PILImage.fromarray(scene.image).save(out / name, **options)
        scene_rows = PRESETS[preset].rows(scene, name)
        if spoken:
            speak_rows(scene_rows, PRESETS[preset].SPOKEN_COLUMN, out, f"{split}-{seed}-{i:06d}",
                       scene_rng(preset, f"{split}/spoken", seed, i), split, noise_snr)
        rows += scene_rows
    return write_manifest(rows, out / "manifest.jsonl")


def speak_rows(rows: list[dict], column: str, out: Path, stem: str, rng, split: str, noise_snr) -> None:
    """Speak each distinct text of `column` once; every row with that text gets the WAV."""
    import soundfile as sf

    from .spoken.synthesis import (  # (eSpeak and torch: only a spoken export needs them)
        RATE,
        spoken,
    )
    (out / "audio").mkdir(exist_ok=True)
    done: dict[str, tuple[str, str]] = {}
    for row in rows:
        text = row[column]
        if text not in done:
            wave, voice = spoken(text, split, rng, noise_snr)
            name = f"audio/{stem}-{len(done):02d}.wav"
            atomic_write(out / name, lambda tmp, w=wave: sf.write(tmp, w, RATE, subtype="PCM_16", format="WAV"))
            done[text] = (name, voice.label())
        row["audio"], row["voice"] = done[text]
        row["transcript"] = text
