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
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from ..core import values
from ..core.errors import ConfigError, InputError
from ..native.worker import Native

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
MAX_VOICE_NAME = 64                      # characters: longer than any voice of eSpeak's (each is checked against its list)


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
        """'en-us+m3' -> Voice("en-us", "m3"), checked against eSpeak NG's own voices."""
        if not isinstance(name, str) or len(name) > MAX_VOICE_NAME:
            raise InputError(f"voice {str(name)[:MAX_VOICE_NAME]!r}...: not a voice name of eSpeak NG")
        language, _, variant = name.strip().partition("+")
        return cls(language.lower(), variant, rate, pitch).checked()

    def checked(self) -> "Voice":
        """This voice with the variant's name as eSpeak spells it; one eSpeak NG does not have
        (which it would silently replace by its default, or worse) is an input error."""
        languages, variants = voice_catalog()
        if self.language not in languages:
            raise InputError(f"voice {self.name!r}: eSpeak NG has no language {self.language!r} "
                             f"(it has {len(languages)}, e.g. en-us, en-gb-scotland, de, fr)")
        if self.variant and self.variant.lower() not in variants:
            raise InputError(f"voice {self.name!r}: eSpeak NG has no variant {self.variant!r} "
                             f"(it has {len(variants)}, e.g. m1-m7, f1-f5, klatt)")
        if not 20 <= self.rate <= 500 or not 0 <= self.pitch <= 99:
            raise InputError(f"voice {self.name!r}: rate {self.rate} or pitch {self.pitch} outside "
                             f"20-500 words a minute and 0-99")
        return replace(self, variant=variants[self.variant.lower()]) if self.variant else self

    def label(self) -> str:
        return f"{self.name}@{self.rate}wpm/p{self.pitch}"


class _VoiceEntry(ctypes.Structure):
    """espeak_VOICE from speak_lib.h (languages: a priority byte and a name, repeated)."""
    _fields_ = [("name", ctypes.c_char_p), ("languages", ctypes.c_void_p), ("identifier", ctypes.c_char_p),
                ("gender", ctypes.c_ubyte), ("age", ctypes.c_ubyte), ("variant", ctypes.c_ubyte),
                ("xx1", ctypes.c_ubyte), ("score", ctypes.c_int), ("spare", ctypes.c_void_p)]


def voice_catalog() -> tuple[frozenset[str], dict[str, str]]:
    """What eSpeak NG can speak: its language codes (lower case: en-us, en-gb-scotland, ...)
    and its variants (lower case -> the name of the variant's file: m1, f3, Andy, ...)."""
    if "catalog" not in _state:
        with _lock:
            lib, _ = _library()
            entries = lib.espeak_ListVoices(None)
            languages = set()
            i = 0
            while entries[i]:
                entry = entries[i].contents
                raw = ctypes.string_at(entry.languages, 256)
                pos = 0
                while pos < len(raw) and raw[pos] != 0:          # priority byte, name, NUL; an empty one ends
                    end = raw.index(b"\0", pos + 1)
                    languages.add(raw[pos + 1:end].decode("latin-1").lower())
                    pos = end + 1
                languages.add(entry.identifier.decode("latin-1").rsplit("/", 1)[-1].lower())
                i += 1
            variant_dir = Path(_state["data_path"]) / "voices" / "!v"
            variants = {p.name.lower(): p.name for p in variant_dir.iterdir() if p.is_file()}
            _state["catalog"] = (frozenset(languages), variants)
    return _state["catalog"]


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
        data_path = espeakng_loader.get_data_path()
        rate = lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, data_path.encode(),
                                     _INITIALIZE_DONT_EXIT | _INITIALIZE_PHONEME_EVENTS)
        lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        lib.espeak_ListVoices.restype = ctypes.POINTER(ctypes.POINTER(_VoiceEntry))
        lib.espeak_ListVoices.argtypes = [ctypes.c_void_p]
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
        _state.update(lib=lib, rate=rate, chunks=chunks, phonemes=phonemes, callback=callback,   # keep the callback alive
                      data_path=data_path)
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
    """Speak `text` and keep eSpeak's phoneme timings. The library sees only checked values:
    the text valid Unicode without NUL, the voice one of its own. In the server it speaks in
    a worker process (native/worker.py), so that a crash inside eSpeak ends only that."""
    return _engine.call("utter", values.text(text, "text to speak"), voice.checked())


class Espeak:
    """The calls into the library. `utter` trusts its arguments: callers check them (utter()
    above); it is what runs in the worker process."""

    def utter(self, text: str, voice: Voice) -> Utterance:
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


_engine = Native(__name__, "Espeak")
