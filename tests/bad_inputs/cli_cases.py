"""Command lines polymodal must refuse in one line with exit status 2 (or, a few, answer)."""
from __future__ import annotations

import argparse

from . import ANSWERED, REFUSED, Case

# Refused by every numeric flag, whatever its range: not finite, not a number, far out of range.
HOSTILE_NUMBERS = ("nan", "inf", "1e309", str(2**70), "ten", "-1e9")
SURROGATE = "a red \ud800 circle"          # what a non-UTF-8 byte in argv becomes (surrogateescape)
LONG_VARIANT = "en-us+" + "a" * 40         # once made eSpeak NG abort the process


def bases(f: dict) -> dict[tuple[str, ...], list[str]]:
    """A valid, cheap command line of each verb (the flag under test is appended: the last
    occurrence of a flag wins, each is checked as it is parsed)."""
    out = f["root"] + "/out"
    return {
        ("data", "shapes"): ["data", "shapes", "--n", "2", "--out", out],
        ("train",): ["train", "--data", "shapes:sort-of-clevr:train", "--n", "8", "--epochs", "1", "--fusion",
                     "early:feature", "--out", out],
        ("eval",): ["eval", "vqa", "--data", "shapes:sort-of-clevr:test", "--n", "4"],
        ("caption",): ["caption", f["scene.png"]],
        ("transcribe",): ["transcribe", f["speech.wav"]],
        ("speak",): ["speak", "hello", "--out", out + ".wav"],
        ("generate",): ["generate", "a red circle", "--out", out + ".png", "--steps", "2"],
        ("edit",): ["edit", f["scene.png"], "make the red circle green", "--out", out + ".png", "--steps", "2"],
        ("ground",): ["ground", f["scene.png"], "the red circle"],
        ("embed",): ["embed", f["scene.png"], "--out", out + ".npz"],
        ("search",): ["search", "a red circle", "--gallery", "shapes:shapes:test", "--n", "8"],
        ("classify",): ["classify", f["scene.png"], "--labels", "red circle,blue square"],
        ("ask",): ["ask", f["scene.png"], "what shape is the red object?"],
        ("compare-fusion",): ["compare-fusion", "--n", "100", "--steps", "1", "--pretrain-steps", "1", "--test-n", "4",
                              "--fusions", "early:feature", "--out", out, "--runs", out],
        ("system", "run"): ["system", "run", "read-and-answer", "--image", f["scene.png"], "--text",
                            "question=what does the sign say?"],
        ("compare",): ["compare", "--system", "vqa-by-caption", "--data", "shapes:sort-of-clevr:test", "--n", "4"],
        ("serve",): ["serve", "--port", "8765"],
        ("demo",): ["demo", "--out", out, "--n", "1"],
        ("fit",): ["fit", f["root"] + "/table.csv", "--label", "label", "--time-budget", "1", "--out", out],
        ("predict",): ["predict", out + "/model", f["root"] + "/table.csv", "--out", out + ".csv"],
        ("chat",): ["chat", "--image", f["scene.png"], "--say", "caption", "--speak-out", out + ".wav"],
        ("export",): ["export", "vqa-sort-of-clevr", "--out", out],
    }


def numeric_flags(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()):
    """(verb path, flag) of every option whose value is a number, in every verb (read from
    the parser itself, so that a flag added later is swept too)."""
    from polymodal.cli.arguments import Checked
    from polymodal.core.values import number, seed
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from numeric_flags(sub, path + (name,))
        elif action.option_strings and isinstance(action.type, Checked) and action.type.check in (number, seed):
            yield path, action.option_strings[-1]


def sweep(f: dict) -> list[Case]:
    from polymodal.cli.parser import build_parser
    known = bases(f)
    cases = []
    for path, flag in numeric_flags(build_parser()):
        base = known[path]                      # a KeyError here: give the new verb a base above
        for value in HOSTILE_NUMBERS:
            cases.append(Case(f"{' '.join(path)} {flag} {value}", REFUSED, flag, argv=base + [flag, value]))
    return cases


