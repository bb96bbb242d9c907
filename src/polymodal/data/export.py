"""Write the embedded world to disk: PNGs (MP4s for `motion`) plus a manifest.jsonl (the columns
docs/data.md describes)."""
from __future__ import annotations

from pathlib import Path

from PIL import Image as PILImage

from ..core.errors import InputError
from ..core.files import atomic_write
from ..modalities import Audio, Video
from .manifest import write_manifest
from .motion_preset import AUDIO_RATE, FPS, Clip
from .world import PRESETS, scene_rng, shapes

CLIP_CRF = 10           # H.264 quality of exported clips: near-lossless, so colours and edges survive


def export_shapes(preset: str, split: str, seed: int, n: int, out: Path, image_format: str = "png",
                  jpeg_quality: int = 90, spoken: bool = False, noise_snr: float | None = None) -> Path:
    """image_format "jpg" stores lossy copies: the same scenes stored differently, to check
    that a model does not depend on exact pixel values. spoken: each scene's questions (or
    caption) also as 16 kHz WAVs in the split's voices (audio + transcript + voice columns),
    with white noise at `noise_snr` dB when given."""
    scenes = shapes(preset, split, seed, n)          # validates preset and split first
    if preset == "motion" and image_format != "png":
        raise InputError(f"--image-format {image_format}: the motion preset writes MP4 clips, not images")
    rows = []
    for i, scene in enumerate(scenes):
        if isinstance(scene, Clip):
            name = f"videos/{split}-{seed}-{i:06d}.mp4"
            save_clip(scene, out / name)
        else:
            name = f"images/{split}-{seed}-{i:06d}.{image_format}"
            options = {"quality": jpeg_quality} if image_format == "jpg" else {}
            (out / "images").mkdir(parents=True, exist_ok=True)
            PILImage.fromarray(scene.image).save(out / name, **options)
        scene_rows = PRESETS[preset].rows(scene, name)
        if spoken:
            speak_rows(scene_rows, PRESETS[preset].SPOKEN_COLUMN, out, f"{split}-{seed}-{i:06d}",
                       scene_rng(preset, f"{split}/spoken", seed, i), split, noise_snr)
        rows += scene_rows
    return write_manifest(rows, out / "manifest.jsonl")


def save_clip(clip: Clip, path: Path) -> None:
    """A `motion` clip as an MP4 with its sound track (written atomically)."""
    audio = Audio(clip.audio, AUDIO_RATE) if clip.audio is not None else None
    times = [i / FPS for i in range(len(clip.frames))]
    Video(clip.frames, times, FPS, clip.duration, audio).save(path, crf=CLIP_CRF)


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
