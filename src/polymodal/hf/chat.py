"""Hugging Face image-text-to-text models as chat models (core/chat.ChatModel): LLaVA and
LLaVA-NeXT, Idefics3 and SmolVLM, Qwen2-VL and Qwen2.5-VL, PaliGemma, Florence-2.

A chat is laid out by the model's own chat template (its processor's or tokenizer's) and
read by its processor, which puts each image's tokens where the template put the image;
`generate` writes the reply (greedy, beam search or sampling, stop strings). What differs
between families is in FAMILIES: the prompt each was trained to answer a task by (PaliGemma's
"caption en", Florence-2's task tokens) and how a grounding reply names its box.

PaliGemma and Florence-2 answer one prompt about one image, not a conversation: an earlier
turn is refused. Importing this module registers the families in HF_ADAPTERS.
"""
from __future__ import annotations

import queue
import re
import threading
from collections.abc import Callable, Generator
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path

import torch

from ..core.chat import PROMPTS, ChatModel, Decoding, Message, Reply, check_chat, cut_at
from ..core.errors import InputError, ModelNotFoundError
from .base import HFAdapter, load_model_weights
from .loading import load_pretrained, quiet, read_hf_config
from .registry import HF_ADAPTERS

NUMBER = re.compile(r"-?\d+(?:\.\d+)?")


def corner_numbers(reply: str, pattern: re.Pattern = NUMBER) -> list[float] | None:
    """The first four numbers of a reply, or None."""
    found = [float(v) for v in pattern.findall(reply)[:4]]
    return found if len(found) == 4 else None


def paligemma_box(reply: str, width: int, height: int) -> list[float] | None:
    """PaliGemma's "<locY0><locX0><locY1><locX1> phrase": 1024 bins of the height and width."""
    found = corner_numbers(reply, re.compile(r"<loc(\d{4})>"))
    if found is None:
        return None
    y0, x0, y1, x1 = (v / 1024 for v in found)
    return [x0 * width, y0 * height, x1 * width, y1 * height]


def florence_box(reply: str, width: int, height: int) -> list[float] | None:
    """Florence-2's "phrase<loc_X0><loc_Y0><loc_X1><loc_Y1>": 1000 bins, each read at its centre."""
    found = corner_numbers(reply, re.compile(r"<loc_(\d+)>"))
    if found is None:
        return None
    x0, y0, x1, y1 = ((v + 0.5) / 1000 for v in found)
    return [x0 * width, y0 * height, x1 * width, y1 * height]


def thousandths_box(reply: str, width: int, height: int) -> list[float] | None:
    """Qwen2-VL's "(x0,y0),(x1,y1)", each in thousandths of the image."""
    found = corner_numbers(reply)
    if found is None:
        return None
    x0, y0, x1, y1 = (v / 1000 for v in found)
    return [x0 * width, y0 * height, x1 * width, y1 * height]


@dataclass(frozen=True)
class Family:
    """How a family is asked for each task (a str.format template; None: it cannot do it)
    and how its grounding reply is read back (to pixels of the image it saw)."""

    vqa: str | None = "{}"
    caption: str | None = "Describe the image in one sentence."
    read: str | None = "What words are written in the image? Answer with the words only."
    ground: str | None = None
    box: Callable[[str, int, int], list[float] | None] | None = None
    conversation: bool = True          # takes earlier turns (its template lays them out)

    def prompt(self, task: str) -> str | None:
        """The template for one of core/chat.PROMPTS."""
        return {"vqa": self.vqa, "caption": self.caption, "read": self.read, "ground": self.ground}[task]


FAMILIES = {
    "llava": Family(), "llava_next": Family(), "idefics3": Family(), "smolvlm": Family(),
    "qwen2_vl": Family(ground="Output the bounding box of {}.", box=thousandths_box),
    "qwen2_5_vl": Family(),          # grounds in pixels of its resized image: not read back here
    "paligemma": Family(vqa="answer en {}", caption="caption en", read="ocr", ground="detect {}", box=paligemma_box,
                        conversation=False),
    "florence2": Family(vqa=None, caption="<CAPTION>", read="<OCR>", ground="<CAPTION_TO_PHRASE_GROUNDING>{}",
                        box=florence_box, conversation=False),
}

