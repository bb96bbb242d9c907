"""`polymodal chat`: a conversation with a generative vision-language model about images, typed
or spoken, the reply streamed as it is written and, if asked, spoken."""
from __future__ import annotations

import json
import sys
from pathlib import Path

from ...core.chat import Decoding, Message, Part
from ...core.errors import InputError
from ...inference.pipelines import load_on
from ...modalities import Audio, Image, as_array
from .inputs import backend_of
from .speech import save_wav

HELP = "type a message; /image PATH attaches an image to the next one, /reset starts again, an empty line ends"


def chat(args) -> int:
    if args.speak_out and Path(args.speak_out).suffix.lower() != ".wav":
        raise InputError(f"{args.speak_out}: --speak-out must name a .wav file")
    decoding = Decoding(max_new_tokens=args.max_tokens, temperature=args.temperature, top_p=args.top_p,
                        beams=args.beams, stop=tuple(args.stop or ()), seed=args.seed)
    images = [Part("image", as_array(Image.open(p))) for p in args.image or ()]
    turns = [[Part("text", t)] for t in args.say or ()]
    if args.audio:
        turns.append([Part("audio", Audio.open(args.audio))])
    pipe = load_on("vlm", args.model, backend_of(args))
    if args.listen:
        pipe = type(pipe)(pipe.model, listener=args.listen)
    if any(p.kind == "audio" for t in turns for p in t) and not pipe.hears:
        raise InputError(f"{args.audio}: this model takes no audio; give --listen MODEL (a recogniser)")
    history: list[Message] = []
    if turns:                          # a scripted conversation: each turn answered in order
        for i, parts in enumerate(turns):
            history.append(Message("user", (images if i == 0 else []) + parts))
            history.append(Message("assistant", [Part("text", respond(pipe, history, decoding, args))]))
    else:
        interactive(pipe, history, images, decoding, args)
    if args.speak_out and history:
        save_wav(pipe.speak(history[-1].text), Path(args.speak_out))
    return 0


def respond(pipe, history: list[Message], decoding: Decoding, args) -> str:
    """The reply to the conversation so far: streamed to stdout (or one JSON line with --json)."""
    if args.json or args.no_stream:
        reply = pipe.reply([history], decoding)[0]
        heard = [p.value for p in pipe.heard(history)[-1].parts if p.kind == "text"]
        if args.json:
            print(json.dumps({"heard": " ".join(heard), "reply": reply.text, "finish": reply.finish,
                              "prompt_tokens": reply.prompt_tokens, "completion_tokens": reply.completion_tokens}))
        else:
            print(reply.text)
        return reply.text
    for piece in pipe.stream(history, decoding):
        if isinstance(piece, str):
            print(piece, end="", flush=True)
        else:
            print()
            return piece.text
    return ""


def interactive(pipe, history: list[Message], images: list[Part], decoding: Decoding, args) -> None:
    if sys.stdin.isatty():
        print(HELP, file=sys.stderr)
    pending = list(images)
    for line in sys.stdin:
        line = line.strip()
        if not line:
            break
        if line == "/reset":
            history.clear()
            continue
        if line.startswith("/image "):
            try:
                pending.append(Part("image", as_array(Image.open(line[len("/image "):].strip()))))
            except InputError as e:      # a bad image does not end the conversation either
                print(f"polymodal: error: {e}".splitlines()[0], file=sys.stderr)
            continue
        history.append(Message("user", pending + [Part("text", line)]))
        pending = []
        try:
            text = respond(pipe, history, decoding, args)
        except InputError as e:          # one bad message does not end the conversation
            print(f"polymodal: error: {e}".splitlines()[0], file=sys.stderr)
            history.pop()
            continue
        history.append(Message("assistant", [Part("text", text)]))
