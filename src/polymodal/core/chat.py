"""Chats with a generative model: messages of text, image and audio parts, how to decode a
reply, and the interface every chat model answers (polymodal's own vlm, models/vlm.py, and
Hugging Face image-text-to-text models, hf/chat.py).

The layers above use only this interface: inference/chat.py runs a chat (audio parts through
a recogniser, a spoken reply through a synthesiser, streaming), and it asks a chat model for
the tasks it can do by prompt (VQA, captions, grounding) with the prompts the model names.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Generator
from dataclasses import dataclass

from . import values
from .errors import InputError

ROLES = ("system", "user", "assistant")
PART_KINDS = ("text", "image", "audio")
PROMPTED_TASKS = ("vqa", "caption", "ground")      # the tasks a chat model may serve by prompt
PROMPTS = PROMPTED_TASKS + ("read",)               # ... and reading the text in an image


@dataclass
class Part:
    kind: str          # one of PART_KINDS
    value: object      # text: str; image: HxWx3 uint8 array; audio: modalities.Audio


@dataclass
class Message:
    role: str          # one of ROLES
    parts: list[Part]

    def __post_init__(self):
        if self.role not in ROLES:
            raise InputError(f"message role {self.role!r}: give one of {', '.join(ROLES)}")
        for part in self.parts:
            if part.kind not in PART_KINDS:
                raise InputError(f"content part type {part.kind!r}: give one of {', '.join(PART_KINDS)}")

    @property
    def text(self) -> str:
        return " ".join(p.value for p in self.parts if p.kind == "text")


def user(*parts: Part) -> Message:
    return Message("user", list(parts))


@dataclass
class Decoding:
    """How a reply is written: greedy (temperature 0), beam search (beams > 1) or sampling
    (temperature > 0, from the smallest set of tokens whose probability reaches top_p), up to
    max_new_tokens, ending early at a stop string (left out of the reply). seed fixes sampling."""

    max_new_tokens: int = 64
    temperature: float = 0.0
    top_p: float = 1.0
    beams: int = 1
    stop: tuple[str, ...] = ()
    seed: int | None = None

    def __post_init__(self):
        self.max_new_tokens = values.number(self.max_new_tokens, "max_new_tokens", 1, 4096, integer=True)
        self.temperature = values.number(self.temperature, "temperature", 0, 2)
        self.beams = values.number(self.beams, "beams", 1, 16, integer=True)
        self.top_p = values.number(self.top_p, "top_p", 0, 1)
        if self.top_p == 0:
            raise InputError("top_p must be in (0, 1], got 0")
        if self.beams > 1 and self.temperature > 0:
            raise InputError("beam search is deterministic: give beams or a temperature, not both")
        if isinstance(self.stop, str):
            self.stop = (self.stop,)
        self.stop = tuple(self.stop)
        if len(self.stop) > 4 or not all(isinstance(s, str) and 0 < len(s) <= 64 for s in self.stop):
            raise InputError("stop: give up to 4 strings of 1 to 64 characters")
        if self.seed is not None:
            self.seed = values.seed(self.seed, "seed")

    @property
    def key(self) -> tuple:
        """What replies must share to be written in one batch."""
        return (self.max_new_tokens, self.temperature, self.top_p, self.beams, self.stop, self.seed)


@dataclass
class Reply:
    text: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    finish: str = "stop"           # "stop": the model ended it (or a stop string); "length": max_new_tokens
    score: float = 0.0             # the model's probability of the reply (of its best beam's tokens)


class ChatModel(ABC):
    """The interface of a generative model that reads messages and writes text. Subclasses
    (nn.Modules too) implement every method (a class that leaves one out cannot be built); `hears` says whether audio parts reach the model
    itself (else a recogniser must turn them into text first); `listener` names the
    recogniser (a transcription model) that does so by default, if any."""

    hears = False
    listener: str | None = None

    @abstractmethod
    def reply(self, chats: list[list[Message]], decoding: Decoding) -> list[Reply]:
        """The reply to each chat (whose last message is the user's), written in one batch."""

    @abstractmethod
    def drafts(self, chat: list[Message], decoding: Decoding) -> Generator[Reply, None, None]:
        """The reply to one chat as it is written: after each new token, the reply so far; the
        last is the whole reply, equal to `reply([chat], decoding)[0]`. Closing the generator
        before its end stops the decoding (a client that went away)."""

    @abstractmethod
    def prompt_for(self, task: str, text: str | None = None) -> str:
        """The prompt that asks this model for a task (PROMPTS) about one image: a question
        (vqa, text is the question), a caption, where a phrase is (ground, text is the
        phrase), or the words written in it (read). A task the model cannot do is an
        InputError that says so."""

    @abstractmethod
    def box_from(self, reply: str, width: int, height: int) -> list[float]:
        """The box [x0, y0, x1, y1] in pixels a grounding reply names ([0, 0, 0, 0] when it
        names none)."""


def cut_at(text: str, stop) -> str:
    """The text up to the first stop string (which is left out)."""
    for s in stop or ():
        if s in text:
            text = text[:text.index(s)]
    return text.strip()


def check_chat(chat: list[Message]) -> None:
    """A chat ends with the user's message and has something to read."""
    if not chat or chat[-1].role != "user":
        raise InputError("messages: the last message must be the user's")
    if not any(m.parts for m in chat):
        raise InputError("messages: nothing to read (every message is empty)")
