"""Each of polymodal's own changes to how a Hugging Face model runs, measured against its
absence in the same process, on random weights of the real shapes (benchmarks/real_shapes.py):

- BLIP-base captioning, 20 new tokens: polymodal's greedy loop (hf/blip_greedy.py) against
  transformers' generate, on the same adapter (SDPA vision attention and folded
  cross-attention in both), so the difference is the decoding loop alone;
- BLIP-base captioning in bf16: the vision attention as grouped convolutions with shifted
  scores (hf/conv_attention.py), against torch's fused kernel, on the same adapter (on a CPU
  with AMX or without native bf16 both sides run the fused kernel; the row says so); and
  those convolutions' row shifts from a bound where it is tight, against the row maxima found
  by a product in every call;
- BLIP-base captioning and Whisper-base recognition (30 new tokens): the decoder's linear
  layers packed once (hf/packed_linear.py), as pm.load does on a CPU, against the same
  adapter loaded a second time and left unpacked;
- BLIP-base captioning and Whisper-base recognition: the vision tower's and the encoder's
  linear layers packed too (HFAdapter.encoder_linears), against the decoder's alone;
- Whisper-base recognition: the encoder's MLP a few windows at a time (hf/fast_layers.py,
  chunked_encoder_layer), against the whole batch at once; the decoder's cross-attention
  folded (folded_attention), against keys and values projected; in bf16, the encoder stem's
  convolutions as products (conv1d_as_product), against oneDNN's, and the encoder's
  self-attention as shifted convolutions, against the fused kernel; polymodal's greedy loop
  (hf/whisper_greedy.py), against Whisper's generate; each on the same adapter;
- CLIP ViT-B/32 image features (hf/native_clip.py): the last layer computed for the class
  token only, quick_gelu through the scales of the two MLP products, and the patch
  convolution as one product; each switched off. And the image tower packed
  (VisionTower.pack: one query-key-value product, quick_gelu fused into the first MLP
  product), against the same tower loaded a second time and left unpacked, with the seconds
  the packing takes at loading.

Each precision as polymodal runs it: fp32, and bf16 (weights held in bf16, under autocast).
Median of --runs calls, alternating with and without, after one untimed call of each; the
outputs are compared (the same captions; the largest feature difference).

    python benchmarks/engineering_ablations.py [--runs 5] [--batch 8] [--precisions fp32] [--name NAME]
        -> benchmarks/results/engineering_ablations.{md,json} (or NAME.{md,json})
"""
from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import math
import statistics
import sys
import tempfile
import time
import types
from pathlib import Path

import numpy as np
import torch
from results_files import add_name_option, name_flag, write_results

HERE = Path(__file__).resolve().parent
DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}     # --precisions


def timed(calls: dict, runs: int) -> dict:
    """name -> zero-argument call; -> name -> (median seconds, last output), alternating."""
    outputs = {name: call() for name, call in calls.items()}          # untimed: kernels, caches
    seconds = {name: [] for name in calls}
    for _ in range(runs):
        for name, call in calls.items():
            start = time.perf_counter()
            outputs[name] = call()
            seconds[name].append(time.perf_counter() - start)
    return {name: (statistics.median(seconds[name]), outputs[name]) for name in calls}


def autocast_in(dtype: torch.dtype):
    """Autocast to dtype where it is not fp32, as polymodal runs a lower precision (with the
    weights held in it too)."""
    if dtype == torch.float32:
        return contextlib.nullcontext()
    return torch.autocast("cpu", dtype=dtype)


def caption_rows(folder: Path, batch: int, runs: int, dtypes: tuple[torch.dtype, ...]) -> list[dict]:
    from polymodal.hf.vision import HFCaptioner
    from polymodal.loading import load_model
    adapter = load_model(str(folder))
    images = [np.random.default_rng(i).integers(0, 256, (128, 128, 3), dtype=np.uint8) for i in range(batch)]
    pixels = adapter.preprocess({"image": images})["image"]
    rows = []
    for dtype in dtypes:
        if dtype != torch.float32:
            adapter.hold_weights_in(dtype)
        with torch.no_grad(), autocast_in(dtype):
            result = timed({"with": lambda: adapter.generate(pixels, max_length=20),
                            "without": lambda: HFCaptioner.generate(adapter, pixels, max_length=20)}, runs)
        same = [c.text for c in result["with"][1]] == [c.text for c in result["without"][1]]
        rows.append(row("BLIP captioning: polymodal's greedy loop (vs transformers' generate)", dtype, batch,
                        result, f"{'the same' if same else 'different'} captions"))
    return rows


