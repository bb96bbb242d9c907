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
    from transformers import (
        BlipConfig,
        BlipForConditionalGeneration,
        BlipImageProcessorPil,
        BlipProcessor,
    )
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
    from transformers import (
        GPT2Config,
        GPT2Tokenizer,
        VisionEncoderDecoderConfig,
        VisionEncoderDecoderModel,
        ViTConfig,
        ViTImageProcessorPil,
    )
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
    from transformers import (
        OwlViTConfig,
        OwlViTForObjectDetection,
        OwlViTImageProcessorPil,
        OwlViTProcessor,
    )
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
    from transformers import (
        ViltConfig,
        ViltForQuestionAnswering,
        ViltImageProcessorPil,
        ViltProcessor,
    )
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


WHISPER_SPECIALS = ["<|endoftext|>", "<|startoftranscript|>", "<|en|>", "<|translate|>", "<|transcribe|>",
                    "<|startoflm|>", "<|startofprev|>", "<|nocaptions|>", "<|notimestamps|>"]


def build_whisper(folder: Path, seconds: int = 3) -> Path:
    """A Whisper with a window of `seconds` (the feature extractor's window and the encoder's
    positions agree: 50 per second)."""
    import torch
    from transformers import (
        GenerationConfig,
        WhisperConfig,
        WhisperFeatureExtractor,
        WhisperForConditionalGeneration,
        WhisperProcessor,
        WhisperTokenizer,
    )
    vocab = byte_level_vocab([])
    tok = WhisperTokenizer(vocab=vocab, merges=[])
    tok.add_special_tokens({"additional_special_tokens": WHISPER_SPECIALS})
    ids = tok.convert_tokens_to_ids
    end, start = ids("<|endoftext|>"), ids("<|startoftranscript|>")
    torch.manual_seed(0)
    config = WhisperConfig(vocab_size=len(tok), d_model=32, encoder_layers=1, decoder_layers=1, encoder_attention_heads=2,
                           decoder_attention_heads=2, encoder_ffn_dim=64, decoder_ffn_dim=64, max_source_positions=50 * seconds,
                           max_target_positions=64, num_mel_bins=80, pad_token_id=end, bos_token_id=end,
                           eos_token_id=end, decoder_start_token_id=start)
    model = WhisperForConditionalGeneration(config)
    model.generation_config = GenerationConfig(
        decoder_start_token_id=start, eos_token_id=end, pad_token_id=end, max_length=32,
        no_timestamps_token_id=ids("<|notimestamps|>"), lang_to_id={"<|en|>": ids("<|en|>")},
        task_to_id={"transcribe": ids("<|transcribe|>"), "translate": ids("<|translate|>")}, is_multilingual=True,
        begin_suppress_tokens=[], suppress_tokens=[])
    model.save_pretrained(str(folder))
    WhisperProcessor(WhisperFeatureExtractor(feature_size=80, chunk_length=seconds), tok).save_pretrained(str(folder))
    return folder


def build_vits(folder: Path) -> Path:
    import json

    import torch
    from transformers import VitsConfig, VitsModel, VitsTokenizer
    folder.mkdir(parents=True, exist_ok=True)
    vocab = {c: i for i, c in enumerate(["<pad>", *" abcdefghijklmnopqrstuvwxyz'?,.", "<unk>"])}
    (folder / "vocab.json").write_text(json.dumps(vocab))
    tok = VitsTokenizer(str(folder / "vocab.json"), add_blank=True, normalize=True, phonemize=False, is_uroman=False)
    torch.manual_seed(0)
    config = VitsConfig(vocab_size=len(vocab), hidden_size=32, num_hidden_layers=1, num_attention_heads=2, ffn_dim=64,
                        flow_size=32, spectrogram_bins=65, upsample_initial_channel=32, upsample_rates=[8, 8],
                        upsample_kernel_sizes=[16, 16], resblock_kernel_sizes=[3], resblock_dilation_sizes=[[1, 3]],
                        prior_encoder_num_flows=1, posterior_encoder_num_wavenet_layers=1,
                        prior_encoder_num_wavenet_layers=1, duration_predictor_filter_channels=32,
                        duration_predictor_num_flows=1, depth_separable_num_layers=1, sampling_rate=16000)
    VitsModel(config).save_pretrained(str(folder))
    tok.save_pretrained(str(folder))
    return folder


BUILDERS.update({"whisper": build_whisper, "vits": build_vits})


