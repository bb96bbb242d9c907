"""Chatting with a generative model (core/chat.ChatModel): `pm.load("vlm", model)`.

    chat = pm.load("vlm", "vlm-embedded")
    chat.reply([user(Part("image", array), Part("text", "caption"))])        # -> Reply
    for piece in chat.stream(messages): print(piece, end="")                # the reply as it is written

A spoken question (an audio part of a user's message) reaches a model that does not hear
through a recogniser, which writes it down first: the model's own default
(`ChatModel.listener`: for polymodal's vlm, the spoken world's shipped recogniser) or the one
given as `listener`; a model with neither refuses audio parts. `speak` turns a reply into
speech with a synthesiser (the `speak` task's default, eSpeak). Together they make the spoken
chat of issue 23: speech in, text between, speech out, a system of three models.
"""
from __future__ import annotations

from collections import deque
from collections.abc import Iterator

from ..core.chat import ChatModel, Decoding, Message, Part, Reply, check_chat
from ..core.errors import InputError
from ..loading import load_model
from ..modalities import Audio
from ..tasks import transcribe
from .registry import PIPELINES

NO_LISTENER = "none"


def stream_pieces(drafts: Iterator[Reply], stop: tuple[str, ...]) -> Iterator[str | Reply]:
    """The pieces of text a streamed reply sends, then the final Reply. A piece ends at a word's
    end, and the last characters that could still begin a stop string are held back, so that
    nothing sent is ever taken back: the pieces join to the final reply's text."""
    sent, final = "", None
    hold = max((len(s) for s in stop), default=1) - 1
    for final in drafts:
        text = final.text
        safe = text[:len(text) - hold] if hold else text
        cut = safe.rfind(" ")
        safe = safe[:cut] if cut > 0 else ""
        if len(safe) > len(sent) and safe.startswith(sent):
            yield safe[len(sent):]
            sent = safe
    if final is None:
        return
    if not final.text.startswith(sent):      # cannot happen with whole words; never send a wrong text
        raise RuntimeError("a streamed reply changed what it had sent")
    if len(final.text) > len(sent):
        yield final.text[len(sent):]
    yield final


@PIPELINES.register("vlm")
class ChatPipeline:
    def __init__(self, model: ChatModel, listener: str | None = None, batch_size: int = 16):
        """listener: a transcription model (shipped name or folder) for spoken questions, or
        "none"; None: the model's own default."""
        if not isinstance(model, ChatModel):
            raise InputError(f"a model for {model.config.task} is not a chat model")
        self.model, self.batch_size = model, batch_size
        self.listener_name = model.listener if listener is None else (None if listener == NO_LISTENER else listener)
        self._listener = self._speaker = None

    @property
    def hears(self) -> bool:
        """Whether audio parts are taken (by the model or through its recogniser)."""
        return self.model.hears or self.listener_name is not None

    def listener(self):
        if self._listener is None:
            self._listener = load_model(self.listener_name, task="transcribe").eval()
        return self._listener

    def heard(self, chat: list[Message]) -> list[Message]:
        """The chat with each audio part written down (unless the model hears it itself)."""
        check_chat(chat)
        if self.model.hears or not any(p.kind == "audio" for m in chat for p in m.parts):
            return chat
        if self.listener_name is None:
            raise InputError("this model takes no audio (and was given no recogniser to write speech down)")
        spoken = [p.value for m in chat for p in m.parts if p.kind == "audio"]
        examples = [transcribe.SpeechExample(Audio.open(a), None) for a in spoken]
        texts = iter(t.text for t in transcribe.transcribe(self.listener(), examples, expect="question"))
        return [Message(m.role, [Part("text", next(texts)) if p.kind == "audio" else p for p in m.parts])
                for m in chat]

    def reply(self, chats: list[list[Message]], decoding: Decoding | None = None) -> list[Reply]:
        """The reply to each chat, in batches of batch_size."""
        decoding = decoding or Decoding()
        chats = [self.heard(c) for c in chats]
        out: list[Reply] = []
        for start in range(0, len(chats), self.batch_size):
            out += self.model.reply(chats[start:start + self.batch_size], decoding)
        return out

    def stream(self, chat: list[Message], decoding: Decoding | None = None) -> Iterator[str | Reply]:
        """The reply's text in pieces as it is written, then the whole Reply (see stream_pieces).
        Nothing runs until the first piece is asked for (the server asks in a worker thread);
        closing the stream stops the decoding."""
        decoding = decoding or Decoding()
        drafts = self.model.drafts(self.heard(chat), decoding)
        try:       # beams: the best beam may change its earlier words, so it is sent whole at the end
            yield from stream_pieces(iter(deque(drafts, maxlen=1)) if decoding.beams > 1 else drafts, decoding.stop)
        finally:
            drafts.close()

    def speak(self, text: str, voice: str | None = None) -> Audio:
        """A reply said aloud, by the `speak` task's default synthesiser."""
        if self._speaker is None:
            self._speaker = load_model(task="speak")
        return self._speaker.speak_texts([text], voice)[0]
