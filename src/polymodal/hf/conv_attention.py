"""Self-attention over many tokens in bf16 as grouped 1x1 convolutions, with each row's scores
shifted below zero before they leave the fp32 accumulator. hf/fast_layers.py uses it for BLIP's
vision tower and Whisper's encoder where `conv_attention_pays` (docs/performance.md measures it).

Why: on a CPU with native bf16 (AVX512-BF16) but no AMX, torch's fused attention kernel runs
at about 150 GFLOP/s, a sixth of the rate of the bf16 linear layers around it, and took a
third of BLIP captioning's time. oneDNN's bf16 convolution, given the queries as positions
and the keys as 1x1 kernels (each head a group), runs the same products much nearer the peak.

How, per item and a few heads a call (`heads_per_call`):
- Channels-last layout: the projections' outputs are read as they lie ([token, head, dim]),
  the weights come out [query, head, key], and the context [query, head * dim], the output
  projection's input.
- Unnormalised probabilities from the scores' product: the queries carry minus a shift c per
  row as one more channel against a key channel of ones, so s - c is formed in the fp32
  accumulator, and the product's sigmoid post-op writes sigmoid(s - c), which equals exp(s - c)
  to fp32's precision where s - c <= -LIFT. Rounded to bf16, each keeps 2^-8 of its own size
  whatever the scores' spread (a bf16 product that wrote raw scores would lose |s| 2^-8, as
  eager bf16 attention does).
- The values' product carries a channel of ones beside them, so it gives each row's sum of
  weights too; the context is the quotient. No softmax pass.
- The shift, `row_shifts`: by Cauchy-Schwarz a row's scores lie below q.k_mean + |q| r, where
  k_mean is the head's mean key and r the largest distance of a key from it; and their mean,
  q.k_mean, is a score the row reaches or exceeds. Where that bound plus LIFT lies within
  WINDOW of the mean for every row of a call, it is the shift, and no product is spent on the
  row maxima; elsewhere (wide scores) a first product finds each row's maximum m and the shift
  is m + LIFT. Either way each row's largest weight is at least exp(-WINDOW), so the weights
  that hold the probability stay normal numbers (below exp(-87) oneDNN flushes them to zero).
- A call whose largest score exceeds LARGEST in magnitude (or is not finite) runs through
  torch's fused kernel instead: there the bf16 maxima and shifts are too coarse to keep the
  shift within the window, and all of a row's weights could flush to zero (0/0).

Difference from a float64 reference over eight 577-token images of 12 heads (ad hoc, four
kinds of random queries and keys: scores of standard deviation 1, 4 and 9, and one with a
shared key component; docs/performance.md gives the table): the largest 1.2-1.5x that of the
form this replaced (the row maxima by a product every call, a softmax over the shifted scores
rounded to bf16), 1.7-2.2x the fused kernel's, and 0.15-0.44x eager bf16's; the mean
0.9-1.3x the replaced form's."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

LIFT = 20.0             # a row's largest score lies at least this far below its shift: sigmoid(x) = exp(x) there
WINDOW = 60.0           # and at most this far: exp(-60) leaves weights 27 below the largest (relative e^-27) normal
LARGEST = 2048.0        # scores above this in magnitude go to the fused kernel: up to it a bf16 maximum lies
                        # within 8 of the true one and the shift, rounded up to bf16, within 16 of m + LIFT, so
                        # the shift lies 12-44 above the row's largest score (exp(-12) still 1 - 6e-6 of sigmoid)
MIN_TOKENS = 512        # below this the fused kernel was as fast or faster (401 tokens: 25.7 against 26.1 ms)
HEADS_PER_CALL = 4      # BLIP-base, 12 heads over 577 tokens: 45.0 ms a layer of eight images at 4 a call,
                        # 46.2 at 12, 48.0 at 2
SCORES_BYTES = 4.5 * 2 ** 20    # a call's bf16 scores [tokens, heads, tokens] at most this, where one head's fit:
                        # Whisper-base, 8 heads over 1,500 tokens (4.3 MB a head), eight windows, in the form
                        # before the bound (maxima by a product, a softmax): 140 ms a layer at 1 head a call,
                        # 155-163 at 2, 184-188 at 4 (torch's fused kernel 216).
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


def rounded_up(x: torch.Tensor) -> torch.Tensor:
    """fp32 x -> the bf16 values nearest x from above (x itself where exact)."""
    rounded = x.to(torch.bfloat16)
    return torch.where(rounded.float() < x, torch.nextafter(rounded, rounded.new_tensor(math.inf)), rounded)


def row_shifts(queries: torch.Tensor, keys: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Scaled queries [calls, tokens, group, dim] and keys [calls * group, tokens, dim] (bf16)
    -> (each row's bound on its scores plus LIFT, rounded up to bf16 [calls, tokens, group];
    whether a call's bound may lie more than WINDOW above its rows' maxima [calls])."""
    calls, tokens, group, size = queries.shape
    keys = keys.float()
    centre = keys.mean(1)                                           # [heads, dim]
    radius = (keys - centre[:, None]).norm(dim=-1).amax(1)          # [heads]
    queries = queries.float()
    mean = (queries * centre.view(calls, 1, group, size)).sum(-1)   # each row's mean score, at most its maximum
    shift = rounded_up(mean + queries.norm(dim=-1) * radius.view(calls, 1, group) + LIFT)
    return shift, ~((shift.float() - mean).amax((1, 2)) <= WINDOW)     # not finite: loose too


