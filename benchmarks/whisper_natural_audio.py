"""Recognition agreement on audio polymodal did not make: recordings read from files (any
rate, channel count and format polymodal opens), through the transformers ASR pipeline in fp32
(the reference) and in bf16, and polymodal in fp32, bf16, int8 and int8-bf16, on the Whisper-base-shaped folder
of vs_pipelines.py (random weights of the real shapes, the published checkpoints' prompt form)
and greedy decoding.

The side-by-side's utterances are the spoken world's; these come from elsewhere, at other
rates and lengths. Each file is opened and resampled to 16 kHz once, by polymodal
(`Audio.open`, `Audio.resampled`), and both tools get that waveform: what is compared is
feature extraction, the models' numerics and decoding, not resampling (the pipeline would
resample with torchaudio, which does not install beside this torch).

    python benchmarks/whisper_natural_audio.py AUDIO_OR_FOLDER... -> benchmarks/results/whisper_natural_audio.{md,json}
"""
from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import torch
from natural_inputs import files_among, judge_parser, polymodal_paths, refusals
from results_files import write_results

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))
SUFFIXES = (".wav", ".flac", ".ogg", ".mp3", ".aiff", ".au")
RATE = 16000
NEW_TOKENS = 30          # as vs_pipelines.py's recognition rows


def main() -> int:
    parser = judge_parser(__doc__, "audio", spread=0.1)
    args = parser.parse_args()
    from real_shapes import build, limit_new_tokens
    from transformers import pipeline
    from vs_pipelines import same

    from polymodal.core.errors import InputError
    from polymodal.modalities import Audio
    files, opened, skipped = [], [], []
    for path in files_among(args.inputs, SUFFIXES):
        try:                                 # what polymodal refuses (too short, unreadable) is listed
            opened.append(Audio.open(path))
            files.append(path)
        except InputError as e:
            skipped.append(str(e))
    if not files:
        parser.error(f"no {', '.join(SUFFIXES)} file among the inputs that polymodal opens: {'; '.join(skipped)}")
    heard = [a.resampled(RATE) for a in opened]
    with tempfile.TemporaryDirectory() as tmp:
        folder = build("whisper", Path(tmp) / "whisper", spread=args.spread)
        limit_new_tokens(folder, NEW_TOKENS)
        outputs = {}
        for precision, dtype in (("fp32", torch.float32), ("bf16", torch.bfloat16)):
            pipe = pipeline("automatic-speech-recognition", model=str(folder), dtype=dtype)
            for batch in (args.batch, 1) if precision == "fp32" else (args.batch,):
                # at batch 1 too in fp32: the reference against itself (is the judge stable?)
                rows = pipe([{"raw": a.waveform, "sampling_rate": RATE} for a in heard], batch_size=batch,
                            generate_kwargs={"num_beams": 1})
                name = f"pipeline {precision}" + ("" if batch == args.batch else ", batch 1")
                outputs[name] = [row["text"].strip() for row in rows]
        ours, refused = polymodal_paths("transcribe", folder,
                                        lambda loaded: [t.text for t in loaded.batch(heard, batch_size=args.batch)])
        outputs.update(ours)
    reference = outputs["pipeline fp32"]
    rows = [{"path": name, **same("transcribe", reference, out)} for name, out in outputs.items()
            if name != "pipeline fp32"]
    rows.append({"path": "polymodal bf16 against pipeline bf16",
                 **same("transcribe", outputs["pipeline bf16"], outputs["polymodal bf16"])})
    table = ["| path | same transcript as the fp32 pipeline |", "|---|---|"]
    table += [f"| {r['path']} | {r['agree']}/{len(files)} |" for r in rows]
    recordings = ", ".join(f"{p.name} ({a.rate} Hz, {a.duration:.2f} s)" for p, a in zip(files, opened))
    command = "python benchmarks/whisper_natural_audio.py " + " ".join(args.inputs)
    write_results("whisper_natural_audio", command, "Recognition agreement on audio polymodal did not make",
                  f". {len(files)} recordings: {recordings}; greedy, at most {NEW_TOKENS} new tokens, "
                  f"batch {args.batch}; the fp32 pipeline's transcripts: {len(set(reference))} distinct "
                  f"(random weights of std {args.spread}: a judge of agreement, not of accuracy)."
                  + (f" Not opened: {'; '.join(skipped)}." if skipped else "") + refusals(refused), table, rows)
    print("\n".join(table))
    fp32 = next(r for r in rows if r["path"] == "polymodal fp32")          # must give the reference's outputs
    return 0 if fp32["identical"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
