"""Speech tools that train nothing and know nothing of the embedded world: eSpeak NG through
ctypes (espeak.py), transcript normalisation (text.py), the Griffin-Lim vocoder (vocoder.py)
and the CTC lexicon beam search (ctc_beam.py). The spoken world is data/spoken/."""