def build_stable_diffusion(folder: Path) -> Path:
    """A Stable-Diffusion-layout pipeline (UNet, VAE, CLIP text encoder and tokenizer, DDIM
    scheduler) with random weights, drawing 64x64 images from 8x8 latents."""
    import torch
    from diffusers import (
        AutoencoderKL,
        DDIMScheduler,
        StableDiffusionPipeline,
        UNet2DConditionModel,
    )
    from transformers import CLIPTextConfig, CLIPTextModel
    tok = clip_tokenizer()
    torch.manual_seed(0)
    unet = UNet2DConditionModel(sample_size=8, in_channels=4, out_channels=4, layers_per_block=1,
                                block_out_channels=(8, 16), down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
                                up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"), cross_attention_dim=TINY["hidden_size"],
                                attention_head_dim=4, norm_num_groups=4)
    vae = AutoencoderKL(in_channels=3, out_channels=3, latent_channels=4, norm_num_groups=4, layers_per_block=1,
                        block_out_channels=(4, 4, 4, 4), down_block_types=("DownEncoderBlock2D",) * 4,
                        up_block_types=("UpDecoderBlock2D",) * 4, sample_size=64)
    text = CLIPTextModel(CLIPTextConfig(**TINY, vocab_size=len(tok), max_position_embeddings=16, bos_token_id=0,
                                        eos_token_id=1, pad_token_id=1))
    pipe = StableDiffusionPipeline(vae=vae, text_encoder=text, tokenizer=tok, unet=unet, scheduler=DDIMScheduler(),
                                   safety_checker=None, feature_extractor=None, requires_safety_checker=False)
    pipe.save_pretrained(str(folder))
    return folder


def build_vision_backbone(folder: Path, family: str) -> Path:
    """A tiny random vision backbone of a real family (vit, dinov2, convnext, resnet, siglip),
    with its image processor, as `hf-image` reads it."""
    import torch
    import transformers as t
    torch.manual_seed(0)
    conv = dict(num_channels=3, hidden_sizes=[8, 16], depths=[1, 1])
    model = {
        "vit": lambda: t.ViTModel(t.ViTConfig(**VISION)),
        "dinov2": lambda: t.Dinov2Model(t.Dinov2Config(**VISION)),
        "convnext": lambda: t.ConvNextModel(t.ConvNextConfig(num_stages=2, **conv)),
        "resnet": lambda: t.ResNetModel(t.ResNetConfig(embedding_size=8, **conv)),
        "siglip": lambda: t.SiglipVisionModel(t.SiglipVisionConfig(**VISION)),
    }[family]()
    model.save_pretrained(str(folder))
    size = {"convnext": {"shortest_edge": 32}}.get(family, {"height": 32, "width": 32})
    processor = t.ConvNextImageProcessorPil(size=size, crop_pct=1.0) if family == "convnext" else \
        t.ViTImageProcessorPil(size=size)
    processor.save_pretrained(str(folder))
    return folder


def build_audio_backbone(folder: Path, family: str) -> Path:
    """A tiny random audio encoder of a real family (wav2vec2, hubert, ast, clap), with its feature
    extractor, as `hf-audio` reads it (Whisper: build_whisper)."""
    import torch
    import transformers as t
    torch.manual_seed(0)
    # 320 samples a frame, as the real models (whose seven convolutions stride 5, 2, 2, 2, 2, 2, 2)
    speech = dict(TINY, conv_dim=(16, 16, 16), conv_stride=(5, 8, 8), conv_kernel=(10, 8, 8), num_conv_pos_embeddings=16,
                  num_conv_pos_embedding_groups=2, feat_extract_norm="layer", do_stable_layer_norm=True)
    model = {
        "wav2vec2": lambda: t.Wav2Vec2Model(t.Wav2Vec2Config(**speech)),
        "hubert": lambda: t.HubertModel(t.HubertConfig(**speech)),
        "ast": lambda: t.ASTModel(t.ASTConfig(**TINY, patch_size=16, frequency_stride=16, time_stride=16,
                                              max_length=64, num_mel_bins=32)),
        # the whole two-tower model, as CLAP checkpoints are saved; a 2 s window at 48 kHz
        "clap": lambda: t.ClapModel(t.ClapConfig(
            text_config=dict(TINY, vocab_size=50, max_position_embeddings=40, projection_dim=16),
            audio_config=dict(hidden_size=32, patch_embeds_hidden_size=16, depths=[1, 1], num_attention_heads=[2, 2],
                              window_size=8, spec_size=256, num_mel_bins=64, patch_stride=[4, 4], projection_dim=16,
                              enable_fusion=False), projection_dim=16)),
    }[family]()
    model.save_pretrained(str(folder))
    extractor = {
        "ast": lambda: t.ASTFeatureExtractor(max_length=64, num_mel_bins=32),
        "clap": lambda: t.ClapFeatureExtractor(feature_size=64, sampling_rate=48000, max_length_s=2,
                                               fft_window_size=1024, hop_length=480, truncation="rand_trunc",
                                               padding="repeatpad"),
    }.get(family, lambda: t.Wav2Vec2FeatureExtractor(feature_size=1, sampling_rate=16000, padding_value=0.0,
                                                      do_normalize=True, return_attention_mask=True))()
    extractor.save_pretrained(str(folder))
    return folder


