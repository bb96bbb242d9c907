"""Adapters of Hugging Face speech models: Whisper and other speech-to-text seq2seq models
(transcribe), VITS / MMS-TTS (speak). Importing this module registers them."""
from __future__ import annotations

import torch
from torch import nn

from ..core.errors import InputError
from ..core.results import Transcript
from ..modalities import Audio
from . import whisper_greedy
from .base import HFAdapter, Processor, load_model_weights, new_token_cap
from .loading import load_pretrained, quiet
from .registry import HF_ADAPTERS
from .speech_features import log_mel_features


@HF_ADAPTERS.register("whisper")
class HFRecognizer(HFAdapter):
    """Whisper (or another speech-to-text seq2seq model with a feature extractor) as
    polymodal's recogniser; audio longer than its window is read in windows and joined."""

    task = "transcribe"
    trains = True

    @staticmethod
    def auto_class():
        from transformers import AutoModelForSpeechSeq2Seq
        return AutoModelForSpeechSeq2Seq

    @classmethod
    def from_pretrained(cls, directory):
        from transformers import AutoProcessor

        combined = load_pretrained(AutoProcessor, directory, "processor")
        return cls(load_model_weights(cls.auto_class(), directory),
                   Processor(tokenizer=combined.tokenizer, feature_extractor=combined.feature_extractor), directory)

    @property
    def rate(self) -> int:
        return self.processor.feature_extractor.sampling_rate

    def per_token_linears(self) -> list[nn.Linear]:
        # the folded cross-attention (fast_layers.py) reads its key and value weights itself
        read = (".encoder_attn.k_proj", ".encoder_attn.v_proj")
        head = self.model.get_output_embeddings()
        return [m for name, m in self.model.get_decoder().named_modules()
                if type(m) is nn.Linear and not name.endswith(read)] + ([head] if type(head) is nn.Linear else [])

    def encoder_linears(self) -> list[nn.Linear]:
        return [m for m in self.model.get_encoder().modules() if type(m) is nn.Linear]

    @property
    def encoder_dtype(self) -> torch.dtype:
        return next(self.model.get_encoder().parameters()).dtype

    @torch.no_grad()
    def transcribe_audios(self, audios: list[Audio], batch_size: int = 16, expect: str | None = None,
                          progress: bool = False) -> list[Transcript]:
        """One Transcript per audio, read in the model's windows; `expect` and `progress`
        are accepted for the task's interface (tasks/transcribe.py) and not used."""
        extractor = self.processor.feature_extractor
        window = extractor.n_samples / extractor.sampling_rate
        pieces, owner = [], []
        for i, audio in enumerate(audios):
            for piece in audio.windows(self.rate, window):
                pieces.append(piece.waveform)
                owner.append(i)
        texts: list[list[str]] = [[] for _ in audios]
        # the decoder's positions hold the start prompt (a few tokens) and the words
        longest = new_token_cap(self.model, min(128, getattr(self.model.config, "max_target_positions", 448) - 8))
        encoder = self.model.get_encoder()
        for start in range(0, len(pieces), batch_size):
            batch = pieces[start:start + batch_size]
            with torch.autocast("cpu", enabled=False):     # features in fp32 under a mixed-precision path
                features = log_mel_features(extractor, batch)
                if features is None:
                    features = extractor(batch, sampling_rate=self.rate, return_tensors="pt")["input_features"]
            # The encoder runs once here and generate is handed its output: given only the
            # features, Whisper's generate runs the encoder twice (once to detect the
            # language). Same result, a third less time on a CPU.
            heard = encoder(features.to(self.model.device, self.encoder_dtype))
            if whisper_greedy.serves(self.model, longest):
                ids = whisper_greedy.greedy_transcribe(self.model, heard.last_hidden_state, longest)
            else:
                with quiet():
                    ids = self.model.generate(encoder_outputs=heard, max_new_tokens=longest)
            for i, text in zip(owner[start:start + batch_size],
                               self.processor.tokenizer.batch_decode(ids, skip_special_tokens=True)):
                texts[i].append(text.strip())
        return [Transcript(" ".join(t for t in ts if t), 1.0) for ts in texts]

    def training_loss(self, values: dict) -> torch.Tensor:
        """Cross-entropy of each transcript given its audio (the model's own loss); an audio
        longer than the model's window is refused, as its transcript could not be split."""
        extractor = self.processor.feature_extractor
        window = extractor.n_samples / extractor.sampling_rate
        waves = [a.resampled(self.rate).waveform for a in values["audio"]]
        longer = [a.source for a, w in zip(values["audio"], waves) if len(w) > extractor.n_samples]
        if longer:
            raise InputError(f"{longer[0]}: longer than the model's {window:g} s window; fine-tuning takes "
                             f"utterances that fit in one")
        features = extractor(waves, sampling_rate=self.rate, return_tensors="pt")["input_features"]
        # padded here (-100, which the loss leaves out): not every tokenizer names a pad token
        rows = [self.processor.tokenizer(t)["input_ids"] for t in values["text"]]
        start = self.model.config.decoder_start_token_id
        rows = [r[1:] if r and r[0] == start else r for r in rows]     # the model puts the start in front itself
        rows = [r[:self.model.config.max_target_positions - 1] for r in rows]
        width = max(len(r) for r in rows)
        labels = torch.tensor([r + [-100] * (width - len(r)) for r in rows])
        return self.model(input_features=self.on_device(features), labels=self.on_device(labels)).loss


@HF_ADAPTERS.register("vits")
class HFSynthesizer(HFAdapter):
    """VITS / MMS-TTS as polymodal's synthesiser: text straight to a waveform."""

    task = "speak"

    @staticmethod
    def auto_class():
        from transformers import VitsModel
        return VitsModel

    @classmethod
    def from_pretrained(cls, directory):
        from transformers import AutoTokenizer

        return cls(load_model_weights(cls.auto_class(), directory),
                   Processor(tokenizer=load_pretrained(AutoTokenizer, directory, "tokenizer")), directory)

    @torch.no_grad()
    def speak_texts(self, texts: list[str], voice: str | None = None) -> list:
        tokenizer = self.processor.tokenizer
        known = set(tokenizer.get_vocab())
        out = []
        for text in texts:
            unknown = sorted({c for c in text.lower() if c not in known and not c.isspace()})
            if unknown or not text.strip():
                raise InputError(f"{text!r}: " + (f"characters it cannot speak: {''.join(unknown)!r}" if unknown
                                                  else "nothing to say"))
            inputs = tokenizer(text, return_tensors="pt")
            wave = self.model(**inputs.to(self.model.device)).waveform[0].float().cpu().numpy()
            out.append(Audio(wave.astype("float32"), self.model.config.sampling_rate, "<vits>"))
        return out
