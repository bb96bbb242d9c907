"""Faster forms of layers that transformers runs eagerly, switched in when a Hugging Face model
is loaded (`use_fast_layers`; docs/performance.md measures each):

- BLIP's vision attention through torch's fused scaled_dot_product_attention, a few images at
  a time (as the MLP, below). Eager attention writes the whole [batch, heads, tokens, tokens]
  score tensor and, under bf16 autocast, casts it to fp32 for the softmax and back; SDPA does
  neither. In bf16 on a CPU with native bf16 but no AMX, from 512 tokens, it runs as grouped
  convolutions with shifted scores instead (hf/conv_attention.py).
- Whisper's encoder self-attention, in bf16 on such a CPU, as those convolutions too
  (`encoder_self_attention`).
- BLIP's vision MLP and Whisper's encoder MLP a few items at a time (`chunked_feed_forward`,
  `chunked_encoder_layer`): their hidden activations, four times the width (57 MB for eight
  384-pixel images in fp32; 49 MB for eight 30-second windows in bf16), stay under the size
  from which glibc's malloc maps fresh pages from the kernel for every block (core/memory.py),
  so each layer reuses the memory the last one freed instead of faulting it in page by page;
  their GELU computed in place (`activated`), so there is one such activation a layer, not two.
- Whisper's encoder stem: its two convolutions as matrix products over time-major windows
  (`conv1d_as_product`), in a lower precision.
- BLIP's text cross-attention and Whisper's decoder cross-attention with their key and value
  projections folded into the query and the context (`folded_attention`), so decoding projects
  no keys and values of the encoder's tokens up front (every layer's, before the first word)
  and reads the encoder's output itself at each word instead of cached keys and values.

A layer is switched only when it has the attributes the replacement reads, so a transformers
release that changes the layer leaves it as it is; a call the replacement does not cover
(attention weights asked for, a head mask, a decoder's or a masked self-attention, projections
quantized to int8 or packed into the cross-attention's fold) goes to the original forward."""
from __future__ import annotations

import math
import types

import torch
import torch.nn.functional as F

from .conv_attention import conv_attention_pays, power_of_two, shifted_conv_attention

CHUNK_BYTES = 32 * 2 ** 20      # glibc's largest mmap threshold (core/memory.py)


def chunk_size(hidden_states: torch.Tensor, width: int) -> int:
    """Batch items per chunk of a layer on [batch, tokens, ...] whose largest activation has
    `width` a token (an MLP's hidden width, an attention's qkv width): the batch split into as
    many chunks as those activations fill CHUNK_BYTES, of sizes as equal as can be (the whole
    batch where it fits). Equal chunks: eight Whisper windows in bf16 (49 MB) as
    4 + 4 took 1.00 s an encoder call, as 5 + 3 1.08 s, whole 1.14 s; smaller chunks of
    activations that fit were measured slower."""
    batch, tokens = hidden_states.shape[:2]
    per_item = tokens * width * hidden_states.element_size()
    chunks = max(1, min(batch, math.ceil(batch * per_item / CHUNK_BYTES)))
    return math.ceil(batch / chunks)


def fused_qkv_attention(self, hidden_states: torch.Tensor, head_mask=None, output_attentions: bool = False, **kwargs):
    """BLIP's vision attention (one qkv projection, no mask) through SDPA, over `chunk_size`
    images at a time, so its qkv activations stay under CHUNK_BYTES too (three times the width:
    42 MB for eight 384-pixel images in fp32, 21 MB in bf16). The same values, as each image's
    attention is its own; fp32 towers of eight images, ad hoc, interleaved: 3.46 -> 3.32 s
    under glibc's defaults (117,552 -> 55,264 page faults), 3.22 -> 3.12 s with freed memory
    kept."""
    if head_mask is not None or output_attentions or weights_recorded(self):
        return self.eager_forward(hidden_states, head_mask=head_mask, output_attentions=output_attentions, **kwargs)
    step = chunk_size(hidden_states, 3 * hidden_states.shape[-1])
    if step >= len(hidden_states):
        return _attention(self, hidden_states), None
    return torch.cat([_attention(self, hidden_states[i:i + step]) for i in range(0, len(hidden_states), step)]), None