def blip_attention_rows(folder: Path, batch: int, runs: int, dtypes: tuple[torch.dtype, ...]) -> list[dict]:
    from polymodal.hf import conv_attention, fast_layers
    from polymodal.loading import load_model
    if torch.bfloat16 not in dtypes:
        return []
    adapter = load_model(str(folder))
    adapter.hold_weights_in(torch.bfloat16)
    images = [np.random.default_rng(i).integers(0, 256, (128, 128, 3), dtype=np.uint8) for i in range(batch)]
    pixels = adapter.preprocess({"image": images})["image"]

    def captions() -> list[str]:
        return [c.text for c in adapter.generate(pixels, max_length=20)]

    def switched_off(module, name: str, value) -> list[str]:
        kept = getattr(module, name)
        setattr(module, name, value)
        try:
            return captions()
        finally:
            setattr(module, name, kept)
    # switched off: the fused kernel; the convolutions with every call's row maxima found by a
    # product (a WINDOW of -inf flags every call's bound as loose)
    changes = {"vision attention as shifted convolutions (vs the fused kernel)":
               (fast_layers, "conv_attention_pays", lambda *args: False),
               "the convolutions' shifts from a bound where it is tight (vs the row maxima by a product)":
               (conv_attention, "WINDOW", -math.inf)}
    rows = []
    for text, change in changes.items():
        with torch.no_grad(), autocast_in(torch.bfloat16):
            result = timed({"with": captions, "without": lambda change=change: switched_off(*change)}, runs)
        outputs = f"{'the same' if result['with'][1] == result['without'][1] else 'different'} captions"
        if not conv_attention.native_bf16_without_amx():
            outputs += "; not taken on this CPU (AMX, or no native bf16): the fused kernel both ways"
        rows.append(row(f"BLIP captioning: {text}", torch.bfloat16, batch, result, outputs))
    return rows


def with_and_without(changed, unchanged, inputs: list, batch: int) -> dict:
    """{"with": ..., "without": ...}: each adapter's captions of the images (BLIP, 20 tokens) or
    transcripts of the audios (Whisper), as a zero-argument call for `timed`."""
    if isinstance(inputs[0], np.ndarray):
        pixels = changed.preprocess({"image": inputs})["image"]
        return {key: lambda a=a: [c.text for c in a.generate(pixels, max_length=20)]
                for key, a in (("with", changed), ("without", unchanged))}
    return {key: lambda a=a: [t.text for t in a.transcribe_audios(inputs, batch_size=batch)]
            for key, a in (("with", changed), ("without", unchanged))}


def packing_rows(blip: Path, whisper: Path, batch: int, runs: int, dtypes: tuple[torch.dtype, ...]) -> list[dict]:
    from polymodal.data.spoken.sentences import utterances
    from polymodal.data.spoken.synthesis import RATE, speak
    from polymodal.hf.packed_linear import pack_linears
    from polymodal.loading import load_model
    from polymodal.modalities import Audio
    images = [np.random.default_rng(i).integers(0, 256, (128, 128, 3), dtype=np.uint8) for i in range(batch)]
    audios = [Audio(speak(u.text, u.voice).astype("float32"), RATE) for u in utterances("test", 7, batch)]
    rows = []
    for name, folder in (("BLIP captioning", blip), ("Whisper recognition", whisper)):
        for dtype in dtypes:
            packed, plain = load_model(str(folder)), load_model(str(folder))
            for adapter in (packed, plain):
                if dtype != torch.float32:
                    adapter.hold_weights_in(dtype)
            pack_linears(packed.model, packed.per_token_linears())
            calls = with_and_without(packed, plain, images if name.startswith("BLIP") else audios, batch)
            with torch.no_grad(), autocast_in(dtype):
                result = timed(calls, runs)
            same = result["with"][1] == result["without"][1]
            rows.append(row(f"{name}: decoder linear layers packed once", dtype, batch, result,
                            f"{'the same' if same else 'different'} {'captions' if 'BLIP' in name else 'transcripts'}"))
    return rows


