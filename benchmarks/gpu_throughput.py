"""GPU throughput of the three workloads of issue 8, plain against polymodal's fast path
(polymodal/inference/fast_path.py: bf16 weights, SDPA attention, torch.compile, static KV cache for
generation), with random weights of the real shapes (speed does not depend on the values):

- image embedding: a CLIP ViT-B/16 image tower at 224 px -> images/s
- captioning: ViT-B/16 encoder + GPT-2 small decoder, 20 greedy tokens -> images/s
- recognition: Whisper-base on 30 s clips, 30 tokens -> audio seconds/s

    python benchmarks/gpu_throughput.py                  # on a GPU machine
    python benchmarks/gpu_throughput.py --tiny --device cpu   # a smoke run of the same code

Writes benchmarks/results/gpu_throughput.{json,md} (a --tiny run only prints). Each variant
that fails (an old driver, a compile error) is reported with its error; the others still run.
"""
from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
from polymodal.hf.loading import quiet  # noqa: E402
from polymodal.inference.fast_path import FastPath, prepare  # noqa: E402

RESULTS = Path(__file__).parent / "results"


def sizes(tiny: bool) -> dict:
    """Model shapes: the real ones, or small ones for a smoke run on a CPU."""
    if tiny:
        return {"vit": dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
                            image_size=32, patch_size=16),
                "gpt2": dict(n_embd=32, n_layer=2, n_head=2, vocab_size=100),
                "whisper": dict(d_model=32, encoder_layers=1, decoder_layers=1, encoder_attention_heads=2,
                                decoder_attention_heads=2, encoder_ffn_dim=64, decoder_ffn_dim=64, vocab_size=100,
                                num_mel_bins=80, max_source_positions=1500),
                "batches": {"embed": [4], "caption": [4], "transcribe": [2]}, "repeats": 1}
    return {"vit": dict(hidden_size=768, num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072,
                        image_size=224, patch_size=16),
            "gpt2": dict(n_embd=768, n_layer=12, n_head=12, vocab_size=50257),
            "whisper": dict(d_model=512, encoder_layers=6, decoder_layers=6, encoder_attention_heads=8,
                            decoder_attention_heads=8, encoder_ffn_dim=2048, decoder_ffn_dim=2048,
                            vocab_size=51865, num_mel_bins=80, max_source_positions=1500),
            "batches": {"embed": [256, 512], "caption": [64, 256], "transcribe": [32, 128]}, "repeats": 5}


def clip_tower(s: dict, attention: str):
    from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection
    config = CLIPVisionConfig(**s["vit"], projection_dim=512)
    return CLIPVisionModelWithProjection._from_config(config, attn_implementation=attention)


def captioner(s: dict, attention: str):
    from transformers import (
        GPT2Config,
        VisionEncoderDecoderConfig,
        VisionEncoderDecoderModel,
        ViTConfig,
    )
    encoder = ViTConfig(**s["vit"])
    decoder = GPT2Config(**s["gpt2"], add_cross_attention=True, is_decoder=True, bos_token_id=0, eos_token_id=1)
    config = VisionEncoderDecoderConfig.from_encoder_decoder_configs(encoder, decoder)
    config.decoder_start_token_id, config.pad_token_id, config.eos_token_id = 0, 1, 1
    return VisionEncoderDecoderModel._from_config(config, attn_implementation=attention)


def whisper(s: dict, attention: str):
    from transformers import WhisperConfig, WhisperForConditionalGeneration
    config = WhisperConfig(**s["whisper"], decoder_start_token_id=0, pad_token_id=1, eos_token_id=1,
                           bos_token_id=0, begin_suppress_tokens=None, suppress_tokens=None)
    return WhisperForConditionalGeneration._from_config(config, attn_implementation=attention)


def timed(fn, repeats: int, device: str) -> float:
    """Seconds per call, after two warm-up calls (compilation, allocator, cudnn)."""
    for _ in range(2):
        fn()
    if device == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    if device == "cuda":
        torch.cuda.synchronize()
    return (time.perf_counter() - start) / repeats


