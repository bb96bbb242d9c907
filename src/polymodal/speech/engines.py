"""Real offline speech engines as components, chosen like models with --model:

    espeak              synthesis (eSpeak NG; any voice by --voice)          task: speak
    pocketsphinx        recognition constrained to the world's sentences   task: transcribe
    pocketsphinx-answers  the same, listening for answers only (yes, no, square, circle, 1-6)
    pocketsphinx-free   recognition with pocketsphinx's general English model
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..data import shapes_preset, sort_of_clevr
from ..registry import Registry

ENGINES: Registry = Registry("speech engine")


@dataclass
class EngineConfig:
    task: str
    name: str


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


class PocketsphinxRecognizer:
    """pocketsphinx 5 (its wheel bundles an English acoustic model and dictionary)."""

    rate = 16000

    def __init__(self, grammar: str | None = "utterance"):
        try:
            from pocketsphinx import Decoder
        except ImportError:
            from ..errors import ConfigError
            raise ConfigError("the pocketsphinx engine needs the pocketsphinx package (pip install pocketsphinx)") from None
        self.decoder = Decoder(samprate=self.rate, loglevel="FATAL")
        if grammar:
            self.decoder.add_jsgf_string("world", world_grammar(grammar))
            self.decoder.activate_search("world")
        self.config = EngineConfig("transcribe", {None: "pocketsphinx-free", "utterance": "pocketsphinx",
                                                  "answer": "pocketsphinx-answers"}[grammar])

    def eval(self):
        return self

    def transcribe_audios(self, audios: list, batch_size: int = 1) -> list:
        """One utterance at a time (the decoder is sequential; batch_size is accepted and unused)."""
        from ..models.recognizer import Transcript
        out = []
        for audio in audios:
            # a quarter second of silence first: pocketsphinx misses a word that starts at once
            wave = np.pad(audio.resampled(self.rate).waveform, (self.rate // 4, 0))
            pcm = (np.clip(wave, -1, 1) * 32767).astype(np.int16).tobytes()
            self.decoder.start_utt()
            self.decoder.process_raw(pcm, full_utt=True)
            self.decoder.end_utt()
            hyp = self.decoder.hyp()
            out.append(Transcript(hyp.hypstr if hyp else "", float(np.exp(hyp.prob)) if hyp else 0.0))
        return out


class EspeakSpeaker:
    """eSpeak NG: any text, in any of its voices (accent+variant, e.g. en-us+m3)."""

    def __init__(self):
        self.config = EngineConfig("speak", "espeak")

    def eval(self):
        return self

    def speak_texts(self, texts: list[str], voice: str | None = None) -> list:
        from ..modalities import Audio
        from .espeak import Voice
        from .spoken import RATE, speak
        return [Audio(speak(t, Voice.parse(voice or "en-us")), RATE, "<espeak>") for t in texts]


ENGINES.register("pocketsphinx")(lambda: PocketsphinxRecognizer("utterance"))
ENGINES.register("pocketsphinx-answers")(lambda: PocketsphinxRecognizer("answer"))
ENGINES.register("pocketsphinx-free")(lambda: PocketsphinxRecognizer(None))
ENGINES.register("espeak")(EspeakSpeaker)
