"""Adapters of Hugging Face vision-language models: CLIP (align), BLIP and vision encoder-decoders
(caption), OWL-ViT and OWLv2 (ground), ViLT (vqa). Importing this module registers them."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..core.errors import InputError
from ..core.results import Caption, Grounding, pixel_box
from ..modalities import Text
from . import native_clip
from .base import HFAdapter, OnnxPart, Processor, as_arrays, new_token_cap, padded_labels
from .blip_greedy import greedy_decode
from .greedy import plain_greedy
from .loading import quiet
from .registry import HF_ADAPTERS


def _pooled(output) -> torch.Tensor:
    # transformers 5 returns a model output (pooler_output = the projected features); 4.x a tensor
    return getattr(output, "pooler_output", output)


class ImageFeatures(nn.Module):
    """CLIP's projected image features from pixels: the image part ONNX export writes."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        return _pooled(self.model.get_image_features(pixel_values=pixels))


class TextFeatures(nn.Module):
    """CLIP's projected text features from token ids and mask: the text part ONNX export writes."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return _pooled(self.model.get_text_features(input_ids=ids, attention_mask=mask))


@HF_ADAPTERS.register("clip")
class HFAligner(HFAdapter):
    """CLIP as polymodal's aligner: normalised image and text features in one space."""

    task = "align"
    trains = True

    @staticmethod
    def auto_class():
        from transformers import CLIPModel
        return CLIPModel

    @classmethod
    def from_pretrained(cls, directory: Path) -> "HFAligner":
        """Run by polymodal's own CLIP code where it reproduces the folder (hf/native_clip.py:
        no transformers import at start-up), else by transformers."""
        native = native_clip.load(directory)
        if native is None:
            return super().from_pretrained(directory)
        model, images, tokens = native
        return cls(model, Processor(images, tokens), directory)

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
        run = self.exported["image"] if "image" in self.exported else ImageFeatures(self.model)
        return nn.functional.normalize(run(pixels), dim=-1)

    def encode_text(self, inputs: dict) -> torch.Tensor:
        run = self.exported["text"] if "text" in self.exported else TextFeatures(self.model)
        return nn.functional.normalize(run(inputs["input_ids"], inputs["attention_mask"]), dim=-1)

    def onnx_parts(self) -> dict[str, OnnxPart]:
        """The image and the text features, from sample batches of two sizes (and two text
        lengths) made by the folder's own processor."""
        rng = np.random.default_rng(0)
        images = [self.preprocess({"image": [rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)] * n})["image"]
                  for n in (2, 3)]
        texts = [self.preprocess({"text": [words] * n})["text"] for words, n in (("a", 2), ("a photo of a red circle", 3))]
        return {"image": OnnxPart(ImageFeatures(self.model), (images[0],), (images[1],)),
                "text": OnnxPart(TextFeatures(self.model), *((t["input_ids"], t["attention_mask"]) for t in texts))}

    def encoder_linears(self) -> list[nn.Linear]:
        """The image tower's (the text tower runs once per label set: the pipeline caches its
        features). What int8_products quantizes for a CLIP transformers loads; polymodal's own
        CLIP lays its tower out itself (pack_for_cpu, int8_products)."""
        return [m for m in self.model.vision_model.modules() if type(m) is nn.Linear]

    def int8_products(self) -> int:
        """polymodal's own CLIP: its image tower laid out as int8 products (NativeClip.int8_image_tower)."""
        if isinstance(self.model, native_clip.NativeClip):
            return self.model.int8_image_tower()
        return super().int8_products()

    def pack_for_cpu(self) -> int:
        """polymodal's own CLIP: its image tower, the part each call runs (NativeClip.pack_image_tower)."""
        return self.model.pack_image_tower() if isinstance(self.model, native_clip.NativeClip) else 0

    def scale(self) -> torch.Tensor:
        return self.model.logit_scale.exp()

    def forward(self, batch: dict) -> torch.Tensor:
        return self.scale() * self.encode_image(batch["image"]) @ self.encode_text(batch["text"]).T

    def training_loss(self, values: dict) -> torch.Tensor:
        """CLIP's own symmetric contrastive loss over the batch's image-text pairs."""
        batch = self.on_device(self.preprocess(values))
        return self.model(pixel_values=batch["image"], **batch["text"], return_loss=True).loss


