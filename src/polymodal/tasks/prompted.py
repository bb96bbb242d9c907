"""The vqa, caption and ground tasks answered by a chat model (core/chat.ChatModel) through the
prompts it names: one reply per image and prompt, written greedily (or by beam search), read
back as the task's result. The tasks' own functions (vqa.predict, caption.caption_images,
ground.locate) hand a chat model here, so `ask`, `caption`, `ground` and `eval` score it with
the same metrics as a task model."""
from __future__ import annotations

from tqdm import tqdm

from ..core.chat import ChatModel, Decoding, Part, Reply, user
from ..core.errors import InputError
from ..core.results import Caption, Grounding, pixel_box
from ..modalities import as_array
from .image_text import open_image

MAX_NEW_TOKENS = 48         # the longest answer, caption or box reply a task reads


def is_chat_model(model) -> bool:
    return isinstance(model, ChatModel)


def replies(model: ChatModel, task: str, items: list[tuple[object, str | None]], batch_size: int = 64,
            beams: int = 1, progress: bool = False) -> list[Reply]:
    """items: (image, the task's text: a question, a phrase or None) -> the model's reply to
    its prompt for the task about that image, each asked alone."""
    decoding = Decoding(max_new_tokens=MAX_NEW_TOKENS, beams=beams)
    chats = [[user(Part("image", as_array(open_image(image))), Part("text", model.prompt_for(task, text)))]
             for image, text in items]
    out: list[Reply] = []
    for start in tqdm(range(0, len(chats), batch_size), disable=not progress, desc=f"{task} by prompt"):
        out += model.reply(chats[start:start + batch_size], decoding)
    return out


def answers(model: ChatModel, pairs: list[tuple[object, str]], batch_size: int = 64,
            progress: bool = False) -> tuple[list[str], list[float]]:
    """(image, question) pairs -> (free-form answers, their probabilities)."""
    if any(not question for _, question in pairs):
        raise InputError("a chat model reads typed questions: give the question's text (`polymodal chat` "
                         "transcribes a spoken one)")
    found = replies(model, "vqa", pairs, batch_size, progress=progress)
    return [r.text for r in found], [r.score for r in found]


def captions(model: ChatModel, images: list, batch_size: int = 64, beams: int = 1, progress: bool = False,
             guidance: float | None = None):
    if guidance:
        raise InputError("caption guidance needs a polymodal captioner trained with image_dropout, not a chat model")
    found = replies(model, "caption", [(image, None) for image in images], batch_size, beams, progress)
    return [Caption(r.text, r.score) for r in found]


def groundings(model: ChatModel, pairs: list[tuple[object, str]], batch_size: int = 64,
               progress: bool = False) -> list[Grounding]:
    """(image, phrase) pairs -> the box each reply names (in the image's pixels)."""
    found = replies(model, "ground", pairs, batch_size, progress=progress)
    out = []
    for (image, _), reply in zip(pairs, found):
        height, width = as_array(open_image(image)).shape[:2]
        x0, y0, x1, y1 = model.box_from(reply.text, width, height)
        out.append(Grounding(pixel_box([x0 / width, y0 / height, x1 / width, y1 / height], width, height),
                             reply.score))
    return out
