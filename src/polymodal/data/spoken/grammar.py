"""The spoken world's language as a JSGF grammar, for recognisers that take one (pocketsphinx)."""
from __future__ import annotations

from .. import shapes_preset, sort_of_clevr


def world_grammar(public: str = "utterance") -> str:
    """JSGF grammar of every sentence the spoken world says (questions, captions, phrases,
    answers), built from the presets' own word lists; `public` picks the rule to listen for
    ("utterance": any of them; "answer": answers only)."""
    consonant = " | ".join(c for c in sort_of_clevr.COLOURS if c[0] not in "aeiou")
    vowel = " | ".join(c for c in sort_of_clevr.COLOURS if c[0] in "aeiou")
    shapes = " | ".join(shapes_preset.SHAPES)
    relations = " | ".join(shapes_preset.RELATIONS)
    questions = " | ".join(t.format(c="<colour>").rstrip("?") for t, _ in sort_of_clevr.QUESTION_FAMILIES.values())
    answers = " | ".join(["yes", "no", "square", "circle", "one", "two", "three", "four", "five", "six"])
    return f"""#JSGF V1.0;
grammar world;
public <listen> = <{public}>;
<utterance> = <question> | <caption> | <phrase> | <answer>;
<colour> = {consonant} | {vowel};
<shape> = {shapes};
<object> = <colour> <shape>;
<some> = a ({consonant}) <shape> | an ({vowel}) <shape>;
<relation> = {relations};
<caption> = <some> [<relation> <some> (and the <object> <relation> <some>)*];
<phrase> = the (<object> | <shape> <relation> the <object>);
<question> = {questions};
<answer> = {answers};
"""