SAMPLING = threading.Lock()     # held by a sampled generate (run_generate)


class IdStreamer:
    """The token ids `generate` writes, handed over to another thread as they come (what
    generate's `streamer` is called with: put, then end)."""

    def __init__(self):
        self.ids: queue.Queue = queue.Queue()
        self.skip_first = True                # what generate puts first: a decoder-only model's prompt, an
                                              # encoder-decoder's decoder start token

    def put(self, value: torch.Tensor) -> None:
        if self.skip_first:
            self.skip_first = False
            return
        for token in value.reshape(-1).tolist():
            self.ids.put(token)

    def end(self) -> None:
        self.ids.put(None)


class HFChatModel(HFAdapter, ChatModel):
    """A transformers image-text-to-text model behind polymodal's chat interface."""

    task = "vlm"

    def __init__(self, model, processor, directory: Path, family: str):
        super().__init__(model, processor, directory)
        self.family_name, self.family = family, FAMILIES[family]
        self.tokenizer = processor.tokenizer
        self.tokenizer.padding_side = "left"          # replies are written after every row's prompt
        self.encoder_decoder = bool(getattr(model.config, "is_encoder_decoder", False))

    @staticmethod
    def auto_class():
        from transformers import AutoModelForImageTextToText
        return AutoModelForImageTextToText

    @classmethod
    def from_pretrained(cls, directory: Path) -> HFChatModel:
        family = load_family(directory)
        processor = load_processor(directory, family)
        return cls(load_model_weights(cls.auto_class(), directory), processor, directory, family)

    @property
    def modalities(self) -> list[str]:
        return ["image", "text"]

    # -- conversations to the model's inputs -------------------------------------------
    def prompt(self, chat: list[Message]) -> tuple[str, list]:
        """A chat -> (the text the processor reads, the images in order), laid out by the
        model's chat template; a system message is kept where the template takes one."""
        from PIL import Image as PILImage
        check_chat(chat)
        if not self.family.conversation and (len([m for m in chat if m.role != "system"]) > 1):
            raise InputError(f"{self.family_name} answers one prompt about an image; it takes no earlier turns")
        if not self.family.conversation:          # the processor lays out one prompt and its image itself
            last = chat[-1]
            if any(p.kind == "audio" for p in last.parts):
                raise InputError("this model takes no audio")
            return last.text, [PILImage.fromarray(p.value) for p in last.parts if p.kind == "image"]
        messages, images = [], []
        for m in chat:
            content = []
            for part in m.parts:
                if part.kind == "audio":
                    raise InputError("this model takes no audio")
                if part.kind == "image":
                    images.append(PILImage.fromarray(part.value))
                    content.append({"type": "image"})
                else:
                    content.append({"type": "text", "text": part.value})
            messages.append({"role": m.role, "content": content})
        with quiet():
            try:
                text = self.processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
            except Exception as error:            # noqa: BLE001  (a template raises what it likes)
                raise InputError(f"the model's chat template refused this conversation "
                                 f"({str(error).splitlines()[0] if str(error) else type(error).__name__})") from None
        return text, images

    def inputs(self, chats: list[list[Message]]) -> dict:
        laid_out = [self.prompt(c) for c in chats]
        texts = [text for text, _ in laid_out]
        images = [ims for _, ims in laid_out]
        options = {"text": texts, "return_tensors": "pt", "padding": True}
        if any(images):
            if not all(images):
                raise InputError("in one batch every conversation must hold an image, or none")
            options["images"] = images
        try:
            with quiet():
                return dict(self.processor(**options))
        except (ValueError, TypeError, IndexError) as error:
            raise InputError(f"the model's processor refused this input ({str(error).splitlines()[0]})") from None

    # -- generation ------------------------------------------------------------------
    def generation_options(self, decoding: Decoding) -> dict:
        options = {"max_new_tokens": decoding.max_new_tokens, "num_beams": decoding.beams,
                   "do_sample": decoding.temperature > 0, "pad_token_id": self.tokenizer.pad_token_id}
        if decoding.temperature > 0:
            options.update(temperature=decoding.temperature, top_p=decoding.top_p, top_k=0)
        else:
            options.update(temperature=None, top_p=None, top_k=None)
        if decoding.stop:
            options.update(stop_strings=list(decoding.stop), tokenizer=self.tokenizer)
        return options

    def written(self, ids: list[int], stop: tuple[str, ...]) -> Reply:
        """A row's new token ids -> its reply (without prompt_tokens and score): the text up to
        the end token or a stop string, the tokens written (the end included), and whether it
        ended ("stop") or ran out of tokens ("length")."""
        ends = set(self.end_ids())
        count = next((i for i, t in enumerate(ids) if t in ends), None)
        kept = ids if count is None else ids[:count]
        text = self.tokenizer.decode(kept, skip_special_tokens=True, clean_up_tokenization_spaces=False).strip()
        stopped = count is not None or any(s in text for s in stop)
        return Reply(cut_at(text, stop), 0, len(ids) if count is None else count + 1, "stop" if stopped else "length")

    def end_ids(self) -> list[int]:
        ends = getattr(self.model.generation_config, "eos_token_id", None)
        ends = ends if isinstance(ends, list) else [ends]
        return [e for e in ends + [self.tokenizer.eos_token_id, self.tokenizer.pad_token_id] if e is not None]

    def run_generate(self, batch: dict, decoding: Decoding, streamer=None, cancelled: threading.Event | None = None):
        """transformers' generate over a batch; cancelled: set to stop it at its next token."""
        from transformers import StoppingCriteria, StoppingCriteriaList

        class Cancelled(StoppingCriteria):
            def __call__(self, input_ids, scores, **kwargs):
                return torch.full((input_ids.shape[0],), cancelled.is_set(), dtype=torch.bool)
        stopping = StoppingCriteriaList([Cancelled()] if cancelled is not None else [])
        # transformers samples from torch's global generator: one sampled run at a time holds it
        # (so that a seed gives the same reply beside other requests); greedy and beams draw nothing
        sampled = decoding.temperature > 0
        with torch.no_grad(), quiet(), SAMPLING if sampled else nullcontext(), \
                torch.random.fork_rng(enabled=sampled and decoding.seed is not None):
            if sampled and decoding.seed is not None:
                torch.manual_seed(decoding.seed)
            return self.model.generate(**self.on_device(batch), **self.generation_options(decoding),
                                       output_scores=True, return_dict_in_generate=True, streamer=streamer,
                                       stopping_criteria=stopping)

    def replies_of(self, batch: dict, out, decoding: Decoding) -> list[Reply]:
        # an encoder-decoder's sequences begin with the decoder start token (BART's, Florence-2's,
        # is its end token too), a decoder-only model's with the prompt
        start = 1 if self.encoder_decoder else batch["input_ids"].shape[1]
        new = out.sequences[:, start:]
        steps = self.model.compute_transition_scores(out.sequences, out.scores, getattr(out, "beam_indices", None),
                                                     normalize_logits=True)
        logp = steps.masked_fill(~torch.isfinite(steps), 0.0).sum(-1)
        replies = []
        for ids, p, n in zip(new.tolist(), logp.exp().tolist(), batch["attention_mask"].sum(1).tolist()):
            reply = self.written(ids, decoding.stop)
            reply.prompt_tokens, reply.score = int(n), float(p)
            replies.append(reply)
        return replies

    def reply(self, chats: list[list[Message]], decoding: Decoding) -> list[Reply]:
        batch = self.inputs(chats)
        return self.replies_of(batch, self.run_generate(batch, decoding), decoding)

    def drafts(self, chat: list[Message], decoding: Decoding) -> Generator[Reply, None, None]:
        """generate runs in a thread and hands its tokens over; after each, the text so far.
        Beam search takes no streamer in transformers: its reply comes whole."""
        if decoding.beams > 1:
            yield self.reply([chat], decoding)[0]
            return
        batch = self.inputs([chat])
        streamer, cancelled = IdStreamer(), threading.Event()
        result: dict = {}

        def work():
            try:
                result["out"] = self.run_generate(batch, decoding, streamer, cancelled)
            except Exception as error:              # noqa: BLE001  (raised again in the reader's thread)
                result["error"] = error
                streamer.end()
        thread = threading.Thread(target=work, daemon=True)
        thread.start()
        ids: list[int] = []
        read = int(batch["attention_mask"].sum())
        try:
            while (token := streamer.ids.get()) is not None:
                ids.append(token)
                draft = self.written(ids, decoding.stop)
                draft.prompt_tokens = read
                yield draft
        finally:            # closed early (the client went away): generate stops at its next token
            cancelled.set()
        thread.join()
        if "error" in result:
            raise result["error"]
        yield self.replies_of(batch, result["out"], decoding)[0]

    # -- tasks by prompt ---------------------------------------------------------------
    def prompt_for(self, task: str, text: str | None = None) -> str:
        if task not in PROMPTS:
            raise InputError(f"no prompt for {task}")
        template = self.family.prompt(task)
        if template is None:
            raise InputError(f"{self.family_name} models are not asked for {task} here")
        return template.format(text)

    def box_from(self, reply: str, width: int, height: int) -> list[float]:
        box = self.family.box(reply, width, height) if self.family.box else None
        return box if box is not None else [0.0, 0.0, 0.0, 0.0]


