"""eSpeak NG speech synthesis through ctypes, from the library and voices that the
`espeakng-loader` wheel bundles (no system package needed).

    wave, rate = synthesize("what is the shape of the red object?", Voice("en-us", "m3", 160, 50))

eSpeak keeps one global state, so calls are serialised with a lock. Its output is not
bit-exact from call to call: the same text and voice come out a few milliseconds longer or
shorter depending on what was spoken before in the process (neither srand nor
espeak_ng_SetRandSeed fixes it). The spoken world is therefore deterministic in its texts
and voices, not in its samples.
"""
from __future__ import annotations

import ctypes
import threading
from dataclasses import dataclass

import numpy as np

from ..core.errors import ConfigError, InputError

_AUDIO_OUTPUT_SYNCHRONOUS = 2
_INITIALIZE_DONT_EXIT = 0x8000           # without it eSpeak calls exit() when its data fails to load
_INITIALIZE_PHONEME_EVENTS = 0x0001      # report each phoneme as it is spoken (for the synthesiser's timings)
_POS_CHARACTER = 1
_CHARS_UTF8 = 1
_RATE, _PITCH = 1, 3                     # espeak_PARAMETER values
_EVENT_PHONEME, _EVENT_END_OF_LIST = 7, 0


class _Event(ctypes.Structure):
    """espeak_EVENT from speak_lib.h."""
    _fields_ = [("type", ctypes.c_int), ("unique_identifier", ctypes.c_uint), ("text_position", ctypes.c_int),
                ("length", ctypes.c_int), ("audio_position", ctypes.c_int), ("sample", ctypes.c_int),
                ("user_data", ctypes.c_void_p), ("id", ctypes.c_char * 8)]


_SYNTH_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.POINTER(_Event))
_lock = threading.Lock()
_state: dict = {}


@dataclass(frozen=True)
class Voice:
    language: str = "en-us"              # an eSpeak language/accent, e.g. en-us, en-gb-scotland
    variant: str = ""                    # an eSpeak variant (m1..m7, f1..f5, klatt, ...), "" = default
    rate: int = 175                      # words per minute
    pitch: int = 50                      # 0..99

    @property
    def name(self) -> str:
        return f"{self.language}+{self.variant}" if self.variant else self.language

    @classmethod
    def parse(cls, name: str, rate: int = 175, pitch: int = 50) -> "Voice":
        """'en-us+m3' -> Voice("en-us", "m3")."""
        language, _, variant = name.partition("+")
        return cls(language, variant, rate, pitch)

    def label(self) -> str:
        return f"{self.name}@{self.rate}wpm/p{self.pitch}"


def _library():
    """Load and initialise eSpeak once; -> (library, sample rate)."""
    if "lib" not in _state:
        try:
            import espeakng_loader
        except ImportError:
            raise ConfigError("speech synthesis needs the espeakng-loader package (pip install espeakng-loader)") from None
        lib = ctypes.CDLL(espeakng_loader.get_library_path())
        lib.espeak_Initialize.restype = ctypes.c_int
        lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        rate = lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, espeakng_loader.get_data_path().encode(),
                                     _INITIALIZE_DONT_EXIT | _INITIALIZE_PHONEME_EVENTS)
        lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        if rate <= 0 or lib.espeak_SetVoiceByName(b"en") != 0:
            raise ConfigError("eSpeak NG failed to initialise (espeakng-loader's data folder unreadable?)")
        lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        lib.espeak_Synth.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int, ctypes.c_uint,
                                     ctypes.c_uint, ctypes.c_void_p, ctypes.c_void_p]
        chunks: list[np.ndarray] = []
        phonemes: list[tuple[str, int]] = []

        def collect(samples, count, events):
            if count > 0:
                chunks.append(np.ctypeslib.as_array(samples, shape=(count,)).copy())
            i = 0
            while events and events[i].type != _EVENT_END_OF_LIST:
                if events[i].type == _EVENT_PHONEME:
                    phonemes.append((events[i].id.decode("ascii", "replace"), events[i].audio_position))
                i += 1
            return 0                       # 0: go on synthesising
        callback = _SYNTH_CALLBACK(collect)
        lib.espeak_SetSynthCallback(callback)
        _state.update(lib=lib, rate=rate, chunks=chunks, phonemes=phonemes, callback=callback)   # keep the callback alive
    return _state["lib"], _state["rate"]


@dataclass
class Utterance:
    """What eSpeak said and when: the waveform and each phoneme as (eSpeak's mnemonic, onset in ms)."""
    wave: np.ndarray                     # float32 mono in [-1, 1]
    rate: int
    phonemes: list[tuple[str, int]]


def synthesize(text: str, voice: Voice = Voice()) -> tuple[np.ndarray, int]:
    """-> (float32 mono waveform in [-1, 1], sample rate)."""
    said = utter(text, voice)
    return said.wave, said.rate


def utter(text: str, voice: Voice = Voice()) -> Utterance:
    """Speak `text` and keep eSpeak's phoneme timings."""
    if not text.strip():
        raise InputError("nothing to speak: the text is empty")
    with _lock:
        lib, rate = _library()
        if lib.espeak_SetVoiceByName(voice.name.encode()) != 0:
            raise InputError(f"eSpeak NG has no voice {voice.name!r}")
        lib.espeak_SetParameter(_RATE, int(voice.rate), 0)
        lib.espeak_SetParameter(_PITCH, int(voice.pitch), 0)
        data = text.encode("utf-8") + b"\0"
        _state["chunks"].clear()
        _state["phonemes"].clear()
        if lib.espeak_Synth(data, len(data), 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None) != 0:
            raise InputError(f"eSpeak NG could not speak {text!r}")
        lib.espeak_Synchronize()
        samples = np.concatenate(_state["chunks"]) if _state["chunks"] else np.zeros(0, np.int16)
        return Utterance(samples.astype(np.float32) / 32768.0, rate, list(_state["phonemes"]))
