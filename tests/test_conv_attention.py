"""hf/conv_attention.py: attention as grouped convolutions with shifted scores, against a float64
reference, and when hf/fast_layers.py's BLIP vision attention and Whisper encoder attention take it."""
import pytest
import torch
import torch.nn.functional as F

from polymodal.hf import conv_attention, fast_layers
from polymodal.hf.packed_linear import packing_available

# the convolutions are oneDNN's bf16 ones, which torch refuses on a CPU with AVX2 only
needs_bf16 = pytest.mark.skipif(not packing_available(torch.bfloat16), reason="this CPU has no oneDNN bf16 products")


def conv(qkv: torch.Tensor, heads: int, scale: float) -> torch.Tensor:
    """shifted_conv_attention on a fused projection's output, as BLIP's layer calls it."""
    return conv_attention.shifted_conv_attention(*qkv.chunk(3, dim=-1), heads, scale)


def reference(qkv: torch.Tensor, heads: int, scale: float) -> torch.Tensor:
    batch, tokens, triple = qkv.shape
    q, k, v = qkv.double().reshape(batch, tokens, 3, heads, -1).permute(2, 0, 3, 1, 4)
    return F.scaled_dot_product_attention(q, k, v, scale=scale).transpose(1, 2).reshape(batch, tokens, triple // 3)


def eager_bf16(qkv: torch.Tensor, heads: int, scale: float) -> torch.Tensor:
    """Scores rounded to bf16 as they come from the product, as transformers' eager attention in bf16."""
    batch, tokens, triple = qkv.shape
    q, k, v = qkv.reshape(batch, tokens, 3, heads, -1).permute(2, 0, 3, 1, 4)
    probs = (torch.matmul(q, k.transpose(-1, -2)) * scale).softmax(-1)
    return torch.matmul(probs, v).transpose(1, 2).reshape(batch, tokens, triple // 3)


@needs_bf16
@pytest.mark.parametrize("heads", [4, 6, 5])
def test_lies_between_the_fused_kernel_and_eager_bf16_in_its_distance_from_float64(heads):
    """Measured: mean distance about 1.5 times the fused kernel's, largest below eager bf16's."""
    torch.manual_seed(0)
    size, tokens, scale = 16, 520, 0.25
    qkv = torch.randn(2, tokens, 3 * heads * size).bfloat16()
    with torch.inference_mode():
        out = conv(qkv, heads, scale)
        q, k, v = qkv.reshape(2, tokens, 3, heads, size).permute(2, 0, 3, 1, 4)
        fused = F.scaled_dot_product_attention(q, k, v, scale=scale).transpose(1, 2).reshape(2, tokens, heads * size)
        eager = eager_bf16(qkv, heads, scale)
    assert out.dtype == torch.bfloat16 and out.shape == (2, tokens, heads * size)
    expected = reference(qkv, heads, scale)
    error, fused_error, eager_error = ((x.double() - expected).abs() for x in (out, fused, eager))
    assert error.mean() <= 2 * fused_error.mean()
    assert error.max() < eager_error.max()


@needs_bf16
def test_the_shift_keeps_wide_scores_precise_where_rounding_them_raw_does_not():
    torch.manual_seed(1)
    heads, size, tokens = 4, 64, 512
    qkv = (3 * torch.randn(1, tokens, 3 * heads * size)).bfloat16()     # scores of standard deviation about 9
    with torch.inference_mode():
        shifted = conv(qkv, heads, 0.125)
        raw = eager_bf16(qkv, heads, 0.125)
    expected = reference(qkv, heads, 0.125)
    shifted_error, raw_error = ((x.double() - expected).abs().max().item() for x in (shifted, raw))
    assert shifted_error < raw_error / 4


def scaled_heads(qkv: torch.Tensor, heads: int, scale: float) -> tuple[torch.Tensor, torch.Tensor]:
    """One item's scaled queries [1, tokens, heads, dim] and keys [heads, tokens, dim], as
    shifted_conv_attention lays them out for a call of all its heads."""
    tokens = qkv.shape[1]
    q, k, _ = qkv[0].reshape(tokens, 3, heads, -1).unbind(1)
    return (q * scale)[None], k.transpose(0, 1)


@pytest.mark.parametrize("spread, wide", [(1.0, False), (3.0, True)])
def test_each_row_is_shifted_above_its_largest_score_and_a_loose_bound_is_flagged(spread, wide):
    """The bound plus LIFT lies above every score of its row; where it may lie more than WINDOW
    above the row's largest, the call is flagged to find the maxima by a product instead."""
    torch.manual_seed(4)
    heads, size, tokens = 4, 64, 512
    qkv = (spread * torch.randn(1, tokens, 3 * heads * size)).bfloat16()
    queries, keys = scaled_heads(qkv, heads, 0.125)
    shifts, loose = conv_attention.row_shifts(queries, keys)
    assert shifts.dtype == torch.bfloat16 and shifts.shape == (1, tokens, heads)
    largest = torch.einsum("tgd,gkd->tgk", queries[0].float(), keys.float()).amax(-1)
    assert (shifts[0].float() >= largest + conv_attention.LIFT).all()
    assert loose.tolist() == [wide]
    if not wide:
        assert (shifts[0].float() - largest).max() <= conv_attention.WINDOW


def products_taken(qkv: torch.Tensor, heads: int, monkeypatch) -> int:
    """The convolutions (plain F.conv2d: the values' and the maxima's products) that
    shifted_conv_attention runs on qkv at scale 1/8; its result checked near float64, within
    half eager bf16's largest difference."""
    calls = []
    conv2d = F.conv2d
    monkeypatch.setattr(conv_attention.F, "conv2d", lambda *a, **k: calls.append(1) or conv2d(*a, **k))
    with torch.inference_mode():
        out = conv(qkv, heads, 0.125)
        eager = eager_bf16(qkv, heads, 0.125)
    expected = reference(qkv, heads, 0.125)
    assert (out.double() - expected).abs().max() < (eager.double() - expected).abs().max() / 2
    return len(calls)


@needs_bf16
@pytest.mark.parametrize("spread, products", [(1.0, 1), (3.0, 2)])
def test_the_maxima_take_a_product_only_where_the_bound_is_loose(spread, products, monkeypatch):
    """Per call of a few heads: the values' product alone where the bound is tight, one more for
    the maxima where it is loose; the result near float64 either way."""
    torch.manual_seed(5)
    heads, size, tokens = 4, 64, 512
    qkv = (spread * torch.randn(1, tokens, 3 * heads * size)).bfloat16()
    assert products_taken(qkv, heads, monkeypatch) == products * heads // conv_attention.heads_per_call(heads, tokens)


@needs_bf16
def test_the_path_is_chosen_per_item_and_per_call_of_heads(monkeypatch):
    """Two items of six heads, three a call: the second item's last three heads wide, the rest
    narrow, so one call of four takes the maxima's product."""
    torch.manual_seed(6)
    heads, size, tokens = 6, 64, 512
    assert conv_attention.heads_per_call(heads, tokens) == 3
    spread = torch.ones(2, 1, 3, heads, 1)
    spread[1, :, :2, 3:] = 3.0                                          # queries and keys of item 1, heads 3-5
    qkv = (spread * torch.randn(2, tokens, 3, heads, size)).reshape(2, tokens, -1).bfloat16()
    assert products_taken(qkv, heads, monkeypatch) == 5                 # 4 values' products, 1 for the maxima


@needs_bf16
def test_scores_too_large_for_bf16_shifts_go_to_the_fused_kernel():
    """Scores near 1e4 with a narrow spread: bf16 maxima and shifts are too coarse to keep the
    weights from flushing to zero (0/0), so those calls give the fused kernel's values."""
    torch.manual_seed(7)
    heads, size, tokens = 4, 64, 512
    qkv = ((1 + 0.01 * torch.randn(1, tokens, 3 * heads * size)) * 35).bfloat16()   # q.k/8 about 1e4
    q, k, v = qkv.reshape(1, tokens, 3, heads, size).permute(2, 0, 3, 1, 4)
    assert (q.float() @ k.float().transpose(-1, -2) * 0.125).min() > conv_attention.LARGEST
    with torch.inference_mode():
        out = conv(qkv, heads, 0.125)
        fused = F.scaled_dot_product_attention(q, k, v, scale=0.125).transpose(1, 2).reshape(1, tokens, -1)
    assert torch.equal(out, fused)


def test_heads_a_call_divide_the_heads_and_keep_the_scores_small():
    assert conv_attention.heads_per_call(12, 577) == 4       # BLIP-base's tower: 2.5 MB of scores
    assert conv_attention.heads_per_call(8, 1500) == 1       # Whisper's encoder: 4.3 MB a head
    assert conv_attention.heads_per_call(6, 520) == 3
    assert conv_attention.heads_per_call(5, 520) == 1
    assert conv_attention.heads_per_call(16, 4000) == 1      # one head's scores above the bound: still one


def test_taken_only_in_bf16_without_gradients_from_512_tokens_with_a_power_of_two_scale(monkeypatch):
    monkeypatch.setattr(conv_attention, "native_bf16_without_amx", lambda: True)
    qkv = torch.zeros(1, 512, 24, dtype=torch.bfloat16)
    with torch.inference_mode():
        assert conv_attention.conv_attention_pays(qkv, 0.25)
        assert not conv_attention.conv_attention_pays(qkv.float(), 0.25)
        assert not conv_attention.conv_attention_pays(qkv[:, :511], 0.25)
        assert not conv_attention.conv_attention_pays(qkv, 0.3)
    assert not conv_attention.conv_attention_pays(qkv, 0.25)         # gradients on
    with torch.inference_mode():
        assert conv_attention.conv_attention_pays(qkv.float(), 0.25, torch.bfloat16)    # products in bf16 (autocast)
    monkeypatch.setattr(conv_attention, "native_bf16_without_amx", lambda: False)
    with torch.inference_mode():
        assert not conv_attention.conv_attention_pays(qkv, 0.25)


def calls_and_errors(layer, exact, hidden: torch.Tensor, monkeypatch) -> tuple[list, dict[bool, float]]:
    """A switched bf16 attention layer run on `hidden` with the convolution form off and on
    (native_bf16_without_amx False, then True, as it is left): -> (the calls the form took,
    {on: the mean distance of the output from the float64 copy `exact`'s})."""
    calls = []
    taken = conv_attention.shifted_conv_attention
    monkeypatch.setattr(fast_layers, "shifted_conv_attention", lambda *a: calls.append(a) or taken(*a))
    errors = {}
    with torch.inference_mode():
        expected = exact(hidden.double())[0]
        for native in (False, True):
            monkeypatch.setattr(conv_attention, "native_bf16_without_amx", lambda native=native: native)
            errors[native] = (layer(hidden)[0].double() - expected).abs().mean().item()
    return calls, errors


@needs_bf16
def test_blip_vision_attention_takes_it_where_it_pays_near_the_fused_kernel_in_precision(monkeypatch):
    from transformers import BlipVisionConfig
    from transformers.models.blip.modeling_blip import BlipAttention
    torch.manual_seed(2)
    config = BlipVisionConfig(hidden_size=32, num_attention_heads=2)
    layer = BlipAttention(config).eval().to(torch.bfloat16)
    exact = BlipAttention(config).eval().double()
    exact.load_state_dict(layer.state_dict())
    assert fast_layers.use_fast_layers(layer) == 1
    hidden = torch.randn(2, 520, 32).bfloat16()
    calls, errors = calls_and_errors(layer, exact, hidden, monkeypatch)
    assert len(calls) == 1
    weighed = BlipAttention(BlipVisionConfig(hidden_size=32, num_attention_heads=2, output_attentions=True))
    fast_layers.use_fast_layers(weighed.eval().bfloat16())
    with torch.inference_mode():
        weighed(hidden)                         # the config records attention weights: the original forward
    assert len(calls) == 1
    assert errors[True] <= 2 * errors[False]


@needs_bf16
def test_whisper_encoder_attention_takes_it_where_it_pays_near_the_fused_kernel_in_precision(monkeypatch):
    """The encoder's self-attention only: the decoder's causal self-attention and its
    cross-attention keep their own forms."""
    from transformers import WhisperConfig
    from transformers.models.whisper.modeling_whisper import WhisperAttention
    torch.manual_seed(3)
    config = WhisperConfig(d_model=32, encoder_attention_heads=2)
    config._attn_implementation = "sdpa"
    layer = WhisperAttention(32, 2, config=config).eval().to(torch.bfloat16)
    exact = WhisperAttention(32, 2, config=config).eval().double()
    exact.load_state_dict(layer.state_dict())
    causal = WhisperAttention(32, 2, is_decoder=True, is_causal=True, layer_idx=0, config=config).eval().bfloat16()
    assert fast_layers.use_fast_layers(layer) == fast_layers.use_fast_layers(causal) == 1
    hidden = (2 * torch.randn(2, 520, 32)).bfloat16()
    calls, errors = calls_and_errors(layer, exact, hidden, monkeypatch)
    assert len(calls) == 1
    with torch.inference_mode():
        causal(hidden)
        layer(hidden, key_value_states=hidden)
        assert len(calls) == 1
        weighed = WhisperAttention(32, 2, config=WhisperConfig(d_model=32, output_attentions=True)).eval().bfloat16()
        fast_layers.use_fast_layers(weighed)
        weighed(hidden)                         # the config records attention weights: the original forward
        assert len(calls) == 1
        exact.float()                           # products in bf16 through autocast
        fast_layers.use_fast_layers(exact)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            exact(hidden.float())
        assert len(calls) == 2
    assert errors[True] <= 2 * errors[False]
