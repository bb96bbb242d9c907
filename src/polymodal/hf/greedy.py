"""Which generation configs ask for plain greedy decoding: the argmax of the raw logits at
each step, the tokens polymodal's own decoding loops (hf/blip_greedy.py, hf/whisper_greedy.py)
take. A config that asks for anything more goes to transformers' generate."""
from __future__ import annotations

# generation-config fields that add a logits processor or a stopping rule -> their values
# that add none; a config with any other value is left to transformers
NEUTRAL = {
    "repetition_penalty": (None, 1.0), "encoder_repetition_penalty": (None, 1.0),
    "no_repeat_ngram_size": (None, 0), "encoder_no_repeat_ngram_size": (None, 0),
    "min_length": (None, 0), "min_new_tokens": (None, 0), "bad_words_ids": (None,), "sequence_bias": (None,),
    "forced_bos_token_id": (None,), "forced_eos_token_id": (None,), "suppress_tokens": (None,),
    "begin_suppress_tokens": (None,), "exponential_decay_length_penalty": (None,),
    "renormalize_logits": (None, False), "guidance_scale": (None, 1.0), "stop_strings": (None,),
    "max_time": (None,), "watermarking_config": (None,), "prompt_lookup_num_tokens": (None,),
    "assistant_model": (None,), "do_sample": (None, False),
}


def plain_greedy(generation_config, handled: tuple[str, ...] = ()) -> bool:
    """Whether greedy decoding under this config is the argmax of the raw logits at each step,
    apart from the fields in `handled`, which the caller's loop applies itself."""
    return all(getattr(generation_config, name, None) in neutral for name, neutral in NEUTRAL.items()
               if name not in handled)