def chat_tokenizer(specials: list[str], **named: str):
    """A byte-level BPE with no merges built with the `tokenizers` library (so no sentencepiece
    file), whose `specials` come first and stay whole; `named`: bos/eos/pad tokens, and the extra
    special tokens a processor reads as attributes (image_token)."""
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast
    backend = Tokenizer(models.BPE(vocab=byte_level_vocab(specials), merges=[]))
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    backend.add_special_tokens([AddedToken(s, special=True, normalized=False) for s in specials])
    roles = {k: named.pop(k) for k in ("bos_token", "eos_token", "pad_token") if k in named}
    return PreTrainedTokenizerFast(tokenizer_object=backend, extra_special_tokens=named, **roles)


def chat_template(head: str, image: str, end: str, start: str = "", images_first: bool = False) -> str:
    """A Jinja chat template: `start`, then each message as `head` (its role in place of {role},
    {Role} or {ROLE}), its text with `image` for each image item (all before the text if
    `images_first`), and `end`; the generation prompt is the assistant's head. Every literal is a
    Jinja string, which block trimming leaves whole."""
    import json
    roles = {"{role}": "m['role']", "{Role}": "m['role'] | capitalize", "{ROLE}": "m['role'] | upper"}
    role = json.dumps(head)
    for key, value in roles.items():
        role = role.replace(key, f'" ~ ({value}) ~ "')
    said = lambda text: "{{ " + json.dumps(text) + " }}" if text else ""
    items = ("{% for c in m['content'] if c['type'] == 'image' %}" + said(image) + "{% endfor %}"
             "{% for c in m['content'] if c['type'] == 'text' %}{{ c['text'] }}{% endfor %}" if images_first else
             "{% for c in m['content'] %}{% if c['type'] == 'image' %}" + said(image)
             + "{% elif c['type'] == 'text' %}{{ c['text'] }}{% endif %}{% endfor %}")
    assistant = head.format(role="assistant", Role="Assistant", ROLE="ASSISTANT")
    return (said(start) + "{% for m in messages %}{{ " + role + " }}{% if m['content'] is string %}"
            "{{ m['content'] }}{% else %}" + items + "{% endif %}" + said(end) + "{% endfor %}"
            "{% if add_generation_prompt %}" + said(assistant) + "{% endif %}")


def save_chat_model(folder: Path, model, *parts, **generation) -> Path:
    """Save `model`, its generation ending at the tokenizer's eos, and `parts` (its processor, or an
    image processor and a tokenizer) in `folder`. Untrained, a model may end its reply at once:
    its first token is never the end, so that every reply has a text to check (that Florence-2's
    decoder start token, its end token too, is not taken for the reply's end)."""
    from transformers import GenerationConfig
    tok = getattr(parts[0], "tokenizer", parts[-1])
    model.generation_config = GenerationConfig(bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
                                               pad_token_id=tok.pad_token_id, begin_suppress_tokens=[tok.eos_token_id],
                                               **generation)
    model.save_pretrained(str(folder))
    for part in parts:
        part.save_pretrained(str(folder))
    return folder


LLAMA_CHAT = dict(head="{ROLE}: ", image="<image>\n", end="\n", start="<s>")


def llama_text(tok, **extra) -> dict:
    """A tiny Llama text config over `tok`'s vocabulary and special ids."""
    return dict(TINY, model_type="llama", vocab_size=len(tok), max_position_embeddings=512, bos_token_id=tok.bos_token_id,
                eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id, **extra)


