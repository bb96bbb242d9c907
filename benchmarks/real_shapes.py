"""Random-weight Hugging Face models of real published shapes, saved in Hugging Face layout
with working tokenizer and processor files, for speed benchmarks (speed hardly depends on
the weights' values once they have a trained model's scale; see blip_vision below). The
vocabularies have the real sizes (the output layers cost what they cost in the real models):
the embedded world's words as whole tokens (so prompts are as many tokens long as with the
real tokenizers), single bytes, and fillers.

    build("clip", folder)                  # CLIP ViT-B/32 (openai/clip-vit-base-patch32)
    build("blip", folder)                  # BLIP base captioning (Salesforce/blip-image-captioning-base)
    build("whisper", folder)               # Whisper base
    build("clip", folder, tiny=True)       # the same code on small shapes (a smoke run)
"""
from __future__ import annotations

from pathlib import Path

import torch

# (width, layers, heads) of each transformer stack; the feed-forward is 4x the width, as in
# the published models. A smoke run uses TINY for every stack.
STACKS = {"clip_vision": (768, 12, 12), "clip_text": (512, 12, 8), "blip_vision": (768, 12, 12),
          "blip_text": (768, 12, 12), "whisper": (512, 6, 8)}
TINY = (32, 1, 2)


def stack(width: int, layers: int, heads: int) -> dict:
    return dict(hidden_size=width, num_hidden_layers=layers, num_attention_heads=heads, intermediate_size=4 * width)


def shapes(tiny: bool) -> dict:
    """Each builder's configuration: the real shapes, or small ones for a smoke run."""
    size = {name: TINY if tiny else dims for name, dims in STACKS.items()}
    vocab = (lambda n: 600) if tiny else (lambda n: n)
    side = 32 if tiny else 224
    width, layers, heads = size["whisper"]
    return {
        "clip_vision": dict(stack(*size["clip_vision"]), image_size=side, patch_size=8 if tiny else 32),
        "clip_text": dict(stack(*size["clip_text"]), vocab_size=vocab(49408), max_position_embeddings=77),
        "projection_dim": 16 if tiny else 512, "image_size": side,
        # transformers' BlipVisionConfig draws its weights with a spread of 1e-10: every activation of
        # the tower then stays near 1e-10 or below, and attention scores near 1e-29, where exp (and so
        # softmax, in both tools) runs about 2x slower than on the O(1) scores of a trained model
        "blip_vision": dict(stack(*size["blip_vision"]), image_size=32 if tiny else 384, patch_size=8 if tiny else 16,
                            initializer_range=0.02),
        "blip_text": dict(stack(*size["blip_text"]), vocab_size=vocab(30524), max_position_embeddings=512),
        "whisper": dict(d_model=width, encoder_layers=layers, decoder_layers=layers, encoder_attention_heads=heads,
                        decoder_attention_heads=heads, encoder_ffn_dim=4 * width, decoder_ffn_dim=4 * width,
                        vocab_size=vocab(51865), max_source_positions=1500, max_target_positions=448),
        "chunk_length": 30,
    }


WORDS = ("a photo of the an is what shape colour color object left right above below red green blue yellow "
         "orange purple grey gray circle square triangle star cross").split()
WHISPER_SPECIALS = ["<|endoftext|>", "<|startoftranscript|>", "<|en|>", "<|translate|>", "<|transcribe|>",
                    "<|startoflm|>", "<|startofprev|>", "<|nocaptions|>", "<|notimestamps|>"]


def byte_vocab(specials: list[str], size: int, word_suffix: str = "") -> dict[str, int]:
    """Specials, every byte (and its end-of-word form), then fillers up to `size` tokens."""
    from tokenizers.pre_tokenizers import ByteLevel
    vocab = {s: i for i, s in enumerate(specials)}
    for suffix in ("", word_suffix) if word_suffix else ("",):
        for c in sorted(ByteLevel.alphabet()):
            vocab.setdefault(c + suffix, len(vocab))
    for i in range(len(vocab), size):
        vocab[f"<filler_{i}>"] = i
    return vocab


def word_merges(vocab: dict[str, int], suffix: str) -> list[tuple[str, str]]:
    """BPE merges that build each of WORDS letter by letter into one token (added to vocab)."""
    merges = []
    for word in WORDS:
        pieces = [*word[:-1], word[-1] + suffix]
        token = pieces[0]
        for piece in pieces[1:]:
            merges.append((token, piece))
            token += piece
            vocab.setdefault(token, len(vocab))
    return list(dict.fromkeys(merges))