def encoder_packing_rows(blip: Path, whisper: Path, batch: int, runs: int, dtypes: tuple[torch.dtype, ...]) -> list[dict]:
    """BLIP's vision tower and Whisper's encoder packed (HFAdapter.encoder_linears), against
    the same adapter loaded a second time with its decoder packed alone, in each precision."""
    from polymodal.data.spoken.sentences import utterances
    from polymodal.data.spoken.synthesis import RATE, speak
    from polymodal.hf.packed_linear import pack_linears
    from polymodal.loading import load_model
    from polymodal.modalities import Audio
    images = [np.random.default_rng(i).integers(0, 256, (128, 128, 3), dtype=np.uint8) for i in range(batch)]
    audios = [Audio(speak(u.text, u.voice).astype("float32"), RATE) for u in utterances("test", 7, batch)]
    rows = []
    for dtype, (name, folder) in itertools.product(dtypes,
                                                   (("BLIP captioning", blip), ("Whisper recognition", whisper))):
        packed, plain = load_model(str(folder)), load_model(str(folder))
        for adapter in (packed, plain):
            adapter.hold_weights_in(dtype)
            pack_linears(adapter.model, adapter.per_token_linears())
        pack_linears(packed.model, packed.encoder_linears())
        calls = with_and_without(packed, plain, images if name.startswith("BLIP") else audios, batch)
        with torch.no_grad(), autocast_in(dtype):
            result = timed(calls, runs)
        same = result["with"][1] == result["without"][1]
        rows.append(row(f"{name}: {'vision tower' if 'BLIP' in name else 'encoder'} linear layers packed", dtype,
                        batch, result, f"{'the same' if same else 'different'} "
                                       f"{'captions' if 'BLIP' in name else 'transcripts'}"))
    return rows


def whisper_layer_rows(whisper: Path, batch: int, runs: int, dtypes: tuple[torch.dtype, ...]) -> list[dict]:
    """Whisper's encoder MLP in chunks, its folded cross-attention, (bf16) its stem's
    convolutions as products and its self-attention as convolutions (hf/fast_layers.py) and
    polymodal's greedy loop (hf/whisper_greedy.py), each switched off on the same adapter: the
    whole batch's MLP at once; keys and values projected; oneDNN's convolutions; the fused
    kernel; Whisper's generate."""
    from polymodal.data.spoken.sentences import utterances
    from polymodal.data.spoken.synthesis import RATE, speak
    from polymodal.hf import conv_attention, fast_layers, whisper_greedy
    from polymodal.loading import load_model
    from polymodal.modalities import Audio
    audios = [Audio(speak(u.text, u.voice).astype("float32"), RATE) for u in utterances("test", 7, batch)]
    adapter, rows = load_model(str(whisper)), []
    convs = (adapter.model.get_encoder().conv1, adapter.model.get_encoder().conv2)

    @contextlib.contextmanager
    def without(change: str):
        if change == "stem":
            for conv in convs:
                conv.forward = conv.eager_forward
        elif change == "loop":
            monkey = whisper_greedy.serves
            whisper_greedy.serves = lambda model, new_tokens: False
        else:
            kept = getattr(fast_layers, change)
            setattr(fast_layers, change, off[change])
        try:
            yield
        finally:
            if change == "stem":
                for conv in convs:
                    conv.forward = types.MethodType(fast_layers.conv1d_as_product, conv)
            elif change == "loop":
                whisper_greedy.serves = monkey
            else:
                setattr(fast_layers, change, kept)

    def transcripts() -> list[str]:
        return [t.text for t in adapter.transcribe_audios(audios, batch_size=batch)]

    def switched_off(change: str) -> list[str]:
        with without(change):
            return transcripts()

    # what fast_layers' name is set to for "without": a chunk no batch fills, folding from no
    # batch, the convolution form of attention nowhere
    off = {"CHUNK_BYTES": 2 ** 62, "fold_from": lambda encoder, reduced=3: 2 ** 62,
           "conv_attention_pays": lambda *args: False}
    changes = {"CHUNK_BYTES": "encoder MLP a few windows at a time", "fold_from": "cross-attention folded",
               "stem": "encoder stem's convolutions as products",
               "conv_attention_pays": "encoder attention as shifted convolutions (vs the fused kernel)",
               "loop": "polymodal's greedy loop (vs Whisper's generate)"}
    lower_only = ("stem", "conv_attention_pays")       # fp32 runs oneDNN's convolutions and the fused kernel
    for dtype in dtypes:
        if dtype != torch.float32:
            adapter.hold_weights_in(dtype)
        for change, text in changes.items():
            if change in lower_only and dtype == torch.float32:
                continue
            with torch.no_grad(), autocast_in(dtype):
                result = timed({"with": transcripts, "without": lambda c=change: switched_off(c)}, runs)
            outputs = f"{'the same' if result['with'][1] == result['without'][1] else 'different'} transcripts"
            if change == "conv_attention_pays" and not conv_attention.native_bf16_without_amx():
                outputs += "; not taken on this CPU (AMX, or no native bf16): the fused kernel both ways"
            rows.append(row(f"Whisper recognition: {text}", dtype, batch, result, outputs))
    return rows


