"""Experiments built on the library: the fusion table, object-centric pretraining of the image encoder it shares, and the demo report."""
