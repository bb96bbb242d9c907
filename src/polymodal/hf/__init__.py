"""Pretrained Hugging Face models behind polymodal's task interfaces, offline-first.

A directory in Hugging Face layout (or `hf:<repo-id>` found in the local cache) is wrapped
so that it answers the calls polymodal's own models answer for its task; every CLI verb,
`eval` and `pm.load` then work with it unchanged (loading.load_model picks the adapter):

    model_type            task      wraps
    clip                  align     CLIPModel (embed, search, zero-/few-shot classify)
    blip                  caption   BlipForConditionalGeneration
    vision-encoder-decoder caption  VisionEncoderDecoderModel (e.g. ViT + GPT-2)
    owlvit, owlv2         ground    OWL-ViT / OWLv2 zero-shot detection
    vilt                  vqa       ViltForQuestionAnswering
    whisper               transcribe WhisperForConditionalGeneration
    vits                  speak     VitsModel (MMS-TTS)
    videomae, timesformer, vivit
                          video-classify  video classifiers (their classes; pooled features to embed clips)
    xclip                 video-align     X-CLIP (embed clips and texts, zero-shot classify clips)
    llava, llava_next, idefics3, smolvlm, qwen2_vl, qwen2_5_vl, paligemma, florence2
                          vlm       image-text-to-text models as chat models (hf/chat.py)

A diffusers pipeline folder (model_index.json) is served by hf/diffusion.py. hf/loading.py
finds and loads folders offline, for the adapters and for the pretrained encoders alike.
Importing this package registers the adapters in HF_ADAPTERS (hf/registry.py).
"""
from . import chat, speech, video, vision  # noqa: F401  (each registers its adapters)