def _attention(self, hidden_states: torch.Tensor) -> torch.Tensor:
    batch, tokens, width = hidden_states.shape
    qkv = self.qkv(hidden_states)
    if conv_attention_pays(qkv, self.scale):
        q, k, v = qkv.split(width, dim=-1)
        return self.projection(shifted_conv_attention(q, k, v, self.num_heads, self.scale))
    q, k, v = qkv.reshape(batch, tokens, 3, self.num_heads, width // self.num_heads).permute(2, 0, 3, 1, 4)
    context = F.scaled_dot_product_attention(q, k, v, dropout_p=0.0, scale=self.scale)
    return self.projection(context.transpose(1, 2).reshape(batch, tokens, width))


def activated(activation, x: torch.Tensor) -> torch.Tensor:
    """activation(x), computed in x's own memory where it is the exact GELU and no gradient is
    taken: the same values (the same kernel). An MLP's hidden activations are its largest
    tensors (28 MB for eight 384-pixel images in bf16), and one more of them per layer, freed
    right after, is what glibc's default malloc hands back to the kernel (its trim threshold is
    twice its largest block) and faults in again at the next layer: a BLIP-base vision tower,
    eight images in bf16 under glibc's defaults, 96,712-156,721 minor page faults a call
    against 0-5,537 with the GELU in place."""
    exact_gelu = (isinstance(activation, torch.nn.GELU) and activation.approximate == "none") \
        or (type(activation).__name__ == "GELUActivation" and activation.act is F.gelu)
    if exact_gelu and not (torch.is_grad_enabled() and x.requires_grad):
        return torch.ops.aten.gelu_(x)
    return activation(x)


def feed_forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
    """A transformer MLP: fc2(activation(fc1(x))), the activation in place (`activated`)."""
    return self.fc2(activated(self.activation_fn, self.fc1(hidden_states)))


def chunked_feed_forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
    """A transformer MLP (fc1, activation, fc2) over `chunk_size` batch items at a time: the
    same values, as each token's MLP is its own."""
    step = chunk_size(hidden_states, self.fc1.out_features)
    if step >= len(hidden_states):
        return feed_forward(self, hidden_states)
    return torch.cat([feed_forward(self, hidden_states[i:i + step]) for i in range(0, len(hidden_states), step)])


def chunked_encoder_layer(self, hidden_states: torch.Tensor, attention_mask=None, **kwargs) -> torch.Tensor:
    """A pre-norm encoder layer (Whisper's: attention, then an MLP of fc1, activation, fc2, each
    added to its input) with its MLP over `chunk_size` batch items at a time; the same ops in
    the same order as transformers' layer, so the same values, with the activation in place
    (`activated`) also where the batch is one chunk. Training (dropout) and fp16 (transformers
    clamps its output) go to the original forward."""
    step = chunk_size(hidden_states, self.fc1.out_features)
    if self.training or hidden_states.dtype == torch.float16:
        return self.eager_forward(hidden_states, attention_mask, **kwargs)
    attended, _ = self.self_attn(hidden_states=self.self_attn_layer_norm(hidden_states), attention_mask=attention_mask,
                                 **kwargs)
    hidden_states = hidden_states + attended
    out = []
    for i in range(0, len(hidden_states), step):
        residual = hidden_states[i:i + step]
        out.append(residual + feed_forward(self, self.final_layer_norm(residual)))
    return out[0] if len(out) == 1 else torch.cat(out)


def folded_attention(query: torch.Tensor, encoder: torch.Tensor, key_weight: torch.Tensor, value_weight: torch.Tensor,
                     value_bias: torch.Tensor | None, heads: int, divisor: float | None = None, mask=None,
                     dropout=None) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Cross-attention of projected queries [B, T, H*d] to an encoder's output E [B, N, De]
    read from E itself: -> (context [B, T, H*d], probabilities [B, H, T, N] or None where a
    fused attention computed them).

    Per head h, with the head's rows W_k,h and W_v,h of the key and value projections:
    q·k_i = (q W_k,h)·e_i + q·b_k,h, and the second term, the same for every e_i, leaves the
    softmax unchanged; sum_i p_i v_i = (sum_i p_i e_i) W_v,h^T + b_v,h, as the p_i sum to one.
    So the scores are (q W_k,h) E^T and the context is (P E) W_v,h^T + b_v,h: the values of
    attention to projected keys and values, without the [batch, heads, N, head size] keys and
    values a decoder projects per layer before its first token and reads again for every new
    one. E is the same for every layer. `divisor` divides the scores (where the query is not
    scaled already), `mask` is added to them, `dropout` is applied to the probabilities."""
    batch, tokens, _ = query.shape
    size = key_weight.shape[0] // heads
    if divisor is not None and power_of_two(divisor):
        # (BLIP-base's sqrt(64)) the query divided by it scales every score by it exactly, so
        # the same values with one pass over [B, T, H*d] instead of one over the scores [B, H, T, N]
        query, divisor = query / divisor, None
    # per head: [H, B*T, d] @ [H, d, De] (a broadcast over the batch would copy the weights B times)
    query = query.reshape(batch * tokens, heads, size).transpose(0, 1)
    query_in = torch.matmul(query, key_weight.view(heads, size, -1))               # [H, B*T, De]
    query_in = query_in.view(heads, batch, tokens, -1).transpose(0, 1).reshape(batch, heads * tokens, -1)
    if encoder.dtype == torch.float32 and not torch.is_autocast_enabled(encoder.device.type) \
            and (dropout is None or not dropout.training) and (mask is None or mask.shape[-2:-1] == (1,)):
        # in fp32, one fused attention with E as both keys and values: each block of E read
        # for the scores is at hand for the context. Whole batches of 8, ad hoc, interleaved:
        # BLIP captioning 4.97 -> 4.92 s, Whisper recognition 4.11 -> 4.02 s, the same
        # outputs; in bf16 none faster (BLIP 1.62 s both ways), so bf16 keeps the two products.
        # The probabilities are not formed: None. (A mask the same for every query row only.)
        mixed = F.scaled_dot_product_attention(
            query_in[:, None], encoder[:, None], encoder[:, None],
            attn_mask=None if mask is None else mask.to(encoder.device, encoder.dtype),
            scale=1.0 / divisor if divisor is not None else 1.0)[:, 0]                    # [B, H*T, De]
        probs = None
    else:
        if tokens == 1:
            # one new token a sequence (a decoding step): E (Q')^T, read back transposed, so the
            # N encoder tokens are the product's rows, which the matrix kernels block better
            # than the H query rows. In bf16 on 2 Xeon cores that product takes 30-45% less time
            # at batch 8 to 32 (BLIP-base, Whisper-base), the same values bit for bit there
            # (at Whisper-large's width the last bits may differ); BLIP-base
            # captioning's decoding, eight images 0.72 -> 0.69 s, 32 images 1.30 -> 1.23 s, the
            # same tokens. With several query tokens a sequence (Whisper's 4-token prompt) the
            # kernels sum in another order and the last bits differ, which changed a transcript
            # on benchmarks/whisper_natural_audio.py: those keep Q' E^T.
            scores = torch.matmul(encoder, query_in.transpose(1, 2)).transpose(1, 2)
        else:
            scores = torch.matmul(query_in, encoder.transpose(1, 2))
        scores = scores.view(batch, heads, tokens, -1)
        if divisor is not None:
            scores = scores / divisor
        if mask is not None:
            scores = scores + mask.to(scores.device)
        probs = F.softmax(scores, dim=-1)
        mixed = probs if dropout is None else dropout(probs)
        mixed = torch.matmul(mixed.reshape(batch, heads * tokens, -1), encoder)            # [B, H*T, De]
    mixed = mixed.view(batch, heads, tokens, -1).transpose(0, 1).reshape(heads, batch * tokens, -1)
    context = torch.matmul(mixed, value_weight.view(heads, size, -1).transpose(1, 2))    # [H, B*T, d]
    if value_bias is not None:
        context = context + value_bias.view(heads, 1, size)
    return context.transpose(0, 1).reshape(batch, tokens, heads * size), probs


def plain_projections(*linears) -> bool:
    """Whether the key and value projections are torch's own linear layers, whose weights
    folding reads (not int8 or packed ones)."""
    return all(type(linear) is torch.nn.Linear for linear in linears)


def folded_cross_attention(self, hidden_states: torch.Tensor, attention_mask=None, encoder_hidden_states=None,
                           encoder_attention_mask=None, cache=None, **kwargs):
    """BERT-style cross-attention (BLIP's text decoder) through `folded_attention`, with the
    mask transformers' layer applies (encoder_attention_mask); self-attention, attention
    weights asked for, and unplain projections go to the original forward."""
    if (encoder_hidden_states is None or kwargs.get("output_attentions") or not plain_projections(self.key, self.value)
            or len(encoder_hidden_states) < fold_from(encoder_hidden_states)):
        return self.eager_forward(hidden_states, attention_mask=attention_mask, encoder_hidden_states=encoder_hidden_states,
                                  encoder_attention_mask=encoder_attention_mask, cache=cache, **kwargs)
    return folded_attention(self.query(hidden_states), encoder_hidden_states, self.key.weight, self.value.weight,
                            self.value.bias, self.num_attention_heads, divisor=math.sqrt(self.attention_head_size),
                            mask=encoder_attention_mask, dropout=self.dropout)


def seq2seq_attention(self, hidden_states: torch.Tensor, key_value_states=None, cache=None,
                      attention_mask=None, output_attentions: bool = False, **kwargs):
    """BART-style attention (Whisper's: q_proj scaled, k_proj, v_proj, out_proj): the encoder's
    self-attention through `encoder_self_attention` where it pays, cross-attention through
    `folded_seq2seq_cross_attention`; anything else to the original forward."""
    if key_value_states is None and not getattr(self, "is_causal", True) and cache is None \
            and attention_mask is None and not output_attentions and not weights_recorded(self) and not self.training:
        if conv_attention_pays(hidden_states, self.scaling, products_dtype(hidden_states)):
            query = self.q_proj(hidden_states)
            if query.dtype == torch.bfloat16:         # as predicted, unless a projection ignores autocast
                return encoder_self_attention(self, hidden_states, query), None
        return self.eager_forward(hidden_states, **kwargs)
    return folded_seq2seq_cross_attention(self, hidden_states, key_value_states, cache, attention_mask,
                                          output_attentions, **kwargs)


def weights_recorded(self) -> bool:
    """Whether the model's config asks for attention weights (transformers then records each
    layer's without passing output_attentions down to it)."""
    return bool(getattr(getattr(self, "config", None), "output_attentions", False))


def products_dtype(x: torch.Tensor) -> torch.dtype:
    """The dtype a linear layer's output on x has: autocast's where it is on, else x's."""
    return torch.get_autocast_dtype(x.device.type) if torch.is_autocast_enabled(x.device.type) else x.dtype


def encoder_self_attention(self, hidden_states: torch.Tensor, query: torch.Tensor) -> torch.Tensor:
    """Unmasked self-attention (Whisper's encoder) as shifted convolutions (hf/conv_attention.py),
    given the unscaled queries q_proj(hidden_states), in the order of transformers' layer: the
    queries rounded to bf16, then scaled by a power of two, exactly. Eight 30-second windows of
    Whisper-base in bf16 on an AMD EPYC (Zen 5), ad hoc: 216 ms a layer through torch's fused
    kernel; 79-84 ms as convolutions with the shifts from a bound (scores of standard deviation
    1), 123-133 with the maxima found by a product (standard deviation 9)."""
    context = shifted_conv_attention(query, self.k_proj(hidden_states), self.v_proj(hidden_states), self.num_heads,
                                     self.scaling)
    return self.out_proj(context)


def folded_seq2seq_cross_attention(self, hidden_states: torch.Tensor, key_value_states=None, cache=None,
                                   attention_mask=None, output_attentions: bool = False, **kwargs):
    """BART-style cross-attention (Whisper's decoder: q_proj scaled, k_proj, v_proj, out_proj)
    through `folded_attention`. Self-attention, a mask, attention weights asked for, training,
    unplain projections and batches below `fold_from` go to the original forward."""
    if (key_value_states is None or attention_mask is not None or output_attentions or self.training
            or not plain_projections(self.k_proj, self.v_proj)
            or len(key_value_states) < fold_from(key_value_states, reduced=8)):
        return self.eager_forward(hidden_states, key_value_states=key_value_states, cache=cache,
                                  attention_mask=attention_mask, output_attentions=output_attentions, **kwargs)
    context, _ = folded_attention(self.q_proj(hidden_states) * self.scaling, key_value_states, self.k_proj.weight,
                                  self.v_proj.weight, self.v_proj.bias, self.num_heads)
    return self.out_proj(context), None


def fold_from(encoder: torch.Tensor, reduced: int = 3) -> int:
    """The smallest batch for which folding pays: 1 in fp32, `reduced` in a lower precision.
    Folding trades the keys and values projected up front (one large matrix product) for H
    times the attention arithmetic at each new token, in small products. On 2 CPU cores:

    - BLIP-base, 20 tokens from 577 image tokens: in fp32 folded is faster from one image
      (0.53 s against 0.58 s); in bf16, where the up-front product is cheap, slower for one
      (0.65 s against 0.50 s), level at two, faster at four (0.64 s against 0.66 s) and
      eight (0.71 s against 0.87 s): so from three.
    - Whisper-base, 30 tokens from 1,500 audio tokens, whole recognitions of eight
      utterances: in fp32 faster at batch 1 (9.17 s against 9.58 s) and 8 (4.60 s against
      5.22 s); in bf16 slower at 1 (6.46 s against 5.15 s) and 2 (3.76 s against 3.52 s),
      level at 4 (2.48 s against 2.44 s), faster at 8 (1.77 s against 1.88 s): so from eight."""
    lower = encoder.dtype != torch.float32 or torch.is_autocast_enabled(encoder.device.type)
    return reduced if lower else 1


def conv1d_as_product(self, x: torch.Tensor) -> torch.Tensor:
    """A Conv1d (zero padding, no dilation or groups) as one matrix product of each output
    step's input window [k * C_in] and the kernels, in a lower precision: Whisper's encoder
    stem, where the product writes its output time-major and returns it as a [B, C_out, T]
    view, so the activation after it keeps that layout, the next convolution reads its windows
    without a copy, and the encoder's permute to [B, T, C] is free. oneDNN's convolution
    writes a blocked layout that is converted back with a copy: eight 30-second windows in
    bf16, 84 -> 47 ms for the stem (its values within one bf16 step); in fp32 the convolution
    is faster (112 against 145 ms), so fp32 goes to the original forward."""
    lower = x.dtype != torch.float32 or torch.is_autocast_enabled(x.device.type)
    padding, stride, kernel = self.padding, self.stride[0], self.kernel_size[0]
    if (not lower or self.groups != 1 or self.dilation != (1,) or self.padding_mode != "zeros"
            or isinstance(padding, str) or x.dim() != 3):
        return self.eager_forward(x)
    steps = (x.shape[2] + 2 * padding[0] - kernel) // stride + 1
    timed = F.pad(x.transpose(1, 2), (0, 0, padding[0], padding[0]))          # [B, T + 2p, C_in]
    windows = torch.cat([timed[:, i:i + (steps - 1) * stride + 1:stride] for i in range(kernel)], dim=2)
    kernels = self.weight.permute(0, 2, 1).reshape(self.out_channels, -1)      # [C_out, k * C_in], as the windows
    return F.linear(windows, kernels, self.bias).transpose(1, 2)


FAST_CHILDREN = {   # transformers class name -> {its child module's name: the child's replacement forward}
    "WhisperEncoder": {"conv1": conv1d_as_product, "conv2": conv1d_as_product},
}


FAST_LAYERS = {   # transformers class name -> (attributes it must have, replacement forward)
    "BlipAttention": (("qkv", "projection", "scale", "num_heads"), fused_qkv_attention),
    "BlipMLP": (("fc1", "fc2", "activation_fn"), chunked_feed_forward),
    "WhisperEncoderLayer": (("self_attn", "self_attn_layer_norm", "final_layer_norm", "fc1", "fc2", "activation_fn"),
                            chunked_encoder_layer),
    "BlipTextSelfAttention": (("query", "key", "value", "dropout", "num_attention_heads", "attention_head_size"),
                              folded_cross_attention),
    "WhisperAttention": (("q_proj", "k_proj", "v_proj", "out_proj", "scaling", "num_heads"), seq2seq_attention),
}


def use_fast_layers(model: torch.nn.Module) -> int:
    """Switch the model's layers that FAST_LAYERS knows, and the children FAST_CHILDREN names
    of the modules it knows (a Conv1d only inside Whisper's encoder); -> how many."""
    switched = 0
    for module in list(model.modules()):
        needs, forward = FAST_LAYERS.get(type(module).__name__, ((), None))
        if forward is not None and all(hasattr(module, a) for a in needs):
            switched += _switch(module, forward)
        for name, child_forward in FAST_CHILDREN.get(type(module).__name__, {}).items():
            if isinstance(getattr(module, name, None), torch.nn.Conv1d):
                switched += _switch(getattr(module, name), child_forward)
    return switched


def _switch(module: torch.nn.Module, forward) -> int:
    if hasattr(module, "eager_forward"):
        return 0
    module.eager_forward = module.forward
    module.forward = types.MethodType(forward, module)
    return 1