def texts(f: dict) -> list[Case]:
    scene, out = f["scene.png"], f["root"] + "/out"
    cases = []
    for verb, argv in (("ask", ["ask", scene, "{}"]), ("ground", ["ground", scene, "{}"]),
                       ("search", ["search", "{}", "--gallery", "shapes:shapes:test", "--n", "8"]),
                       ("embed --text", ["embed", "--text", "{}", "--out", out + ".npz"]),
                       ("speak", ["speak", "{}", "--out", out + ".wav"]),
                       ("generate", ["generate", "{}", "--out", out + ".png", "--steps", "2"]),
                       ("edit", ["edit", scene, "{}", "--out", out + ".png", "--steps", "2"]),
                       ("classify --labels", ["classify", scene, "--labels", "{}"])):
        for label, value, words in (("empty", "", "empty text"), ("blank", " \t ", "empty text"),
                                    ("NUL", "a red\x00 circle", "NUL"), ("surrogate", SURROGATE, "surrogate")):
            cases.append(Case(f"{verb} {label} text", REFUSED, words, argv=[a.replace("{}", value) for a in argv]))
    files = [("embed --text-file", ["embed", "--text-file", "{}", "--out", out + ".npz"]),
             ("speak --text-file", ["speak", "--text-file", "{}", "--out", out]),
             ("generate --prompts", ["generate", "--prompts", "{}", "--out", out, "--steps", "2"])]
    for verb, argv in files:
        for name, words in (("non-utf8.txt", "UTF-8"), ("nul-line.txt", "NUL"), ("surrogate.txt", "UTF-8"),
                            ("blank.txt", "no"), ("empty.txt", "no"), ("missing.png", "")):
            cases.append(Case(f"{verb} {name}", REFUSED, words, argv=[a.replace("{}", f[name]) for a in argv]))
    cases += [
        Case("generate a prompt of 1.2 M characters", REFUSED, "", argv=["generate", "red " * 300_000, "--out",
                                                                         out + ".png", "--steps", "2"]),
        Case("classify one label", REFUSED, "two", argv=["classify", scene, "--labels", "red circle"]),
        Case("classify labels of commas only", REFUSED, "", argv=["classify", scene, "--labels", ", ,"]),
        Case("edit an instruction it cannot parse", REFUSED, "", argv=["edit", scene, "paint it black", "--out",
                                                                       out + ".png", "--steps", "2"]),
        Case("system run a text input that is blank", REFUSED, "empty",
             argv=["system", "run", "read-and-answer", "--image", scene, "--text", "question=  "]),
    ]
    return cases


def voices(f: dict) -> list[Case]:
    out = f["root"] + "/voice.wav"
    cases = [Case(f"speak --voice {label}", REFUSED, words, argv=["speak", "hello", "--voice", voice, "--out", out])
             for label, voice, words in (
                 ("klingon", "klingon", "no language"), ("unknown variant", "en-us+nosuchvariant", "no variant"),
                 ("40-character variant", LONG_VARIANT, "voice"), ("1000 characters", "x" * 1000, "voice"),
                 ("surrogate", "en-us+\ud800", "voice"), ("NUL", "en-us\x00", "voice"), ("empty", "", "voice"),
                 ("only a plus", "+", "voice"), ("variant only", "+m3", "voice"),
                 ("path traversal", "../../etc/passwd", "voice"), ("variant path", "en-us+../../../etc/passwd", "voice"))]
    cases.append(Case("speak --voice en-us+m3 (a real voice, odd case)", ANSWERED, argv=["speak", "hello", "--voice",
                                                                                         "EN-US+M3", "--out", out]))
    return cases


def numbers(f: dict) -> list[Case]:
    scene, out = f["scene.png"], f["root"] + "/out"
    return [Case(name, REFUSED, words, argv=argv) for name, words, argv in (
        ("data --spoken --noise-snr nan", "--noise-snr", ["data", "shapes", "--spoken", "--noise-snr", "nan", "--out", out]),
        ("demo --n 0", "--n", ["demo", "--n", "0", "--out", out]),
        ("demo --n -1", "--n", ["demo", "--n", "-1", "--out", out]),
        ("train --val-n -1", "--val-n", ["train", "--val-n", "-1", "--out", out]),
        ("train --val-n 0", "--val-n", ["train", "--val-n", "0", "--out", out]),
        ("generate --seed -1", "--seed", ["generate", "a red circle", "--seed", "-1", "--out", out + ".png"]),
        ("generate --seed 2**31", "--seed", ["generate", "a red circle", "--seed", str(2**31), "--out", out + ".png"]),
        ("generate --steps 0", "--steps", ["generate", "a red circle", "--steps", "0", "--out", out + ".png"]),
        ("generate --steps 1001", "--steps", ["generate", "a red circle", "--steps", "1001", "--out", out + ".png"]),
        ("generate --steps 2.5", "--steps", ["generate", "a red circle", "--steps", "2.5", "--out", out + ".png"]),
        ("serve --port 70000", "--port", ["serve", "--port", "70000"]),
        ("serve --port -1", "--port", ["serve", "--port", "-1"]),
        ("serve --host not-an-address", "not an address", ["serve", "--host", "not an address", "--port", "8765"]),
        ("train --lr 0", "--lr", ["train", "--lr", "0", "--out", out]),
        ("train --epochs 0", "--epochs", ["train", "--epochs", "0", "--out", out]),
        ("train --batch-size 2.5", "--batch-size", ["train", "--batch-size", "2.5", "--out", out]),
        ("data --jpeg-quality 0", "--jpeg-quality", ["data", "shapes", "--image-format", "jpg", "--jpeg-quality",
                                                     "0", "--out", out]),
        ("data --jpeg-quality 101", "--jpeg-quality", ["data", "shapes", "--jpeg-quality", "101", "--out", out]),
        ("eval --noise-snr 1000", "--noise-snr", ["eval", "transcribe", "--noise-snr", "1000"]),
        ("a verb that does not exist", "invalid choice", ["teleport"]),
        ("an unknown flag", "unrecognized", ["caption", scene, "--flavour", "sweet"]),
        ("a flag without its value", "expected one argument", ["caption", scene, "--beams"]),
    )]