@contextlib.contextmanager
def switched_off(change: str):
    """The CLIP tower without one of its changes, for the length of the block."""
    from polymodal.hf import native_clip
    if change == "class token only":
        saved = native_clip.VisionTower.forward

        def every_token(self, pixels):
            return self.post_layernorm(self.encoder(self.pre_layrnorm(self.embeddings(pixels)))[:, 0])
        native_clip.VisionTower.forward = every_token
    elif change == "patch convolution as one product":
        saved = native_clip.VisionEmbeddings.forward

        def convolution(self, pixels):
            patches = self.patch_embedding(pixels.to(self.patch_embedding.weight.dtype)).flatten(2).transpose(1, 2)
            return torch.cat([self.class_embedding.expand(len(pixels), 1, -1), patches], 1) + \
                self.position_embedding.weight
        native_clip.VisionEmbeddings.forward = convolution
    else:
        saved = native_clip.MLP.forward

        def three_passes(self, x):
            return self.fc2(native_clip.ACTIVATIONS[self.act_name](self.fc1(x)))
        native_clip.MLP.forward = three_passes
    owner = {"class token only": native_clip.VisionTower,
             "patch convolution as one product": native_clip.VisionEmbeddings}.get(change, native_clip.MLP)
    try:
        yield
    finally:
        owner.forward = saved


def clip_rows(folder: Path, batch: int, runs: int, dtypes: tuple[torch.dtype, ...]) -> list[dict]:
    from polymodal.hf import native_clip
    model, _, _ = native_clip.load(folder)
    model.eval()
    side = model.source_config.get("vision_config", {}).get("image_size", 224)
    pixels = torch.randn(batch, 3, side, side, generator=torch.Generator().manual_seed(0))
    rows = []
    for dtype in dtypes:
        model.to(dtype)
        batch_pixels = pixels.to(dtype)
        for change in ("class token only", "quick_gelu through the products' scales", "patch convolution as one product"):
            def without(change=change, batch_pixels=batch_pixels):
                with switched_off(change):
                    return model.get_image_features(batch_pixels)
            with torch.no_grad(), autocast_in(dtype):
                result = timed({"with": lambda x=batch_pixels: model.get_image_features(x), "without": without}, runs)
            diff = float((result["with"][1].float() - result["without"][1].float()).abs().max())
            scale = float(result["without"][1].float().abs().max())
            rows.append(row(f"CLIP image features: {change}", dtype, batch, result,
                            f"features differ by at most {diff:.1e} (largest {scale:.2f})"))
    return rows


