"""Real offline speech engines as components, chosen like models with --model:

    espeak              synthesis (eSpeak NG; any voice by --voice)          task: speak
    pocketsphinx        recognition constrained to the world's sentences   task: transcribe
    pocketsphinx-answers  the same, listening for answers only (yes, no, square, circle, 1-6)
    pocketsphinx-free   recognition with pocketsphinx's general English model
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..core.results import Transcript
from ..data.spoken.grammar import world_grammar
from ..data.spoken.synthesis import RATE, speak
from ..modalities import Audio
from ..native.sphinx import RATE as SPHINX_RATE
from ..native.worker import Native
from ..speech.espeak import Voice
from .registry import ENGINES


@dataclass
class EngineConfig:
    """What the loader checks of any model (its task), and the engine's name."""
    task: str
    name: str


class Engine:
    """Base of the engines: nothing to train, no weights, always in inference mode."""

    config: EngineConfig

    def eval(self):
        return self

    def num_parameters(self) -> int:
        return 0


class PocketsphinxRecognizer(Engine):
    """pocketsphinx 5 (its wheel bundles an English acoustic model and dictionary)."""

    rate = SPHINX_RATE

    def __init__(self, grammar: str | None = "utterance"):
        self.decoder = Native("polymodal.native.sphinx", "Decoder", world_grammar(grammar) if grammar else None)
        self.decoder.start()
        self.config = EngineConfig("transcribe", {None: "pocketsphinx-free", "utterance": "pocketsphinx",
                                                  "answer": "pocketsphinx-answers"}[grammar])

    def transcribe_audios(self, audios: list[Audio], batch_size: int = 1, expect: str | None = None,
                          progress: bool = False) -> list[Transcript]:
        """One utterance at a time (the decoder is sequential: batch_size is unused); its
        grammar already says what to expect."""
        out = []
        for audio in audios:
            # a quarter second of silence first: pocketsphinx misses a word that starts at once
            wave = np.pad(audio.resampled(self.rate).waveform, (self.rate // 4, 0))
            pcm = (np.clip(wave, -1, 1) * 32767).astype(np.int16).tobytes()
            words, log_prob = self.decoder.call("decode", pcm)
            out.append(Transcript(words, float(np.exp(log_prob))))
        return out


class EspeakSpeaker(Engine):
    """eSpeak NG: any text, in any of its voices (accent+variant, e.g. en-us+m3)."""

    def __init__(self):
        self.config = EngineConfig("speak", "espeak")

    def speak_texts(self, texts: list[str], voice: str | None = None) -> list[Audio]:
        return [Audio(speak(t, Voice.parse(voice or "en-us")), RATE, "<espeak>") for t in texts]


ENGINES.register("pocketsphinx")(lambda: PocketsphinxRecognizer("utterance"))
ENGINES.register("pocketsphinx-answers")(lambda: PocketsphinxRecognizer("answer"))
ENGINES.register("pocketsphinx-free")(lambda: PocketsphinxRecognizer(None))
ENGINES.register("espeak")(EspeakSpeaker)
