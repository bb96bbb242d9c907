"""Processors turn checked modality values into model tensors and back (image resize and
scale, the word tokenizer, log-mel features), and augment them in training."""
