"""The spoken world: the embedded world's sentences spoken by each split's eSpeak NG voices
(voices.py, sentences.py, synthesis.py), spoken VQA questions (questions.py) and the
world's grammar for recognisers that take one (grammar.py)."""