def media(f: dict) -> list[Case]:
    cases = []
    for name in ("missing.png", "empty.png", "truncated.png", "header-only.png", "text-renamed.png", "wav-renamed.png",
                 "garbage.png", "bomb.png", "zero-size.png", "folder.png", "images.txt"):
        named = {"missing.png": "no-such-image", "images.txt": "no-such-image"}.get(name, name)
        cases.append(Case(f"caption {name}", REFUSED, named, argv=["caption", f[name]]))
        cases.append(Case(f"ask {name}", REFUSED, "", argv=["ask", f[name], "what shape is the red object?"]))
    for name in ("missing.wav", "empty.wav", "header-only.wav", "truncated.wav", "garbage.wav", "png-renamed.wav",
                 "rate-2000000011.wav", "rate-999983.wav", "rate-1.wav", "rate-0.wav"):
        cases.append(Case(f"transcribe {name}", REFUSED, "", argv=["transcribe", f[name]]))
        cases.append(Case(f"ask --audio {name}", REFUSED, "", argv=["ask", f["scene.png"], "--audio", f[name]]))
    for name in ("zero-frames.mp4", "index-cut-off.mp4", "frames-cut-off.mp4", "cut-in-half.mp4", "audio-only.mp4",
                 "4-hours.mp4", "8K-frames.mp4", "text-renamed.mp4", "empty-file.mp4"):
        cases.append(Case(f"ask {name}", REFUSED, name, argv=["ask", f[name], "does it move?", "--model",
                                                              f["video-qa-model"]]))
    cases.append(Case("transcribe 30 s of 8 kHz audio", ANSWERED,
                      argv=["transcribe", f["long.wav"]]))
    cases.append(Case("caption scene.jpg.png (an odd name, a real PNG)", ANSWERED, argv=["caption", f["scene.jpg.png"]]))
    cases.append(Case("caption a 1-pixel image", ANSWERED, argv=["caption", f["one-pixel.png"]]))
    return cases


def configs(f: dict) -> list[Case]:
    scene, out = f["scene.png"], f["root"] + "/out"
    cases = [Case(f"train --recipe {name}", REFUSED, "", argv=["train", "--recipe", f[name], "--out", out])
             for name in sorted(f) if name.startswith("recipe-")]
    cases += [Case(f"system run {name}", REFUSED, "", argv=["system", "run", f[name], "--image", scene])
              for name in sorted(f) if name.startswith("system-")]
    for name in sorted(f):
        if name.startswith("model-"):
            cases.append(Case(f"ask --model {name}", REFUSED, "", argv=["ask", scene, "what shape?", "--model", f[name]]))
            cases.append(Case(f"eval vqa --model {name}", REFUSED, "",
                              argv=["eval", "vqa", "--data", "shapes:sort-of-clevr:test", "--n", "4", "--model", f[name]]))
    cases += [
        Case("classify --model a Hugging Face folder of pickled weights", REFUSED, "pickle",
             argv=["classify", scene, "--labels", "a,b", "--model", f["hf-pickled"]]),
        Case("embed --model a Hugging Face folder of pickled weights", REFUSED, "pickle",
             argv=["embed", scene, "--out", out + ".npz", "--model", f["hf-pickled"]]),
        Case("train --out an existing file", REFUSED, "an-existing-file",
             argv=["train", "--data", "shapes:sort-of-clevr:train", "--n", "8", "--epochs", "1", "--fusion",
                   "early:feature", "--out", f["out-file"]]),
        Case("generate --out into an existing file's folder", REFUSED, "",
             argv=["generate", "a red circle", "--steps", "2", "--out", f["out-file"] + "/x.png"]),
        Case("ask --model a shipped model of another task", REFUSED, "not for", argv=["ask", scene, "what?", "--model",
                                                                                     "caption-shapes"]),
        Case("ask --model a name that is nothing", REFUSED, "not a shipped model",
             argv=["ask", scene, "what?", "--model", "no-such-model"]),
    ]
    for name in ("nested.jsonl", "nul.jsonl", "surrogate.jsonl", "blank-question.jsonl", "number-question.jsonl",
                 "non-utf8.jsonl", "not-json.jsonl", "list-row.jsonl", "missing-image.jsonl", "nan.jsonl", "bad.csv"):
        cases.append(Case(f"ask --data {name}", REFUSED, "", argv=["ask", "--data", f[name]]))
        cases.append(Case(f"eval vqa --data {name}", REFUSED, "", argv=["eval", "vqa", "--data", f[name]]))
    return cases


def cases(f: dict) -> list[Case]:
    return sweep(f) + texts(f) + voices(f) + numbers(f) + media(f) + configs(f)
