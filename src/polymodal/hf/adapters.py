"""The adapters, one per task; importing this module registers them in HF_ADAPTERS."""
from __future__ import annotations

import contextlib

import torch
from torch import nn

from .base import HFAdapter, as_arrays
from .loading import HF_ADAPTERS, quiet


def new_token_cap(model, default: int) -> int:
    """The model's own cap on new tokens when its generation config sets one (as pipelines
    read it), else `default`."""
    return getattr(getattr(model, "generation_config", None), "max_new_tokens", None) or default


def _pooled(output) -> torch.Tensor:
    # transformers 5 returns a model output (pooler_output = the projected features); 4.x a tensor
    return getattr(output, "pooler_output", output)


@HF_ADAPTERS.register("clip")
class HFAligner(HFAdapter):
    """CLIP as polymodal's aligner: normalised image and text features in one space."""

    task = "align"

    @staticmethod
    def auto_class():
        from transformers import CLIPModel
        return CLIPModel

    def preprocess(self, values: dict) -> dict:
        out = {}
        if "image" in values:
            out["image"] = self.processor.image_processor(images=as_arrays(values["image"]),
                                                          return_tensors="pt")["pixel_values"]
        if "text" in values:
            tokens = self.processor.tokenizer(list(values["text"]), padding=True, truncation=True, return_tensors="pt")
            out["text"] = {"input_ids": tokens["input_ids"], "attention_mask": tokens["attention_mask"]}
        return out

    def encode_image(self, pixels: torch.Tensor) -> torch.Tensor:
        return nn.functional.normalize(_pooled(self.model.get_image_features(pixel_values=pixels)), dim=-1)

    def encode_text(self, inputs: dict) -> torch.Tensor:
        return nn.functional.normalize(_pooled(self.model.get_text_features(**inputs)), dim=-1)

    def scale(self) -> torch.Tensor:
        return self.model.logit_scale.exp()

    def forward(self, batch: dict) -> torch.Tensor:
        return self.scale() * self.encode_image(batch["image"]) @ self.encode_text(batch["text"]).T


class HFCaptioner(HFAdapter):
    """An image-to-text generator (BLIP, VisionEncoderDecoder) as polymodal's captioner."""

    task = "caption"

    def preprocess(self, values: dict) -> dict:
        return {"image": self.processor.image_processor(images=as_arrays(values["image"]),
                                                        return_tensors="pt")["pixel_values"]}

    @torch.no_grad()
    def generate(self, pixels: torch.Tensor, beams: int = 1, max_length: int | None = None,
                 guidance: float | None = None):
        from ..errors import InputError
        from ..models.captioner import Caption
        if guidance:
            raise InputError("caption guidance needs a polymodal captioner trained with image_dropout, "
                             "not a Hugging Face one")
        cap = max_length or new_token_cap(self.model, 30)
        with quiet():          # e.g. GPT-2's "attention mask is not set" notice: no mask exists here
            out = self.model.generate(pixel_values=pixels, num_beams=beams, max_new_tokens=cap, do_sample=False,
                                      output_scores=True, return_dict_in_generate=True)
        steps = self.model.compute_transition_scores(out.sequences, out.scores, getattr(out, "beam_indices", None),
                                                     normalize_logits=True)
        logp = steps.masked_fill(~torch.isfinite(steps), 0.0).sum(-1)
        texts = self.processor.tokenizer.batch_decode(out.sequences, skip_special_tokens=True)
        return [Caption(" ".join(t.split()), float(p.exp())) for t, p in zip(texts, logp)]


@HF_ADAPTERS.register("blip")
class HFBlipCaptioner(HFCaptioner):
    @staticmethod
    def auto_class():
        from transformers import BlipForConditionalGeneration
        return BlipForConditionalGeneration


@HF_ADAPTERS.register("vision-encoder-decoder")
class HFEncoderDecoderCaptioner(HFCaptioner):
    @staticmethod
    def auto_class():
        from transformers import VisionEncoderDecoderModel
        return VisionEncoderDecoderModel


