"""Self-attention over many tokens in bf16 as grouped 1x1 convolutions, with each row's scores
shifted by their maximum before they are rounded. hf/fast_layers.py uses it for BLIP's vision
tower and Whisper's encoder where `conv_attention_pays` (docs/performance.md measures it).

Why: on a CPU with native bf16 (AVX512-BF16) but no AMX, torch's fused attention kernel runs
at about 150 GFLOP/s, a sixth of the rate of the bf16 linear layers around it, and took a
third of BLIP captioning's time. oneDNN's bf16 convolution, given the queries as positions
and the keys as 1x1 kernels (each head a group), runs the same products much nearer the peak.

How, per item and a few heads a call (`heads_per_call`):
- Channels-last layout: the projections' outputs are read as they lie ([token, head, dim]),
  the scores come out [query, head, key], so the softmax runs over contiguous rows, and the
  context comes out [query, head * dim], the output projection's input.
- Precision: a bf16 convolution rounds its output to bf16, so a raw score s loses up to
  |s| 2^-9, as eager bf16 attention does (transformers' BLIP in bf16). A first product finds
  each row's largest score m; the second carries -m as one more query channel against a key
  channel of ones, so s - m is formed in the fp32 accumulator, and the scores that hold the
  probability are near zero when rounded. The probabilities are rounded to bf16 before the
  values' product, as in the fused kernel.
- The second product clamps the shifted scores at FLOOR as it writes them (a oneDNN post-op,
  no pass of its own): torch's exp is about 2x slower on values below ln(FLT_MIN), and rows
  that reach there (wide scores, as in peaked heads) made a layer of eight 577-token images
  49.9 ms against 38.3 with the floor (scores of standard deviation about 9, ad hoc,
  interleaved), the same values.

Largest difference from a float64 reference over eight 577-token images of 12 heads (ad hoc,
three kinds of random queries and keys, the widest with scores of standard deviation about 9):
fused kernel 0.0020 / 0.0027 / 0.037, this 0.0026 / 0.0034 / 0.056, eager bf16 0.0079 /
0.012 / 0.81."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

FLOOR = -80.0           # shifted scores are clamped here: exp is about 2x slower on rows with values below
                        # ln(FLT_MIN) ~ -87.3, and exp(-80) ~ 1.8e-35 is lost beside the row's maximum, exp(0) = 1
MIN_TOKENS = 512        # below this the fused kernel was as fast or faster (401 tokens: 25.7 against 26.1 ms)
HEADS_PER_CALL = 4      # BLIP-base, 12 heads over 577 tokens: 45.0 ms a layer of eight images at 4 a call,
                        # 46.2 at 12, 48.0 at 2
SCORES_BYTES = 4.5 * 2 ** 20    # a call's bf16 scores [tokens, heads, tokens] at most this, where one head's fit:
                        # Whisper-base, 8 heads over 1,500 tokens (4.3 MB a head), eight windows: 140 ms a
                        # layer at 1 head a call, 155-163 at 2, 184-188 at 4 (torch's fused kernel 216).
                        # Measured there and at BLIP-base's 577 tokens (4 a call, 2.5 MB); from about 860
                        # tokens it takes a BLIP tower below 4 a call, a size not measured


def native_bf16_without_amx() -> bool:
    """Whether this CPU computes bf16 products natively (AVX512-BF16) and has no AMX tiles,
    the case the convolution form was measured faster on (with AMX the fused kernel has its
    own bf16 tile path)."""
    try:
        return torch.cpu._is_avx512_bf16_supported() and not torch.cpu._is_amx_tile_supported()
    except AttributeError:      # a torch without these probes: keep the fused kernel
        return False


def conv_attention_pays(x: torch.Tensor, scale: float, dtype: torch.dtype | None = None) -> bool:
    """Whether an attention over x [batch, tokens, ...] (its input, or its projections' output)
    whose products are in `dtype` (x's where None) takes `shifted_conv_attention`, where it was
    measured faster at a precision near the fused kernel's (above): bf16 on the CPU without
    gradients, at least MIN_TOKENS tokens, a CPU as above, and a scale that is a power of two
    (the queries are scaled in bf16, which then only moves the exponent)."""
    dtype = x.dtype if dtype is None else dtype
    return (dtype == torch.bfloat16 and x.device.type == "cpu" and not torch.is_grad_enabled()
            and x.shape[1] >= MIN_TOKENS and power_of_two(scale) and torch.backends.mkldnn.is_available()
            and native_bf16_without_amx())


def heads_per_call(heads: int, tokens: int) -> int:
    """The most heads, a divisor of `heads` and at most HEADS_PER_CALL, whose scores fit
    SCORES_BYTES (at least one)."""
    fits = max(1, int(SCORES_BYTES // (2 * tokens * tokens)))
    return max(g for g in range(1, min(HEADS_PER_CALL, fits) + 1) if heads % g == 0)


def power_of_two(x: float) -> bool:
    """Whether x is 2^k, so that multiplying or dividing by it only moves the exponent (no rounding)."""
    return x > 0 and math.frexp(x)[0] == 0.5


def shifted_conv_attention(query: torch.Tensor, key: torch.Tensor, value: torch.Tensor, heads: int,
                           scale: float) -> torch.Tensor:
    """Unmasked softmax(q k^T scale) v of projected queries, keys and values, each [batch,
    tokens, width] laid out [tokens, heads, dim] (views into one fused projection's output
    will do) -> [batch, tokens, width]."""
    batch, tokens, width = query.shape
    size = width // heads
    group = heads_per_call(heads, tokens)
    out = torch.empty(batch, tokens, width, dtype=query.dtype, device=query.device)
    # one extra channel: the queries carry minus their row's maximum, the keys a one
    queries = torch.empty(heads // group, tokens, group, size + 1, dtype=query.dtype, device=query.device)
    keys = torch.empty(heads, tokens, size + 1, dtype=query.dtype, device=query.device)
    keys[..., size] = 1
    for item in range(batch):
        torch.mul(query[item].view(tokens, heads // group, group, size).transpose(0, 1), scale,
                  out=queries[..., :size])
        keys[..., :size] = key[item].view(tokens, heads, size).transpose(0, 1)
        values = value[item].reshape(tokens, heads, size).permute(1, 2, 0).reshape(width, tokens, 1, 1)
        for first in range(0, heads, group):
            grouped, keyed = queries[first // group], keys[first:first + group]
            scores = F.conv2d(_positions(grouped[..., :size]), keyed[..., :size].reshape(group * tokens, size, 1, 1),
                              groups=group)
            shift = grouped[..., size]
            torch.amax(_rows(scores, group), -1, out=shift)
            shift.neg_()
            scores = torch.ops.mkldnn._convolution_pointwise(
                _positions(grouped), keyed.reshape(group * tokens, size + 1, 1, 1), None, [0, 0], [1, 1], [1, 1],
                group, "hardtanh", [FLOOR, math.inf], "")
            probs = _rows(scores, group).softmax(-1)
            context = F.conv2d(_positions(probs), values[first * size:(first + group) * size], groups=group)
            out[item, :, first * size:(first + group) * size] = context.permute(0, 2, 3, 1).reshape(tokens, group * size)
    return out


def _positions(x: torch.Tensor) -> torch.Tensor:
    """[tokens, ...channels] -> a channels-last [1, channels, tokens, 1] view of the same memory."""
    return x.reshape(1, x.shape[0], 1, -1).permute(0, 3, 1, 2)


def _rows(scores: torch.Tensor, group: int) -> torch.Tensor:
    """A channels-last convolution's [1, group * keys, queries, 1] output as [queries, group, keys]."""
    queries = scores.shape[2]
    return scores.permute(0, 2, 3, 1).view(queries, group, -1)
