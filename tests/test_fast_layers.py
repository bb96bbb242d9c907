"""hf/fast_layers.py's pieces that need no model: the in-place activation."""
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
