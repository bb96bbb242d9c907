"""Greedy captioning with BLIP's text decoder in polymodal's own loop.

transformers' generate takes each new token through its generation machinery (logits
processors, stopping criteria, a cache that grows by concatenation, masks built again at each
step) and through the decoder's layers with their keyword plumbing; on a CPU that bookkeeping
costs a few percent of a BLIP-base batch (docs/performance.md: 1.02x in fp32, 1.07x in bf16
at batch 8), most of a small model's step. This loop
calls the same modules (so the same weights, precision and int8 layers) on one new token at a
time, with the self-attention keys and values in a buffer allocated once and the image side
of the cross-attention prepared once, and takes the tokens greedy decoding takes: the most
probable at each step, a caption finished at the end token, padded after it, the batch done
when every caption is finished or the cap is reached.

One computation differs: the self-attention runs through torch's fused kernel, whose scores
stay in fp32 accumulators, where transformers' layer rounds them to the precision it runs in.
In fp32 the tokens are generate's; in bf16 they can part where two words are near a tie (7 of
16 random images' captions on a BLIP-base of random weights drawn at 0.02, each form giving the
fp32 caption for 5; with the scores rounded as transformers does, 16 of 16 were generate's).

It serves only generation configs that ask for plain greedy decoding (hf/greedy.py `plain_greedy`);
anything more (a repetition penalty, a minimum length, ...) goes to transformers' generate."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .fast_layers import fold_from, folded_cross_attention, plain_projections


class _CrossAttention:
    """One layer's cross-attention to the image tokens, prepared once for every step: folded
    (hf/fast_layers.py) where it pays and the projections are plain, else with the image's keys
    and values projected once."""

    def __init__(self, attention, image: torch.Tensor):
        self.attention, self.image = attention, image
        self.folded = plain_projections(attention.key, attention.value) and len(image) >= fold_from(image)
        if not self.folded:
            self.keys, self.values = (_heads(attention, projection(image)) for projection in (attention.key,
                                                                                              attention.value))

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if self.folded:
            return folded_cross_attention(self.attention, x, encoder_hidden_states=self.image)[0]
        query = _heads(self.attention, self.attention.query(x))
        return _merged(F.scaled_dot_product_attention(query, self.keys.to(query.dtype), self.values.to(query.dtype)))


def _heads(attention, x: torch.Tensor) -> torch.Tensor:
    """[B, T, H*d] -> [B, H, T, d]"""
    batch, tokens, _ = x.shape
    return x.view(batch, tokens, attention.num_attention_heads, attention.attention_head_size).transpose(1, 2)


def _merged(context: torch.Tensor) -> torch.Tensor:
    """[B, H, T, d] -> [B, T, H*d]"""
    batch, heads, tokens, size = context.shape
    return context.transpose(1, 2).reshape(batch, tokens, heads * size)


class _SelfAttentionCache:
    """One layer's keys and values of the tokens so far, in a buffer of `length` positions."""

    def __init__(self, attention, length: int):
        self.attention, self.length, self.keys, self.values = attention, length, None, None

    def __call__(self, x: torch.Tensor, step: int) -> torch.Tensor:
        a = self.attention
        query, key, value = (_heads(a, projection(x)) for projection in (a.query, a.key, a.value))
        if self.keys is None:
            shape = (*key.shape[:2], self.length, key.shape[-1])
            self.keys, self.values = key.new_empty(shape), value.new_empty(shape)
        self.keys[:, :, step] = key[:, :, 0]
        self.values[:, :, step] = value[:, :, 0]
        # one new token sees every token so far: no mask
        return _merged(F.scaled_dot_product_attention(query, self.keys[:, :, :step + 1],
                                                      self.values[:, :, :step + 1]))


def _added_and_normed(output, hidden: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
    """A BERT output block (BertSelfOutput, BertOutput: dense, dropout, LayerNorm of the sum
    with the residual) in inference, where its dropout is the identity: the same operations
    without the calls of the modules around them."""
    norm = output.LayerNorm
    return F.layer_norm(output.dense(hidden) + residual, norm.normalized_shape, norm.weight, norm.bias, norm.eps)


@torch.no_grad()
def greedy_decode(decoder, image: torch.Tensor, start: int, end: int, pad: int, cap: int):
    """BLIP's text decoder (a BlipTextLMHeadModel, in eval mode) on the image tokens [B, N, D],
    from the `start` token, greedily, at most `cap` new tokens -> (token ids [B, 1 + n] with
    the start token first, as transformers' generate returns them; each caption's
    log-probability up to and including its end token, [B])."""
    if decoder.training:
        raise ValueError("greedy_decode runs a decoder in eval mode (its dropout off)")
    bert, head = decoder.bert, decoder.cls
    layers = bert.encoder.layer
    batch = len(image)
    caches = [_SelfAttentionCache(layer.attention.self, cap) for layer in layers]
    cross = [_CrossAttention(layer.crossattention.self, image) for layer in layers]
    embeddings = bert.embeddings
    tokens = [torch.full((batch,), start, dtype=torch.long, device=image.device)]
    logp = torch.zeros(batch, device=image.device)
    unfinished = torch.ones(batch, dtype=torch.bool, device=image.device)
    for step in range(cap):
        x = embeddings.word_embeddings(tokens[-1][:, None]) + embeddings.position_embeddings.weight[step]
        x = embeddings.LayerNorm(x)
        for layer, cache, to_image in zip(layers, caches, cross):
            x = _added_and_normed(layer.attention.output, cache(x, step), x)
            x = _added_and_normed(layer.crossattention.output, to_image(x), x)
            intermediate = layer.intermediate
            x = _added_and_normed(layer.output, intermediate.intermediate_act_fn(intermediate.dense(x)), x)
        scores = head(x)[:, 0].float()
        chosen = scores.argmax(-1)
        step_logp = scores.log_softmax(-1).gather(1, chosen[:, None])[:, 0]
        logp += torch.where(unfinished, step_logp, 0.0)
        chosen = torch.where(unfinished, chosen, pad)
        tokens.append(chosen)
        unfinished &= chosen != end
        if not unfinished.any():
            break
    return torch.stack(tokens, 1), logp
