"""Fused attention (torch's scaled_dot_product_attention) for attention layers that
transformers still runs eagerly, e.g. BLIP's vision tower. Eager attention writes the whole
[batch, heads, tokens, tokens] score tensor and, under bf16 autocast, casts it to fp32 for the
softmax and back; SDPA does neither (docs/performance.md measures the difference).

A layer is switched only when it has the attributes the replacement reads, so a transformers
release that changes the layer leaves it as it is; a call asking for attention weights or a
head mask goes to the original forward."""
from __future__ import annotations

import types

import torch
import torch.nn.functional as F


def fused_qkv_attention(self, hidden_states: torch.Tensor, head_mask=None, output_attentions: bool = False, **kwargs):
    """BLIP's vision attention (one qkv projection, no mask) through SDPA."""
    if head_mask is not None or output_attentions:
        return self.eager_forward(hidden_states, head_mask=head_mask, output_attentions=output_attentions, **kwargs)
    batch, tokens, width = hidden_states.shape
    q, k, v = self.qkv(hidden_states).reshape(batch, tokens, 3, self.num_heads, width // self.num_heads) \
        .permute(2, 0, 3, 1, 4)
    context = F.scaled_dot_product_attention(q, k, v, dropout_p=0.0, scale=self.scale)
    return self.projection(context.transpose(1, 2).reshape(batch, tokens, width)), None


EAGER_ATTENTION = {   # transformers class name -> (attributes it must have, replacement forward)
    "BlipAttention": (("qkv", "projection", "scale", "num_heads"), fused_qkv_attention),
}


def use_sdpa(model: torch.nn.Module) -> int:
    """Switch the model's eager attention layers that EAGER_ATTENTION knows to SDPA; -> how many."""
    switched = 0
    for module in model.modules():
        needs, forward = EAGER_ATTENTION.get(type(module).__name__, ((), None))
        if forward is not None and all(hasattr(module, a) for a in needs) and not hasattr(module, "eager_forward"):
            module.eager_forward = module.forward
            module.forward = types.MethodType(forward, module)
            switched += 1
    return switched
