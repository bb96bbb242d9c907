"""An engine that hands eSpeak NG its voice unchecked, as polymodal did before voices were
validated: a variant name of 37 characters or more makes the library abort (glibc's
"buffer overflow detected"). Only the crash-containment tests use it."""
from polymodal.data.spoken.synthesis import RATE
from polymodal.engines.registry import ENGINES
from polymodal.engines.speech import Engine, EngineConfig
from polymodal.modalities import Audio
from polymodal.native.worker import Native
from polymodal.speech.espeak import Voice

NAME = "espeak-unchecked"


class UncheckedSpeaker(Engine):
    def __init__(self):
        self.config = EngineConfig("speak", NAME)
        self.engine = Native("polymodal.speech.espeak", "Espeak")

    def speak_texts(self, texts, voice=None):
        language, _, variant = (voice or "en-us").partition("+")
        return [Audio(self.engine.call("utter", t, Voice(language, variant)).wave, RATE, "<espeak>") for t in texts]


if NAME not in ENGINES:
    ENGINES.register(NAME)(UncheckedSpeaker)
