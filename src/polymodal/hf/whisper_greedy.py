"""Greedy recognition of one window of audio with Whisper's decoder in polymodal's own loop.

Whisper's generate detects the language with a decoder pass of its own, builds the prompt
(start, language, no-timestamps), then takes each new token through transformers' generation
machinery: a cache grown by concatenation, a causal mask and positions built again at every
step, logits processors, stopping criteria, and the decoder's per-layer keyword plumbing. This
loop calls the same modules in the same order on the same tensors: the language from a pass
over the start token alone (as generate detects it), the prompt in one pass, then one token at
a time, with the self-attention keys and values in buffers allocated once and the audio side
of the cross-attention prepared once (folded, hf/fast_layers.py, or its keys and values
projected once). It applies the two logits processors Whisper's generate adds for this
prompt, suppress_tokens at every step and begin_suppress_tokens at the first, stops a
transcript at its end token, and returns the tokens as generate does (each transcript up to
its end token, padded on the right).

It serves the configs for which that is all generate does (`serves`): greedy, no timestamps,
no language or task set, no thresholds for temperature fallback or no-speech detection, and
otherwise plain greedy (hf/greedy.py). The prompt may come in the deprecated
`forced_decoder_ids` form, which the published checkpoints' generation configs carry
(multilingual ones: [[1, None], [2, <|transcribe|>]], the language left to detection); it is
read as generate reads it (`forced_prompt`). Anything else goes to Whisper's generate. Tests
hold its tokens equal to generate's."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .fast_layers import fold_from, folded_attention, plain_projections
from .greedy import plain_greedy

# what Whisper's generate reads from its config that this loop does not reproduce -> the values
# under which generate does what the loop does
WHISPER_NEUTRAL = {
    "language": (None,), "task": (None,), "return_timestamps": (None, False),
    "prompt_ids": (None,), "no_speech_threshold": (None,), "logprob_threshold": (None,),
    "compression_ratio_threshold": (None,), "num_beams": (None, 1), "num_return_sequences": (None, 1),
    "return_token_timestamps": (None, False),
}


def serves(model, new_tokens: int) -> bool:
    """Whether `greedy_transcribe` gives what `model.generate(encoder_outputs=..., max_new_tokens=
    new_tokens)` gives for short-form audio under the model's generation config."""
    config, generation = model.config, model.generation_config
    decoder = model.get_decoder()
    forced = forced_prompt(model)
    return (plain_greedy(generation, handled=("suppress_tokens", "begin_suppress_tokens"))
            and all(getattr(generation, name, None) in neutral for name, neutral in WHISPER_NEUTRAL.items())
            and forced is not None and not config.scale_embedding
            and getattr(generation, "decoder_start_token_id", None) is not None
            # the prompt: start, the forced tokens, a detected language, no-timestamps
            and 1 <= new_tokens and new_tokens + len(forced) + 3 <= config.max_target_positions
            and all(type(layer).__name__ == "WhisperDecoderLayer" for layer in decoder.layers))


def forced_prompt(model) -> list[int | None] | None:
    """The prompt tokens after the start token that a `forced_decoder_ids` setting gives
    (the generation config's, else the model config's), as Whisper's generate reads it:
    the tokens forced at positions 1, 2, ... in a run from 1, a None where the language is
    left to detection; [] for no setting or one that does not start at position 1 (generate
    ignores it); None for one generate refuses (positions past a gap) or that is not
    [position, token] pairs."""
    forced = getattr(model.generation_config, "forced_decoder_ids", None)
    if forced is None:
        forced = getattr(model.config, "forced_decoder_ids", None)
    if forced is None:
        return []
    try:
        pairs = [(int(position), None if token is None else int(token)) for position, token in forced]
    except (TypeError, ValueError):
        return None
    if not pairs or pairs[0][0] != 1:
        return [] if pairs else None
    if [position for position, _ in pairs] != list(range(1, len(pairs) + 1)):
        return None
    return [token for _, token in pairs]


class _SelfAttention:
    """One layer's self-attention with its keys and values in buffers of `length` positions."""

    def __init__(self, attention, length: int):
        self.attention, self.length, self.keys, self.values = attention, length, None, None

    def __call__(self, x: torch.Tensor, past: int) -> torch.Tensor:
        a = self.attention
        batch, tokens, width = x.shape
        heads = (batch, tokens, a.num_heads, a.head_dim)
        query = (a.q_proj(x) * a.scaling).view(heads).transpose(1, 2)
        key, value = (projection(x).view(heads).transpose(1, 2) for projection in (a.k_proj, a.v_proj))
        if self.keys is None:
            shape = (batch, a.num_heads, self.length, a.head_dim)
            self.keys, self.values = key.new_empty(shape), value.new_empty(shape)
        self.keys[:, :, past:past + tokens] = key
        self.values[:, :, past:past + tokens] = value
        # a prompt of several tokens from position 0 is causal; one new token sees all before it
        context = F.scaled_dot_product_attention(query, self.keys[:, :, :past + tokens],
                                                 self.values[:, :, :past + tokens], scale=1.0,
                                                 is_causal=tokens > 1)
        return a.out_proj(context.transpose(1, 2).reshape(batch, tokens, width))