def shifted_conv_attention(query: torch.Tensor, key: torch.Tensor, value: torch.Tensor, heads: int,
                           scale: float) -> torch.Tensor:
    """Unmasked softmax(q k^T scale) v of projected queries, keys and values, each [batch,
    tokens, width] laid out [tokens, heads, dim] (views into one fused projection's output
    will do) -> [batch, tokens, width]."""
    batch, tokens, width = query.shape
    size = width // heads
    group = heads_per_call(heads, tokens)
    out = torch.empty(batch, tokens, width, dtype=query.dtype, device=query.device)
    # one extra channel each: the queries carry minus their row's shift, the keys a one, the values a one
    queries = torch.empty(heads // group, tokens, group, size + 1, dtype=query.dtype, device=query.device)
    keys = torch.empty(heads, tokens, size + 1, dtype=query.dtype, device=query.device)
    keys[..., size] = 1
    values = torch.empty(heads, size + 1, tokens, dtype=query.dtype, device=query.device)
    values[:, size] = 1
    for item in range(batch):
        torch.mul(query[item].view(tokens, heads // group, group, size).transpose(0, 1), scale,
                  out=queries[..., :size])
        keys[..., :size] = key[item].view(tokens, heads, size).transpose(0, 1)
        values[:, :size] = value[item].view(tokens, heads, size).permute(1, 2, 0)
        shifts, wide = row_shifts(queries[..., :size], keys[..., :size])
        for first in range(0, heads, group):
            grouped, keyed = queries[first // group], keys[first:first + group]
            if wide[first // group]:
                scores = F.conv2d(_positions(grouped[..., :size]), keyed[..., :size].reshape(group * tokens, size, 1, 1),
                                  groups=group)
                maxima = _rows(scores, group).float().amax(-1)
                if not maxima.abs().max() <= LARGEST:
                    _fused(grouped[..., :size], keyed[..., :size], value[item], first, heads,
                           out[item, :, first * size:(first + group) * size])
                    continue
                grouped[..., size] = -rounded_up(maxima + LIFT)
            else:
                grouped[..., size] = -shifts[first // group]
            weights = torch.ops.mkldnn._convolution_pointwise(
                _positions(grouped), keyed.reshape(group * tokens, size + 1, 1, 1), None, [0, 0], [1, 1], [1, 1],
                group, "sigmoid", [], "")
            summed = F.conv2d(_positions(_rows(weights, group)),
                              values[first:first + group].reshape(group * (size + 1), tokens, 1, 1), groups=group)
            summed = summed.permute(0, 2, 3, 1).view(tokens, group, size + 1)
            torch.div(summed[..., :size], summed[..., size:],
                      out=out[item, :, first * size:(first + group) * size].view(tokens, group, size))
    return out


def _fused(queries: torch.Tensor, keys: torch.Tensor, value: torch.Tensor, first: int, heads: int,
           out: torch.Tensor) -> None:
    """One call's heads through torch's fused kernel: scaled queries [tokens, group, dim], keys
    [group, tokens, dim], one item's values [tokens, heads * dim] -> written into out [tokens,
    group * dim]."""
    tokens, group, size = queries.shape
    values = value.view(tokens, heads, size)[:, first:first + group].transpose(0, 1)
    context = F.scaled_dot_product_attention(queries.transpose(0, 1)[None], keys[None], values[None], scale=1.0)
    out.view(tokens, group, size).copy_(context[0].transpose(0, 1))


def _positions(x: torch.Tensor) -> torch.Tensor:
    """[tokens, ...channels] -> a channels-last [1, channels, tokens, 1] view of the same memory."""
    return x.reshape(1, x.shape[0], 1, -1).permute(0, 3, 1, 2)


def _rows(scores: torch.Tensor, group: int) -> torch.Tensor:
    """A channels-last convolution's [1, group * keys, queries, 1] output as [queries, group, keys]."""
    queries = scores.shape[2]
    return scores.permute(0, 2, 3, 1).view(queries, group, -1)