def workload(name: str, s: dict, batch: int, path: FastPath, device: str):
    """(a callable that runs one batch, items per batch in the unit reported)."""
    dtype = path.torch_dtype
    if name == "embed":
        model = prepare(clip_tower(s, path.attention), path)
        pixels = torch.randn(batch, 3, s["vit"]["image_size"], s["vit"]["image_size"], device=device, dtype=dtype)
        return (lambda: model(pixel_values=pixels).image_embeds), batch
    if name == "caption":
        model = prepare(captioner(s, path.attention), path)
        pixels = torch.randn(batch, 3, s["vit"]["image_size"], s["vit"]["image_size"], device=device, dtype=dtype)
        kwargs = dict(max_new_tokens=20, min_new_tokens=20, do_sample=False, num_beams=1, **path.generate_options())
        return (lambda: model.generate(pixel_values=pixels, **kwargs)), batch
    model = prepare(whisper(s, path.attention), path)
    features = torch.randn(batch, 80, 3000, device=device, dtype=dtype)
    kwargs = dict(max_new_tokens=30, min_new_tokens=30, do_sample=False, num_beams=1, **path.generate_options())
    return (lambda: model.generate(input_features=features, **kwargs)), batch * 30      # audio seconds


VARIANTS = {
    "plain (fp32, eager attention)": dict(dtype="fp32", attention="eager"),
    "bf16 + SDPA": dict(dtype="bf16", attention="sdpa"),
    "bf16 + SDPA + compile (+ static KV cache)": dict(dtype="bf16", attention="sdpa", compile=True, static_cache=True),
}
UNITS = {"embed": "images/s", "caption": "images/s", "transcribe": "audio s/s"}


def write(rows: list[dict], command: str, device: str) -> None:
    report = {"command": command, "device": device, "torch": torch.__version__, "rows": rows}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "gpu_throughput.json").write_text(json.dumps(report, indent=2) + "\n")
    table = "\n".join(f"| {r['workload']} | {r['batch']} | {r['variant']} | "
                      f"{r.get('throughput', 'failed: ' + r.get('error', ''))} {r.get('unit', '')} |" for r in rows)
    (RESULTS / "gpu_throughput.md").write_text(
        f"# Inference throughput\n\n`{command}` on {device}, torch {torch.__version__}; random weights of the real "
        f"shapes.\n\n| workload | batch | variant | throughput |\n|---|---|---|---|\n{table}\n")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--tiny", action="store_true", help="small models: a smoke run of this script")
    parser.add_argument("--only", choices=tuple(UNITS), action="append", help="run only these workloads")
    args = parser.parse_args()
    s = sizes(args.tiny)
    rows = []
    for name in args.only or UNITS:
        for batch in s["batches"][name]:
            for label, options in VARIANTS.items():
                path = FastPath(device=args.device, **options)
                try:
                    with torch.inference_mode(), quiet():
                        fn, items = workload(name, s, batch, path, args.device)
                        seconds = timed(fn, s["repeats"], args.device)
                    rows.append({"workload": name, "batch": batch, "variant": label,
                                 "throughput": round(items / seconds, 1), "unit": UNITS[name]})
                except Exception as e:          # noqa: BLE001  (reported; the other variants still run)
                    rows.append({"workload": name, "batch": batch, "variant": label, "error": repr(e)[:300]})
                print(json.dumps(rows[-1]), file=sys.stderr)
                if args.device == "cuda":
                    torch.cuda.empty_cache()
    device = torch.cuda.get_device_name() if args.device == "cuda" else f"{platform.machine()} CPU"
    command = "python benchmarks/gpu_throughput.py" + (" --tiny" if args.tiny else "") + f" --device {args.device}"
    if not args.tiny:
        write(rows, command, device)
    return 0 if all("throughput" in r for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