def build_llava(folder: Path) -> Path:
    """A LLaVA-1.5 (CLIP vision tower, Llama text model): 16 image tokens an image."""
    import torch
    from transformers import CLIPImageProcessorPil, LlavaConfig, LlavaForConditionalGeneration, LlavaProcessor
    tok = chat_tokenizer(["<unk>", "<s>", "</s>", "<pad>", "<image>"], bos_token="<s>", eos_token="</s>",
                         pad_token="<pad>", image_token="<image>")
    images = CLIPImageProcessorPil(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})
    processor = LlavaProcessor(images, tok, patch_size=8, vision_feature_select_strategy="default",
                               num_additional_image_tokens=1, chat_template=chat_template(**LLAMA_CHAT))
    torch.manual_seed(0)
    config = LlavaConfig(vision_config=dict(VISION, model_type="clip_vision_model"), text_config=llama_text(tok),
                         image_token_index=tok.convert_tokens_to_ids("<image>"), image_seq_length=16,
                         vision_feature_layer=-1)
    return save_chat_model(folder, LlavaForConditionalGeneration(config), processor)


def build_llava_next(folder: Path) -> Path:
    """A LLaVA-NeXT: images tiled by the best of 32 and 64 px grids, plus the whole image, 16
    tokens a tile."""
    import torch
    from transformers import (
        LlavaNextConfig,
        LlavaNextForConditionalGeneration,
        LlavaNextImageProcessorPil,
        LlavaNextProcessor,
    )
    tok = chat_tokenizer(["<unk>", "<s>", "</s>", "<pad>", "<image>"], bos_token="<s>", eos_token="</s>",
                         pad_token="<pad>", image_token="<image>")
    grid = [[32, 32], [32, 64], [64, 32], [64, 64]]
    images = LlavaNextImageProcessorPil(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32},
                                        image_grid_pinpoints=grid)
    processor = LlavaNextProcessor(images, tok, patch_size=8, vision_feature_select_strategy="default",
                                   num_additional_image_tokens=1, chat_template=chat_template(**LLAMA_CHAT))
    torch.manual_seed(0)
    config = LlavaNextConfig(vision_config=dict(VISION, model_type="clip_vision_model"), text_config=llama_text(tok),
                             image_token_index=tok.convert_tokens_to_ids("<image>"), image_grid_pinpoints=grid,
                             image_seq_length=16, vision_feature_layer=-1)
    return save_chat_model(folder, LlavaNextForConditionalGeneration(config), processor)


IDEFICS_SPECIALS = ["<|begin_of_text|>", "<|end_of_text|>", "<pad>", "<fake_token_around_image>", "<image>",
                    "<global-img>", "<end_of_utterance>"]


def build_idefics3(folder: Path, family: str = "idefics3") -> Path:
    """An Idefics3 (or, family="smolvlm", a SmolVLM): SigLIP-like 32 px vision, pixel shuffle by 2
    (4 image tokens an image), no image splitting; turns end with <end_of_utterance>, the eos.
    Both get the Idefics3 processor: SmolVLM's own wants a video processor (torchvision) and num2words."""
    import torch
    import transformers as t
    name = {"idefics3": "Idefics3", "smolvlm": "SmolVLM"}[family]
    tok = chat_tokenizer(IDEFICS_SPECIALS, bos_token="<|begin_of_text|>", eos_token="<end_of_utterance>",
                         pad_token="<pad>", image_token="<image>")
    images = t.Idefics3ImageProcessorPil(size={"longest_edge": 32}, max_image_size={"longest_edge": 32},
                                         do_image_splitting=False)
    template = chat_template(head="{Role}:", image="<image>", end="<end_of_utterance>\n", start="<|begin_of_text|>")
    processor = t.Idefics3Processor(images, tok, image_seq_len=4, chat_template=template)
    torch.manual_seed(0)
    config = getattr(t, f"{name}Config")(vision_config=dict(VISION), text_config=llama_text(tok), scale_factor=2,
                                         image_token_id=tok.convert_tokens_to_ids("<image>"),
                                         pad_token_id=tok.pad_token_id)
    return save_chat_model(folder, getattr(t, f"{name}ForConditionalGeneration")(config), processor)


def build_smolvlm(folder: Path) -> Path:
    """A SmolVLM (the Idefics3 layout and processor)."""
    return build_idefics3(folder, family="smolvlm")


QWEN_SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|vision_start|>", "<|vision_end|>",
                 "<|image_pad|>", "<|video_pad|>"]