def build_clip(folder: Path, s: dict) -> None:
    from transformers import (
        CLIPConfig,
        CLIPImageProcessorPil,
        CLIPModel,
        CLIPProcessor,
        CLIPTokenizer,
    )
    text = dict(s["clip_text"])
    vocab = byte_vocab(["<|startoftext|>", "<|endoftext|>"], 0, "</w>")
    merges = word_merges(vocab, "</w>")
    vocab.update({f"<filler_{i}>": i for i in range(len(vocab), text["vocab_size"])})
    tok = CLIPTokenizer(vocab=vocab, merges=merges, model_max_length=text["max_position_embeddings"])
    config = CLIPConfig(text_config=dict(text, bos_token_id=0, eos_token_id=1, pad_token_id=1),
                        vision_config=s["clip_vision"], projection_dim=s["projection_dim"])
    CLIPModel(config).save_pretrained(str(folder))
    side = s["image_size"]
    images = CLIPImageProcessorPil(size={"shortest_edge": side}, crop_size={"height": side, "width": side})
    CLIPProcessor(images, tok).save_pretrained(str(folder))


def build_blip(folder: Path, s: dict) -> None:
    from transformers import (
        BertTokenizer,
        BlipConfig,
        BlipForConditionalGeneration,
        BlipImageProcessorPil,
        BlipProcessor,
    )
    size = s["blip_text"]["vocab_size"]
    words = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS]
    words += [f"filler{i}" for i in range(len(words), size - 2)] + ["[DEC]", "[ENC]"]     # BLIP's two at the end
    (folder / "vocab.txt").write_text("\n".join(words) + "\n")
    tok = BertTokenizer(str(folder / "vocab.txt"), bos_token="[DEC]")
    config = BlipConfig(text_config=dict(s["blip_text"], bos_token_id=size - 2, pad_token_id=0, sep_token_id=3,
                                         eos_token_id=3),
                        vision_config=s["blip_vision"], projection_dim=512)
    BlipForConditionalGeneration(config).save_pretrained(str(folder))
    side = s["blip_vision"]["image_size"]
    BlipProcessor(BlipImageProcessorPil(size={"height": side, "width": side}), tok).save_pretrained(str(folder))


def build_whisper(folder: Path, s: dict) -> None:
    from transformers import (
        GenerationConfig,
        WhisperConfig,
        WhisperFeatureExtractor,
        WhisperForConditionalGeneration,
        WhisperProcessor,
        WhisperTokenizer,
    )
    size = s["whisper"]["vocab_size"]
    tok = WhisperTokenizer(vocab=byte_vocab([], size - len(WHISPER_SPECIALS)), merges=[])
    tok.add_special_tokens({"additional_special_tokens": WHISPER_SPECIALS})
    tok.pad_token = "<|endoftext|>"          # as in the published tokenizers (pipelines batch with it)
    ids = tok.convert_tokens_to_ids
    end, start = ids("<|endoftext|>"), ids("<|startoftranscript|>")
    config = WhisperConfig(**s["whisper"], num_mel_bins=80, pad_token_id=end, bos_token_id=end, eos_token_id=end,
                           decoder_start_token_id=start)
    model = WhisperForConditionalGeneration(config)
    model.generation_config = GenerationConfig(
        decoder_start_token_id=start, eos_token_id=end, pad_token_id=end, max_length=s["whisper"]["max_target_positions"],
        no_timestamps_token_id=ids("<|notimestamps|>"), lang_to_id={"<|en|>": ids("<|en|>")},
        task_to_id={"transcribe": ids("<|transcribe|>"), "translate": ids("<|translate|>")}, is_multilingual=True,
        # the prompt form the published multilingual checkpoints' configs carry: the language
        # left to detection, then the transcribe task
        forced_decoder_ids=[[1, None], [2, ids("<|transcribe|>")]], begin_suppress_tokens=[], suppress_tokens=[])
    model.save_pretrained(str(folder))
    extractor = WhisperFeatureExtractor(feature_size=80, chunk_length=s["chunk_length"])
    WhisperProcessor(extractor, tok).save_pretrained(str(folder))


BUILDERS = {"clip": build_clip, "blip": build_blip, "whisper": build_whisper}


def build(name: str, folder: Path, tiny: bool = False, seed: int = 0, spread: float | None = None) -> Path:
    """spread: the standard deviation of the random weights (transformers' initializer_range,
    Whisper's init_std) in place of the published configs' 0.02, under which a caption or
    transcript hardly depends on the input: agreement benchmarks on varied inputs use a wider
    spread, so that their outputs differ from input to input and a disagreement can show."""
    folder.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    s = shapes(tiny)
    if spread is not None:
        for stack_name in STACKS:
            s[stack_name]["init_std" if stack_name == "whisper" else "initializer_range"] = spread
    BUILDERS[name](folder, s)
    return folder


def limit_new_tokens(folder: Path, n: int) -> None:
    """A benchmark's tools read the model's generation config: cap the new tokens there."""
    if n:
        from transformers import GenerationConfig
        config = GenerationConfig.from_pretrained(str(folder))
        config.max_new_tokens = n
        config.save_pretrained(str(folder))