class _CrossAttention:
    """One layer's cross-attention to the audio tokens, prepared once for every step."""

    def __init__(self, attention, audio: torch.Tensor):
        self.attention, self.audio = attention, audio
        self.folded = plain_projections(attention.k_proj, attention.v_proj) and len(audio) >= fold_from(audio, 8)
        if not self.folded:
            heads = (len(audio), -1, attention.num_heads, attention.head_dim)
            self.keys, self.values = (projection(audio).view(heads).transpose(1, 2)
                                      for projection in (attention.k_proj, attention.v_proj))

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        a = self.attention
        query = a.q_proj(x) * a.scaling
        if self.folded:
            context, _ = folded_attention(query, self.audio, a.k_proj.weight, a.v_proj.weight, a.v_proj.bias,
                                          a.num_heads)
            return a.out_proj(context)
        batch, tokens, width = x.shape
        query = query.view(batch, tokens, a.num_heads, a.head_dim).transpose(1, 2)
        context = F.scaled_dot_product_attention(query, self.keys, self.values, scale=1.0)
        return a.out_proj(context.transpose(1, 2).reshape(batch, tokens, width))


class _Decoder:
    """Whisper's decoder and output layer over the tokens at positions [past, past + T)."""

    def __init__(self, model, audio: torch.Tensor, length: int):
        self.model, self.decoder = model, model.get_decoder()
        self.layers = list(self.decoder.layers)
        self.selves = [_SelfAttention(layer.self_attn, length) for layer in self.layers]
        self.crosses = [_CrossAttention(layer.encoder_attn, audio) for layer in self.layers]

    def logits(self, tokens: torch.Tensor, past: int) -> torch.Tensor:
        """[B, T] token ids -> the last position's logits [B, vocabulary] in the model's dtype."""
        decoder = self.decoder
        x = decoder.embed_tokens(tokens) + decoder.embed_positions.weight[past:past + tokens.shape[1]]
        for layer, attend, cross in zip(self.layers, self.selves, self.crosses):
            x = x + attend(layer.self_attn_layer_norm(x), past)
            x = x + cross(layer.encoder_attn_layer_norm(x))
            x = x + layer.fc2(layer.activation_fn(layer.fc1(layer.final_layer_norm(x))))
        return self.model.proj_out(decoder.layer_norm(x))[:, -1]


def _mask(ids, vocabulary: int, device) -> torch.Tensor | None:
    if not ids:
        return None
    mask = torch.zeros(vocabulary, dtype=torch.bool, device=device)
    mask[torch.as_tensor(list(ids), device=device)] = True
    return mask


@torch.no_grad()
def greedy_transcribe(model, audio: torch.Tensor, new_tokens: int) -> torch.Tensor:
    """Whisper's decoder on the encoder's output [B, N, D], greedily, at most `new_tokens` (at
    least one) new tokens -> the new tokens [B, n] as Whisper's generate returns them."""
    generation = model.generation_config
    batch, device = len(audio), audio.device
    start = generation.decoder_start_token_id
    # generate's prompt: start, the forced tokens, the language where none is forced, no-timestamps
    prompt: list[int | torch.Tensor | None] = [start, *forced_prompt(model)]
    if hasattr(generation, "lang_to_id") and (len(prompt) == 1 or prompt[1] is None):
        # the language as generate detects it: a pass over the start token alone
        detect = _Decoder(model, audio, 1).logits(torch.full((batch, 1), start, dtype=torch.long, device=device), 0)
        others = torch.ones_like(detect[0], dtype=torch.bool)
        others[list(generation.lang_to_id.values())] = False
        language = detect.masked_fill(others, float("-inf")).argmax(-1)
        prompt[1:2] = [language]
    no_timestamps = getattr(generation, "no_timestamps_token_id", None)
    if no_timestamps is not None and not (isinstance(prompt[-1], int) and prompt[-1] == no_timestamps):
        prompt.append(no_timestamps)
    prompt = [token if torch.is_tensor(token) else torch.full((batch,), token, dtype=torch.long, device=device)
              for token in prompt if token is not None]
    ends = generation.eos_token_id
    ends = torch.as_tensor([ends] if isinstance(ends, int) else list(ends or []), device=device)
    pad = generation.pad_token_id if generation.pad_token_id is not None else (ends[0].item() if len(ends) else 0)
    vocabulary = model.proj_out.out_features
    suppress = _mask(generation.suppress_tokens, vocabulary, device)
    suppress_first = _mask(generation.begin_suppress_tokens, vocabulary, device)
    decoder = _Decoder(model, audio, len(prompt) + new_tokens)
    tokens, past = torch.stack(prompt, 1), 0
    chosen_tokens = []
    unfinished = torch.ones(batch, dtype=torch.bool, device=device)
    for step in range(new_tokens):
        scores = decoder.logits(tokens, past).float()
        past += tokens.shape[1]
        if suppress is not None:
            scores = scores.masked_fill(suppress, float("-inf"))
        if step == 0 and suppress_first is not None:
            scores = scores.masked_fill(suppress_first, float("-inf"))
        chosen = torch.where(unfinished, scores.argmax(-1), pad)
        chosen_tokens.append(chosen)
        unfinished &= ~torch.isin(chosen, ends)
        if not unfinished.any():
            break
        tokens = chosen[:, None]
    return _as_generate_returns(chosen_tokens, ends, pad)


def _as_generate_returns(steps: list[torch.Tensor], ends: torch.Tensor, pad: int) -> torch.Tensor:
    """The chosen tokens of each step -> [B, n] as Whisper's generate returns short-form
    transcripts: each up to (not including) its end token, padded on the right to the longest."""
    rows = torch.stack(steps, 1).tolist()
    stops = set(ends.tolist())
    rows = [row[:next((i for i, t in enumerate(row) if t in stops), len(row))] for row in rows]
    width = max(len(row) for row in rows)
    return torch.tensor([row + [pad] * (width - len(row)) for row in rows], dtype=torch.long, device=ends.device)