def build_qwen2_vl(folder: Path, family: str = "qwen2_vl") -> Path:
    """A Qwen2-VL (or, family="qwen2_5_vl", a Qwen2.5-VL): 8 px patches merged 2x2, images
    resized to 32x32 pixels (4 image tokens, `image_grid_thw` [1, 4, 4]); turns end with
    <|im_end|>, the eos."""
    import torch
    import transformers as t
    name = {"qwen2_vl": "Qwen2VL", "qwen2_5_vl": "Qwen2_5_VL"}[family]
    tok = chat_tokenizer(QWEN_SPECIALS, eos_token="<|im_end|>", pad_token="<|endoftext|>", image_token="<|image_pad|>",
                         video_token="<|video_pad|>")
    images = t.Qwen2VLImageProcessorPil(size={"shortest_edge": 32 * 32, "longest_edge": 32 * 32}, patch_size=8,
                                        temporal_patch_size=2, merge_size=2)
    template = chat_template(head="<|im_start|>{role}\n", image="<|vision_start|><|image_pad|><|vision_end|>",
                             end="<|im_end|>\n")
    vision = dict(depth=1, num_heads=2, patch_size=8, spatial_merge_size=2, temporal_patch_size=2)
    vision.update(dict(embed_dim=32, hidden_size=32) if family == "qwen2_vl" else
                  dict(hidden_size=32, intermediate_size=64, out_hidden_size=32, window_size=32, fullatt_block_indexes=[0]))
    ids = tok.convert_tokens_to_ids
    torch.manual_seed(0)
    config = getattr(t, f"{name}Config")(
        vision_config=vision, text_config=dict(TINY, vocab_size=len(tok), max_position_embeddings=512,
                                               num_key_value_heads=2, bos_token_id=None, eos_token_id=tok.eos_token_id,
                                               pad_token_id=tok.pad_token_id,
                                               rope_parameters=dict(rope_type="default", mrope_section=[2, 3, 3])),
        image_token_id=ids("<|image_pad|>"), video_token_id=ids("<|video_pad|>"),
        vision_start_token_id=ids("<|vision_start|>"), vision_end_token_id=ids("<|vision_end|>"))
    tok.chat_template = template
    # the real checkpoints' layout (preprocessor_config.json, the tokenizer with the chat template):
    # a Qwen2VLProcessor wants a video processor (torchvision) beside, so is not made here
    return save_chat_model(folder, getattr(t, f"{name}ForConditionalGeneration")(config), images, tok)


def build_qwen2_5_vl(folder: Path) -> Path:
    """A Qwen2.5-VL (the Qwen2-VL layout, windowed vision attention)."""
    return build_qwen2_vl(folder, family="qwen2_5_vl")


def build_paligemma(folder: Path) -> Path:
    """A PaliGemma (SigLIP vision, Gemma text): 16 image tokens an image; the template puts a
    message's images before its text, the processor a <bos> after the last <image> and a newline
    after the prompt, and it wants images."""
    import torch
    from transformers import (
        PaliGemmaConfig,
        PaliGemmaForConditionalGeneration,
        PaliGemmaProcessor,
        SiglipImageProcessorPil,
    )
    tok = chat_tokenizer(["<pad>", "<eos>", "<bos>", "<unk>", "<image>"], bos_token="<bos>", eos_token="<eos>",
                         pad_token="<pad>", image_token="<image>")
    images = SiglipImageProcessorPil(size={"height": 32, "width": 32})
    images.image_seq_length = 16
    template = chat_template(head="", image="<image>", end="", images_first=True)
    processor = PaliGemmaProcessor(images, tok, chat_template=template)
    torch.manual_seed(0)           # the processor added PaliGemma's <loc....> and <seg...> tokens: size after it
    text = dict(TINY, vocab_size=len(tok), num_key_value_heads=1, head_dim=16, max_position_embeddings=512,
                bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id)
    config = PaliGemmaConfig(vision_config=dict(VISION, model_type="siglip_vision_model"), text_config=text,
                             image_token_index=tok.convert_tokens_to_ids("<image>"), vocab_size=len(tok),
                             projection_dim=32, hidden_size=32)
    return save_chat_model(folder, PaliGemmaForConditionalGeneration(config), processor)