class HFCaptioner(HFAdapter):
    """An image-to-text generator (BLIP, VisionEncoderDecoder) as polymodal's captioner."""

    task = "caption"
    trains = True

    def preprocess(self, values: dict) -> dict:
        return {"image": self.processor.image_processor(images=as_arrays(values["image"]),
                                                        return_tensors="pt")["pixel_values"]}

    @torch.no_grad()
    def generate(self, pixels: torch.Tensor, beams: int = 1, max_length: int | None = None,
                 guidance: float | None = None):
        if guidance:
            raise InputError("caption guidance needs a polymodal captioner trained with image_dropout, "
                             "not a Hugging Face one")
        cap = max_length or new_token_cap(self.model, 30)
        with quiet():          # e.g. GPT-2's "attention mask is not set" notice: no mask exists here
            out = self.model.generate(pixel_values=pixels, num_beams=beams, max_new_tokens=cap, do_sample=False,
                                      output_scores=True, return_dict_in_generate=True)
        steps = self.model.compute_transition_scores(out.sequences, out.scores, getattr(out, "beam_indices", None),
                                                     normalize_logits=True)
        steps = steps.masked_fill(~torch.isfinite(steps), 0.0)
        end = self.end_token()
        if beams == 1 and end is not None:     # greedy pads a finished caption (beam search leaves that out)
            steps = steps.masked_fill(after_end(out.sequences[:, -steps.shape[1]:], end), 0.0)
        return self.captions(out.sequences, steps.sum(-1))

    def captions(self, sequences: torch.Tensor, logp: torch.Tensor) -> list[Caption]:
        """Token ids [B, T] and each caption's log-probability [B] -> Captions."""
        texts = self.processor.tokenizer.batch_decode(sequences, skip_special_tokens=True)
        return [Caption(" ".join(t.split()), float(p.exp())) for t, p in zip(texts, logp)]

    def end_token(self) -> int | None:
        """The token that ends a caption (None: the config names none)."""
        end = self.model.generation_config.eos_token_id
        if isinstance(end, list):
            end = end[0] if end else None
        return end

    def decoder_positions(self) -> int:
        """The longest token sequence the text decoder takes."""
        config = self.model.config
        text = getattr(config, "text_config", None) or config.decoder
        return text.max_position_embeddings

    def caption_tokens(self, captions: list[str]) -> dict:
        """The captions as the decoder reads them in training (padded, with their end token),
        cut to the decoder's positions."""
        return self.processor.tokenizer(list(captions), padding=True, truncation=True,
                                        max_length=self.decoder_positions(), return_tensors="pt")

    def training_loss(self, values: dict) -> torch.Tensor:
        """Next-token cross-entropy of each caption given its image (the model's own loss)."""
        pixels = self.on_device(self.preprocess(values)["image"])
        tokens = self.on_device(dict(self.caption_tokens(values["text"])))
        return self.model(pixel_values=pixels, **self.decoder_inputs(tokens), labels=padded_labels(tokens)).loss

    def decoder_inputs(self, tokens: dict) -> dict:
        """What the model's forward takes beside the labels (none: it shifts the labels itself)."""
        return {}


def after_end(tokens: torch.Tensor, end: int) -> torch.Tensor:
    """[B, T] new tokens -> True where a position comes after the caption's first end token."""
    ends = (tokens == end).int()
    return ends.cumsum(1) - ends > 0


