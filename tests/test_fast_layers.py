"""hf/fast_layers.py's pieces that need no model: the in-place activation, the query divided instead of the scores."""
import pytest
import torch
from transformers.activations import ACT2FN

from polymodal.hf.fast_layers import activated


@pytest.mark.parametrize("activation", [ACT2FN["gelu"], torch.nn.GELU()])
def test_exact_gelu_is_computed_in_place_with_the_same_values(activation):
    x = torch.randn(4, 7, 16)
    expected = activation(x)
    with torch.no_grad():
        out = activated(activation, x)
    assert out.data_ptr() == x.data_ptr() and torch.equal(out, expected)


@pytest.mark.parametrize("activation", [ACT2FN["gelu_new"], torch.nn.GELU(approximate="tanh"), ACT2FN["relu"]])
def test_other_activations_keep_their_input(activation):
    x = torch.randn(4, 7, 16)
    kept = x.clone()
    with torch.no_grad():
        out = activated(activation, x)
    assert torch.equal(x, kept) and torch.equal(out, activation(kept))


def test_gelu_keeps_its_input_where_a_gradient_is_taken():
    weight = torch.randn(16, 16, requires_grad=True)
    hidden = torch.randn(3, 16) @ weight
    kept = hidden.detach().clone()
    activated(ACT2FN["gelu"], hidden).sum().backward()
    assert torch.equal(hidden.detach(), kept) and weight.grad is not None


@pytest.mark.parametrize("tokens", [1, 4])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_folded_attention_divides_the_query_by_a_power_of_two_with_the_same_values(monkeypatch, tokens, dtype):
    from polymodal.hf import fast_layers
    assert fast_layers.power_of_two(8.0) and fast_layers.power_of_two(0.25)
    assert not fast_layers.power_of_two(6.0) and not fast_layers.power_of_two(0.0)
    g = torch.Generator().manual_seed(0)
    heads, size, width = 4, 8, 24
    query = torch.randn(3, tokens, heads * size, generator=g).to(dtype)
    encoder = torch.randn(3, 11, width, generator=g).to(dtype)
    key, value = (torch.randn(heads * size, width, generator=g).to(dtype) * 0.3 for _ in range(2))
    bias = torch.randn(heads * size, generator=g).to(dtype)
    with torch.no_grad():
        scaled = fast_layers.folded_attention(query, encoder, key, value, bias, heads, divisor=8.0)
        monkeypatch.setattr(fast_layers, "power_of_two", lambda x: False)     # the scores divided instead
        divided = fast_layers.folded_attention(query, encoder, key, value, bias, heads, divisor=8.0)
    assert torch.equal(scaled[0], divided[0])
