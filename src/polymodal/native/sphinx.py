"""pocketsphinx 5 (its wheel bundles an English acoustic model and dictionary): 16 kHz
16-bit PCM in, the best hypothesis out."""
from __future__ import annotations

from ..core.errors import ConfigError

RATE = 16000


class Decoder:
    """One decoder, optionally held to a JSGF grammar (None: the general English model)."""

    def __init__(self, grammar: str | None = None):
        try:
            from pocketsphinx import Decoder as SphinxDecoder
        except ImportError:
            raise ConfigError("the pocketsphinx engine needs the pocketsphinx package (pip install pocketsphinx)") from None
        self.decoder = SphinxDecoder(samprate=RATE, loglevel="FATAL")
        if grammar:
            self.decoder.add_jsgf_string("world", grammar)
            self.decoder.activate_search("world")

    def decode(self, pcm: bytes) -> tuple[str, float]:
        """-> (the words heard, their log probability; "" and -inf for nothing heard)."""
        if not isinstance(pcm, bytes) or len(pcm) % 2:
            raise ValueError("pcm: 16-bit samples as bytes")
        self.decoder.start_utt()
        self.decoder.process_raw(pcm, full_utt=True)
        self.decoder.end_utt()
        hyp = self.decoder.hyp()
        return (hyp.hypstr, float(hyp.prob)) if hyp else ("", float("-inf"))
