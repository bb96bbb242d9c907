"""Inference: the task pipelines pm.load returns, the fast path (device, precision, compile), and batch jobs over large inputs, locally or on Ray."""