@HF_ADAPTERS.register("blip")
class HFBlipCaptioner(HFCaptioner):
    @staticmethod
    def auto_class():
        from transformers import BlipForConditionalGeneration
        return BlipForConditionalGeneration

    def per_token_linears(self) -> list[nn.Linear]:
        # the folded cross-attention (fast_layers.py) reads its key and value weights itself
        read = (".crossattention.self.key", ".crossattention.self.value")
        return [m for name, m in self.model.text_decoder.named_modules()
                if type(m) is nn.Linear and not name.endswith(read)]

    def encoder_linears(self) -> list[nn.Linear]:
        return [m for m in self.model.vision_model.modules() if type(m) is nn.Linear]

    @torch.no_grad()
    def generate(self, pixels: torch.Tensor, beams: int = 1, max_length: int | None = None,
                 guidance: float | None = None):
        """Greedy captions through polymodal's own decoding loop (hf/blip_greedy.py) where the
        generation configs ask for nothing more and the model is in eval mode; anything else
        through transformers' generate."""
        decoder = self.model.text_decoder
        if guidance or beams != 1 or decoder.training or not all(plain_greedy(m.generation_config)
                                                                 for m in (self.model, decoder)):
            return super().generate(pixels, beams, max_length, guidance)
        text = self.model.config.text_config
        image = self.model.vision_model(pixel_values=pixels)[0]
        cap = min(max_length or new_token_cap(self.model, 30), self.decoder_positions())
        tokens, logp = greedy_decode(decoder, image, text.bos_token_id, self.end_token(), text.pad_token_id, cap)
        return self.captions(tokens, logp)

    def end_token(self) -> int:
        return self.model.config.text_config.sep_token_id     # what BLIP's generate passes as eos

    def decoder_inputs(self, tokens: dict) -> dict:
        # BLIP's decoder reads the labels as they are (no shift) and starts from its bos token
        # where the tokenizer put [CLS], as its generate does
        ids = tokens["input_ids"].clone()
        ids[:, 0] = self.model.config.text_config.bos_token_id
        return {"input_ids": ids, "attention_mask": tokens["attention_mask"]}


@HF_ADAPTERS.register("vision-encoder-decoder")
class HFEncoderDecoderCaptioner(HFCaptioner):
    @staticmethod
    def auto_class():
        from transformers import VisionEncoderDecoderModel
        return VisionEncoderDecoderModel

    def caption_tokens(self, captions: list[str]) -> dict:
        # a GPT-2 tokenizer adds no end token: without one the model never learns to stop
        tokenizer, end = self.processor.tokenizer, self.model.config.eos_token_id
        longest = self.decoder_positions() - 1
        rows = [tokenizer(c)["input_ids"][:longest] for c in captions]
        rows = [r if r and r[-1] == end else r + [end] for r in rows]
        width = max(len(r) for r in rows)
        ids = torch.tensor([r + [end] * (width - len(r)) for r in rows])
        mask = torch.tensor([[1] * len(r) + [0] * (width - len(r)) for r in rows])
        return {"input_ids": ids, "attention_mask": mask}


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
    trains = True

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
        tokens = self.processor.tokenizer([t.text if isinstance(t, Text) else t for t in values["text"]], padding=True,
                                          truncation=True, return_tensors="pt")
        return {"image": {"pixel_values": images["pixel_values"], "pixel_mask": images["pixel_mask"]},
                "text": dict(tokens)}

    def forward(self, batch: dict) -> torch.Tensor:
        image = batch["image"]
        index = batch.get("image_index")
        if index is not None:
            image = {k: v[index] for k, v in image.items()}
        return self.model(**batch["text"], **image).logits

    def training_loss(self, values: dict) -> torch.Tensor:
        """ViLT's own loss (binary cross-entropy over its answers, scaled by their number), with
        the given answer as the one right one."""
        label2id = {a: i for i, a in enumerate(self.config.labels)}
        unknown = sorted({a for a in values["answer"] if a not in label2id})
        if unknown:
            raise InputError(f"answers {', '.join(map(repr, unknown[:5]))} are not among the model's "
                             f"{len(label2id)} answers (its config's id2label); a ViLT fine-tune keeps its answers")
        batch = self.on_device(self.preprocess(values))
        targets = torch.zeros(len(values["answer"]), len(label2id))
        targets[torch.arange(len(targets)), torch.tensor([label2id[a] for a in values["answer"]])] = 1.0
        return self.model(**batch["text"], **batch["image"], labels=self.on_device(targets)).loss