def build_florence2(folder: Path) -> Path:
    """A Florence-2 (two-stage DaViT vision, BART encoder-decoder): 32 px images to 4x4 features
    plus their mean, 17 image tokens; the processor puts <image>, <s> and </s> around each prompt
    itself (one image a prompt), so the template gives only the text."""
    import torch
    from transformers import (
        CLIPImageProcessorPil,
        Florence2Config,
        Florence2ForConditionalGeneration,
        Florence2Processor,
    )
    tok = chat_tokenizer(["<s>", "<pad>", "</s>", "<unk>", "<image>"], bos_token="<s>", eos_token="</s>",
                         pad_token="<pad>", image_token="<image>")
    images = CLIPImageProcessorPil(size={"height": 32, "width": 32}, do_center_crop=False)
    images.image_seq_length = 17
    processor = Florence2Processor(images, tok)
    processor.chat_template = chat_template(head="", image="", end="")
    vision = dict(depths=[1, 1], patch_size=[7, 3], patch_stride=[4, 2], patch_padding=[3, 1], patch_prenorm=[False, True],
                  embed_dim=[16, 32], num_heads=[1, 2], num_groups=[1, 2], window_size=2, projection_dim=32,
                  max_position_embeddings=8, drop_path_rate=0.0)
    text = dict(model_type="bart", vocab_size=len(tok), d_model=32, encoder_layers=1, decoder_layers=1,
                encoder_attention_heads=2, decoder_attention_heads=2, encoder_ffn_dim=64, decoder_ffn_dim=64,
                max_position_embeddings=512, bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
                pad_token_id=tok.pad_token_id, decoder_start_token_id=tok.eos_token_id)
    torch.manual_seed(0)
    config = Florence2Config(vision_config=vision, text_config=text, image_token_id=tok.convert_tokens_to_ids("<image>"))
    return save_chat_model(folder, Florence2ForConditionalGeneration(config), processor,
                           decoder_start_token_id=tok.eos_token_id)


# -- video models: 4 frames of 32x32 --------------------------------------------------------
VIDEO_LABELS = {0: "sliding", 1: "bouncing", 2: "still"}


def video_processor():
    from transformers import VideoMAEImageProcessorPil
    return VideoMAEImageProcessorPil(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})


def build_videomae(folder: Path) -> Path:
    import torch
    from transformers import VideoMAEConfig, VideoMAEForVideoClassification
    torch.manual_seed(0)
    config = VideoMAEConfig(**VISION, num_frames=4, tubelet_size=2, id2label=VIDEO_LABELS,
                            label2id={v: k for k, v in VIDEO_LABELS.items()})
    VideoMAEForVideoClassification(config).save_pretrained(str(folder))
    video_processor().save_pretrained(str(folder))
    return folder


def build_timesformer(folder: Path) -> Path:
    import torch
    from transformers import TimesformerConfig, TimesformerForVideoClassification
    torch.manual_seed(0)
    config = TimesformerConfig(**VISION, num_frames=4, id2label=VIDEO_LABELS, label2id={v: k for k, v in VIDEO_LABELS.items()})
    TimesformerForVideoClassification(config).save_pretrained(str(folder))
    video_processor().save_pretrained(str(folder))
    return folder


def build_vivit(folder: Path) -> Path:
    import torch
    from transformers import VivitConfig, VivitForVideoClassification, VivitImageProcessor
    torch.manual_seed(0)
    config = VivitConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2,
                         image_size=32, num_frames=4, tubelet_size=[2, 8, 8], id2label=VIDEO_LABELS,
                         label2id={v: k for k, v in VIDEO_LABELS.items()})
    VivitForVideoClassification(config).save_pretrained(str(folder))
    VivitImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}).save_pretrained(str(folder))
    return folder


def build_xclip(folder: Path) -> Path:
    import torch
    from transformers import XCLIPConfig, XCLIPModel, XCLIPProcessor
    tok = clip_tokenizer()
    torch.manual_seed(0)
    tok.model_max_length = 32                       # "a photo of a bouncing." is 22 byte-level tokens
    config = XCLIPConfig(text_config=dict(TINY, vocab_size=len(tok), max_position_embeddings=32, bos_token_id=0,
                                          eos_token_id=1, pad_token_id=1),
                         vision_config=dict(VISION, num_frames=4, mit_hidden_size=32, mit_intermediate_size=64,
                                            mit_num_hidden_layers=1, mit_num_attention_heads=2),
                         projection_dim=32, prompt_layers=1, prompt_num_attention_heads=2)
    XCLIPModel(config).save_pretrained(str(folder))
    XCLIPProcessor(video_processor(), tok).save_pretrained(str(folder))
    return folder