class HFGrounder(HFAdapter):
    """OWL-ViT / OWLv2 as polymodal's grounder: the phrase is the one text query, and the
    answer is the box of the patch that matches it best."""

    task = "ground"
    pads_to_square = False          # OWLv2 pads images to a square before resizing

    def preprocess(self, values: dict) -> dict:
        pixels = self.processor.image_processor(images=as_arrays(values["image"]), return_tensors="pt")["pixel_values"]
        tokens = self.processor.tokenizer(list(values["text"]), padding="max_length", truncation=True,
                                          return_tensors="pt")
        return {"image": pixels, "text": {"input_ids": tokens["input_ids"], "attention_mask": tokens["attention_mask"]}}

    def forward(self, batch: dict):
        return self.model(pixel_values=batch["image"], **batch["text"])

    @torch.no_grad()
    def locate(self, batch: dict, sizes: list[tuple[int, int]]):
        from ..models.grounder import Grounding, pixel_box
        out = self.forward(batch)
        logits = out.logits[..., 0].float()                     # [B, patches]: one query per image
        best = logits.argmax(-1)
        rows = torch.arange(len(best))
        cx, cy, w, h = out.pred_boxes[rows, best].float().unbind(-1)
        found = []
        for i, (width, height) in enumerate(sizes):
            # OWLv2 boxes are fractions of the padded square; OWL-ViT's of the image itself
            side = max(width, height)
            fx, fy = (side / width, side / height) if self.pads_to_square else (1.0, 1.0)
            box = [float(v) for v in ((cx[i] - w[i] / 2) * fx, (cy[i] - h[i] / 2) * fy,
                                      (cx[i] + w[i] / 2) * fx, (cy[i] + h[i] / 2) * fy)]
            found.append(Grounding(pixel_box(box, width, height), float(logits[i, best[i]].sigmoid())))
        return found


@HF_ADAPTERS.register("owlvit")
class HFOwlViT(HFGrounder):
    @staticmethod
    def auto_class():
        from transformers import OwlViTForObjectDetection
        return OwlViTForObjectDetection


@HF_ADAPTERS.register("owlv2")
class HFOwlV2(HFGrounder):
    pads_to_square = True

    @staticmethod
    def auto_class():
        from transformers import Owlv2ForObjectDetection
        return Owlv2ForObjectDetection


@HF_ADAPTERS.register("vilt")
class HFVQA(HFAdapter):
    """ViLT as polymodal's VQA model: answers are its id2label classes. Images are processed
    once and shared by their questions through `image_index`, as for polymodal's models."""

    task = "vqa"

    def __init__(self, model, processor, directory):
        super().__init__(model, processor, directory)
        id2label = model.config.id2label
        self.config.labels = [id2label[i] for i in range(len(id2label))]

    @staticmethod
    def auto_class():
        from transformers import ViltForQuestionAnswering
        return ViltForQuestionAnswering

    @property
    def modalities(self) -> list[str]:
        return ["image", "text"]

    def preprocess(self, values: dict) -> dict:
        images = self.processor.image_processor(images=as_arrays(values["image"]), return_tensors="pt")
        tokens = self.processor.tokenizer([getattr(t, "text", t) for t in values["text"]], padding=True,
                                          truncation=True, return_tensors="pt")
        return {"image": {"pixel_values": images["pixel_values"], "pixel_mask": images["pixel_mask"]},
                "text": dict(tokens)}

    def forward(self, batch: dict) -> torch.Tensor:
        image = batch["image"]
        index = batch.get("image_index")
        if index is not None:
            image = {k: v[index] for k, v in image.items()}
        return self.model(**batch["text"], **image).logits