def clip_packing_rows(folder: Path, batch: int, runs: int, dtypes: tuple[torch.dtype, ...]) -> list[dict]:
    from polymodal.hf import native_clip
    rows = []
    for dtype in dtypes:
        packed, plain = (native_clip.load(folder)[0].eval().to(dtype) for _ in range(2))
        side = packed.source_config.get("vision_config", {}).get("image_size", 224)
        pixels = torch.randn(batch, 3, side, side, generator=torch.Generator().manual_seed(0)).to(dtype)
        start = time.perf_counter()
        packed.vision_model.pack()
        packing = time.perf_counter() - start
        with torch.no_grad(), autocast_in(dtype):
            result = timed({"with": lambda m=packed, x=pixels: m.get_image_features(x),
                            "without": lambda m=plain, x=pixels: m.get_image_features(x)}, runs)
        diff = float((result["with"][1].float() - result["without"][1].float()).abs().max())
        scale = float(result["without"][1].float().abs().max())
        rows.append(row("CLIP image features: the image tower packed", dtype, batch, result,
                        f"features differ by at most {diff:.1e} (largest {scale:.2f}); packing took {packing:.2f} s"))
    return rows


def precision_list(text: str) -> tuple[str, ...]:
    chosen = {part.strip() for part in text.split(",")}
    if not chosen or not chosen <= set(DTYPES):
        raise argparse.ArgumentTypeError(f"precisions are {', '.join(DTYPES)}, got {text!r}")
    return tuple(p for p in DTYPES if p in chosen)


def row(change: str, dtype: torch.dtype, batch: int, result: dict, outputs: str) -> dict:
    with_s, without_s = result["with"][0], result["without"][0]
    out = {"change": change, "precision": {d: p for p, d in DTYPES.items()}[dtype], "batch": batch,
           "with_s": round(with_s, 4), "without_s": round(without_s, 4), "speedup": round(without_s / with_s, 3),
           "outputs": outputs}
    print(json.dumps(out), flush=True)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--precisions", type=precision_list, default=tuple(DTYPES),
                        help="comma-separated, of " + ", ".join(DTYPES) + " (bf16 is left out on a CPU with AVX2 "
                             "only, where torch multiplies it without vector instructions)")
    parser.add_argument("--tiny", action="store_true", help="small models: a smoke run of this script")
    add_name_option(parser, "engineering_ablations")
    args = parser.parse_args()
    sys.path.insert(0, str(HERE.parent / "src"))
    sys.path.insert(0, str(HERE))
    import real_shapes
    with tempfile.TemporaryDirectory() as tmp:
        blip, clip, whisper = Path(tmp) / "blip", Path(tmp) / "clip", Path(tmp) / "whisper"
        for name, folder in (("blip", blip), ("clip", clip), ("whisper", whisper)):
            real_shapes.build(name, folder, tiny=args.tiny)
        real_shapes.limit_new_tokens(whisper, 30)
        dtypes = tuple(DTYPES[p] for p in args.precisions)
        rows = (caption_rows(blip, args.batch, args.runs, dtypes) + blip_attention_rows(blip, args.batch, args.runs, dtypes)
                + packing_rows(blip, whisper, args.batch, args.runs, dtypes)
                + encoder_packing_rows(blip, whisper, args.batch, args.runs, dtypes)
                + whisper_layer_rows(whisper, args.batch, args.runs, dtypes)
                + clip_rows(clip, args.batch, args.runs, dtypes) + clip_packing_rows(clip, args.batch, args.runs, dtypes))
    lines = ["| change | precision | batch | with | without | speed-up | outputs |", "|---|---|---|---|---|---|---|"]
    lines += [f"| {r['change']} | {r['precision']} | {r['batch']} | {r['with_s']:.3f} s | {r['without_s']:.3f} s | "
              f"**{r['speedup']:.2f}x** | {r['outputs']} |" for r in rows]
    print("\n".join(lines))
    if not args.tiny:
        command = f"python benchmarks/engineering_ablations.py --runs {args.runs} --batch {args.batch}" + \
            ("" if args.precisions == tuple(DTYPES) else f" --precisions {','.join(args.precisions)}") + \
            name_flag(args.name, "engineering_ablations")
        write_results(args.name, command,
                      "polymodal's changes to Hugging Face models, each against its absence",
                      f", median of {args.runs} alternating calls, random weights of the real shapes "
                      "(benchmarks/real_shapes.py).", lines, rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