def load_processor(directory: Path, family: str):
    """The folder's processor (image processor, tokenizer, chat template). Qwen2-VL's own
    wants a video processor, which needs torchvision (not installable beside polymodal's torch):
    is replaced by QwenImageProcessor over the folder's image processor and tokenizer."""
    from transformers import AutoImageProcessor, AutoProcessor, AutoTokenizer
    if family in ("qwen2_vl", "qwen2_5_vl"):
        processor = QwenImageProcessor(load_pretrained(AutoImageProcessor, directory, "image processor"),
                                       load_pretrained(AutoTokenizer, directory, "tokenizer"))
    else:
        processor = load_pretrained(AutoProcessor, directory, "processor")
    if getattr(processor, "tokenizer", None) is None or getattr(processor, "image_processor", None) is None:
        raise ModelNotFoundError(f"{directory}: its processor does not read both images and text")
    return processor


class QwenImageProcessor:
    """What Qwen2-VL's processor does for images and text, without its video part: each image's
    pad token is repeated once per merged patch of that image (its grid's t*h*w / merge^2)."""

    image_token = "<|image_pad|>"

    def __init__(self, image_processor, tokenizer):
        self.image_processor, self.tokenizer = image_processor, tokenizer

    def apply_chat_template(self, messages, **options):
        return self.tokenizer.apply_chat_template(messages, **options)

    def __call__(self, text: list[str], images=None, **options) -> dict:
        out = {}
        if images:
            flat = [im for row in images for im in row]
            out = dict(self.image_processor(images=flat, return_tensors="pt"))
            merged = (out["image_grid_thw"].prod(-1) // self.image_processor.merge_size ** 2).tolist()
            counts = iter(merged)
            text = [re.sub(re.escape(self.image_token), lambda _: "\0" * next(counts), t) for t in text]
            if next(counts, None) is not None:
                raise InputError("more images than the chat template placed")
            text = [t.replace("\0", self.image_token) for t in text]
        return {**dict(self.tokenizer(text, **options)), **out}

    def save_pretrained(self, directory: str) -> None:
        self.image_processor.save_pretrained(directory)
        self.tokenizer.save_pretrained(directory)


def load_family(directory: Path) -> str:
    return read_hf_config(directory)["model_type"]


for _family in FAMILIES:
    HF_ADAPTERS.register(_family)(HFChatModel)
