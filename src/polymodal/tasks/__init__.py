"""Tasks: each knows its inputs, its data, its default model and its metrics."""
