"""The vlm in conversation and in context, on unseen sort-of-clevr scenes (test split, seed 7):

- two-turn dialogues: "what is the colour of the object closest to the red object?", then
  "what is its shape?" (or "is it on the left?", "is it at the top?"), the second asked after
  the model's own first answer: the share of follow-ups answered right (chat accuracy);
- few-shot by prompting: "code for the shape of the X object?" after k examples (other scenes
  with their shapes' codes), with k = 0 and k = 4, for codes training never wrote
  (HELD_OUT_CODES) and for training's codes in mappings drawn afresh.

    python benchmarks/vlm_chat.py                     # the shipped vlm-embedded
    python benchmarks/vlm_chat.py --model runs/vlm/model --scenes 100

Writes benchmarks/results/vlm_chat.{json,md}.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
from pathlib import Path

RESULTS = Path(__file__).parent / "results"
SEED = 7


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="vlm-embedded")
    parser.add_argument("--scenes", type=int, default=100, help="test scenes: two dialogues each, one few-shot query")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    import torch
    torch.set_num_threads(args.threads)
    from polymodal.loading import load_model
    from polymodal.tasks.vlm import (
        CODE_WORDS,
        HELD_OUT_CODES,
        dialogue_answers,
        dialogue_scores,
        few_shot_accuracy,
        load_examples,
    )
    model = load_model(args.model).eval()
    examples = load_examples("shapes:sort-of-clevr:test", SEED, args.scenes)
    answered = dialogue_answers(model, examples)
    chat = dialogue_scores(answered)
    by_follow_up: dict[str, list[bool]] = {}
    for talk, said in answered:
        by_follow_up.setdefault(talk[-1].truth.family, []).append(said[-1] == talk[-1].answer)
    chat["per_follow_up"] = {k: round(sum(v) / len(v), 4) for k, v in sorted(by_follow_up.items())}
    # the strict reading: a yes/no or two-shape follow-up can be right by chance after a wrong opener
    chat["both_turns_right"] = round(sum(said == [t.answer for t in talk] for talk, said in answered)
                                     / len(answered), 4)
    shots = {}
    for name, words in (("held-out codes", HELD_OUT_CODES), ("training's codes, new mappings", CODE_WORDS)):
        shots[name] = {k: round(few_shot_accuracy(model, examples, k, words, seed=SEED), 4) for k in (0, 4)}
    machine = f"{platform.machine()}, {os.cpu_count()} cores, {args.threads} threads, torch {torch.__version__}"
    command = "python benchmarks/vlm_chat.py " + " ".join(sys.argv[1:])
    result = {"command": command, "machine": machine, "model": args.model, "chat": chat, "few_shot": shots,
              "examples": [{"turns": [t.prompt for t in talk], "truth": [t.answer for t in talk], "said": said}
                           for talk, said in answered[:6]]}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "vlm_chat.json").write_text(json.dumps(result, indent=2) + "\n")
    lines = [f"# {args.model} in conversation and in context", "", f"`{command}` on {machine}; sort-of-clevr test "
             f"scenes, seed {SEED}.", "", "## Two-turn dialogues", "",
             f"{chat['chat_dialogues']} dialogues: the follow-up answered right in **{100 * chat['chat_accuracy']:.1f}%** "
             f"(the opener in {100 * chat['chat_first_turn_accuracy']:.1f}%); both turns right in "
             f"**{100 * chat['both_turns_right']:.1f}%** (a follow-up is yes/no or one of two shapes, so it can be "
             f"right by chance after a wrong opener).", "",
             "| follow-up | right |", "|---|---|"]
    lines += [f"| {k} | {100 * v:.1f}% |" for k, v in chat["per_follow_up"].items()]
    lines += ["", "| opener | truth | said |", "|---|---|---|"]
    lines += [f"| {' / '.join(e['turns'])} | {' / '.join(e['truth'])} | {' / '.join(e['said'])} |"
              for e in result["examples"]]
    lines += ["", "## Few-shot by prompting", "", "Accuracy of the code word for the asked object's shape "
              "(two shapes, so a code guessed among the two shown scores 50%).", "",
              "| codes | 0 examples | 4 examples |", "|---|---|---|"]
    lines += [f"| {name} | {100 * v[0]:.1f}% | {100 * v[4]:.1f}% |" for name, v in shots.items()]
    (RESULTS / "vlm_chat.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
