"""Tasks: each knows its data, how a model for it is built and fed, and how it is scored
(the interface: tasks/base.py; metrics: tasks/metrics/). Importing this package registers
every task in TASKS (tasks/registry.py)."""
from . import (  # noqa: F401
               align,
               align_evals,
               autoencode,
               caption,
               classify,
               edit,
               generate,
               ground,
               speak,
               text_qa,
               transcribe,
               video_align,
               video_caption,
               video_qa,
               vlm,
               vqa,
)
