"""Processors turn validated modality values into model tensors (kept apart from models)."""