@HF_ADAPTERS.register("whisper")
class HFRecognizer(HFAdapter):
    """Whisper (or another speech-to-text seq2seq model with a feature extractor) as
    polymodal's recogniser; audio longer than its window is read in windows and joined."""

    task = "transcribe"

    @staticmethod
    def auto_class():
        from transformers import AutoModelForSpeechSeq2Seq
        return AutoModelForSpeechSeq2Seq

    @classmethod
    def load(cls, directory):
        from transformers import AutoProcessor

        from .base import Processor
        from .loading import load_pretrained
        combined = load_pretrained(AutoProcessor, directory, "processor")
        return cls(load_pretrained(cls.auto_class(), directory, "model"),
                   Processor(tokenizer=combined.tokenizer, feature_extractor=combined.feature_extractor), directory)

    @property
    def rate(self) -> int:
        return self.processor.feature_extractor.sampling_rate

    def hold_weights_in(self, dtype: torch.dtype) -> None:
        """Only the encoder: it is most of the compute and bf16 barely moves its output, while
        the decoder's greedy choice between near-equal tokens is where bf16 changes the words
        (measured on Whisper-base: 14 of 16 transcripts unchanged with it all in bf16, 16 of
        16 with the decoder in fp32, which costs little)."""
        self.model.get_encoder().to(dtype)

    @staticmethod
    def dtype_of(part: nn.Module) -> torch.dtype:
        return next(part.parameters()).dtype

    def precision_of_weights(self, part: nn.Module):
        """A part held in fp32 runs in fp32 even on a mixed-precision path."""
        if self.dtype_of(part) == torch.float32:
            return torch.autocast(self.model.device.type, enabled=False)
        return contextlib.nullcontext()

    @torch.no_grad()
    def transcribe_audios(self, audios: list, batch_size: int = 16) -> list:
        from ..models.recognizer import Transcript
        from ..tasks.transcribe import chunks
        extractor = self.processor.feature_extractor
        window = extractor.n_samples / extractor.sampling_rate
        pieces, owner = [], []
        for i, audio in enumerate(audios):
            for piece in chunks(audio, self.rate, window):
                pieces.append(piece.waveform)
                owner.append(i)
        texts: list[list[str]] = [[] for _ in audios]
        # the decoder's positions hold the start prompt (a few tokens) and the words
        longest = new_token_cap(self.model, min(128, getattr(self.model.config, "max_target_positions", 448) - 8))
        encoder = self.model.get_encoder()
        for start in range(0, len(pieces), batch_size):
            with torch.autocast("cpu", enabled=False):     # features in fp32 under a mixed-precision path
                features = extractor(pieces[start:start + batch_size], sampling_rate=self.rate, return_tensors="pt")
            # The encoder runs once here and generate is handed its output: given only the
            # features, Whisper's generate runs the encoder twice (once to detect the
            # language). Same result, a third less time on a CPU.
            heard = encoder(features["input_features"].to(self.model.device, self.dtype_of(encoder)))
            heard.last_hidden_state = heard.last_hidden_state.to(self.dtype_of(self.model.get_decoder()))
            with quiet(), self.precision_of_weights(self.model.get_decoder()):
                ids = self.model.generate(encoder_outputs=heard, max_new_tokens=longest)
            for i, text in zip(owner[start:start + batch_size],
                               self.processor.tokenizer.batch_decode(ids, skip_special_tokens=True)):
                texts[i].append(text.strip())
        return [Transcript(" ".join(t for t in ts if t), 1.0) for ts in texts]


@HF_ADAPTERS.register("vits")
class HFSynthesizer(HFAdapter):
    """VITS / MMS-TTS as polymodal's synthesiser: text straight to a waveform."""

    task = "speak"

    @staticmethod
    def auto_class():
        from transformers import VitsModel
        return VitsModel

    @classmethod
    def load(cls, directory):
        from transformers import AutoTokenizer

        from .base import Processor
        from .loading import load_pretrained
        return cls(load_pretrained(cls.auto_class(), directory, "model"),
                   Processor(tokenizer=load_pretrained(AutoTokenizer, directory, "tokenizer")), directory)

    @torch.no_grad()
    def speak_texts(self, texts: list[str], voice: str | None = None) -> list:
        from ..errors import InputError
        from ..modalities import Audio
        tokenizer = self.processor.tokenizer
        known = set(tokenizer.get_vocab())
        out = []
        for text in texts:
            unknown = sorted({c for c in text.lower() if c not in known and not c.isspace()})
            if unknown or not text.strip():
                raise InputError(f"{text!r}: " + (f"characters it cannot speak: {''.join(unknown)!r}" if unknown
                                                  else "nothing to say"))
            inputs = tokenizer(text, return_tensors="pt")
            wave = self.model(**inputs.to(self.model.device)).waveform[0].float().cpu().numpy()
            out.append(Audio(wave.astype("float32"), self.model.config.sampling_rate, "<vits>"))
        return out
