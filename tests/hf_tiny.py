"""Tiny random Hugging Face models of real architectures, saved in Hugging Face layout with
their tokenizer and processor files, so tests load them through the real code path offline."""
from __future__ import annotations

from pathlib import Path

from tokenizers.pre_tokenizers import ByteLevel

WORDS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a", "an", "the", "red", "green", "blue", "circle",
         "square", "triangle", "what", "is", "shape", "of", "object", "?", "yes", "no", "left", "top"]
TINY = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2)
VISION = dict(TINY, image_size=32, patch_size=8)


def byte_level_vocab(specials: list[str], word_suffix: str = "") -> dict[str, int]:
    """Every byte as a token (plus its end-of-word form): a BPE vocabulary with no merges."""
    vocab = {s: i for i, s in enumerate(specials)}
    for suffix in ("", word_suffix) if word_suffix else ("",):
        for c in sorted(ByteLevel.alphabet()):
            vocab.setdefault(c + suffix, len(vocab))
    return vocab


def clip_tokenizer():
    from transformers import CLIPTokenizer
    vocab = byte_level_vocab(["<|startoftext|>", "<|endoftext|>"], "</w>")
    return CLIPTokenizer(vocab=vocab, merges=[], model_max_length=16)


def bert_tokenizer(folder: Path):
    from transformers import BertTokenizer
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.txt").write_text("\n".join(WORDS) + "\n")
    return BertTokenizer(str(folder / "vocab.txt"))


def build_clip(folder: Path) -> Path:
    import torch
    from transformers import CLIPConfig, CLIPImageProcessorPil, CLIPModel, CLIPProcessor
    tok = clip_tokenizer()
    torch.manual_seed(0)
    config = CLIPConfig(text_config=dict(TINY, vocab_size=len(tok), max_position_embeddings=16, bos_token_id=0,
                                         eos_token_id=1, pad_token_id=1),
                        vision_config=VISION, projection_dim=16)
    CLIPModel(config).save_pretrained(str(folder))
    images = CLIPImageProcessorPil(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})
    CLIPProcessor(images, tok).save_pretrained(str(folder))
    return folder


def build_blip(folder: Path) -> Path:
    import torch
    from transformers import BlipConfig, BlipForConditionalGeneration, BlipImageProcessorPil, BlipProcessor
    tok = bert_tokenizer(folder)
    torch.manual_seed(0)
    config = BlipConfig(text_config=dict(TINY, vocab_size=len(WORDS), max_position_embeddings=32, encoder_hidden_size=32,
                                         bos_token_id=2, pad_token_id=0, sep_token_id=3, eos_token_id=3),
                        vision_config=VISION, projection_dim=16)
    BlipForConditionalGeneration(config).save_pretrained(str(folder))
    BlipProcessor(BlipImageProcessorPil(size={"height": 32, "width": 32}), tok).save_pretrained(str(folder))
    return folder


def build_vit_gpt2(folder: Path) -> Path:
    import torch
    from transformers import (GPT2Config, GPT2Tokenizer, ViTConfig, ViTImageProcessorPil, VisionEncoderDecoderConfig,
                              VisionEncoderDecoderModel)
    vocab = byte_level_vocab(["<|endoftext|>"])
    tok = GPT2Tokenizer(vocab=vocab, merges=[])
    torch.manual_seed(0)
    decoder = GPT2Config(vocab_size=len(vocab), n_embd=32, n_layer=1, n_head=2, n_positions=32, add_cross_attention=True,
                         bos_token_id=0, eos_token_id=0)
    config = VisionEncoderDecoderConfig.from_encoder_decoder_configs(ViTConfig(**VISION), decoder)
    config.decoder_start_token_id = config.pad_token_id = config.eos_token_id = 0
    VisionEncoderDecoderModel(config=config).save_pretrained(str(folder))
    ViTImageProcessorPil(size={"height": 32, "width": 32}).save_pretrained(str(folder))
    tok.save_pretrained(str(folder))
    return folder


def build_owlvit(folder: Path) -> Path:
    import torch
    from transformers import OwlViTConfig, OwlViTForObjectDetection, OwlViTImageProcessorPil, OwlViTProcessor
    tok = clip_tokenizer()
    torch.manual_seed(0)
    config = OwlViTConfig(text_config=dict(TINY, vocab_size=len(tok), max_position_embeddings=16, bos_token_id=0,
                                           eos_token_id=1, pad_token_id=1),
                          vision_config=VISION, projection_dim=32)      # the class head needs text width here
    OwlViTForObjectDetection(config).save_pretrained(str(folder))
    images = OwlViTImageProcessorPil(size={"height": 32, "width": 32}, crop_size={"height": 32, "width": 32})
    OwlViTProcessor(images, tok).save_pretrained(str(folder))
    return folder


def build_vilt(folder: Path) -> Path:
    import torch
    from transformers import ViltConfig, ViltForQuestionAnswering, ViltImageProcessorPil, ViltProcessor
    tok = bert_tokenizer(folder)
    answers = ["yes", "no", "circle", "square", "1", "2"]
    torch.manual_seed(0)
    config = ViltConfig(**VISION, vocab_size=len(WORDS), max_position_embeddings=40, num_labels=len(answers),
                        id2label=dict(enumerate(answers)), label2id={a: i for i, a in enumerate(answers)},
                        max_image_length=-1)
    ViltForQuestionAnswering(config).save_pretrained(str(folder))
    ViltProcessor(ViltImageProcessorPil(size={"shortest_edge": 32}, size_divisor=8), tok).save_pretrained(str(folder))
    return folder


BUILDERS = {"clip": build_clip, "blip": build_blip, "vit-gpt2": build_vit_gpt2, "owlvit": build_owlvit,
            "vilt": build_vilt}
