"""A small untrained vlm (models/vlm.py) whose words cover the embedded world's prompts and
answers (and so what the spoken world's recogniser writes), for the tests of the machinery
around chat models: what they check does not depend on its answers being right."""
from __future__ import annotations

from pathlib import Path


def build_tiny_vlm(folder: Path, scenes: int = 600) -> Path:
    import torch

    from polymodal.tasks.registry import TASKS
    task = TASKS.build("vlm")
    examples, _ = task.load_data("vlm:train", 0, scenes)
    torch.manual_seed(0)
    # 512 positions: an untrained model writes every reply to its limit (64 words in the page's
    # chat), and a conversation of three such turns must still fit
    model = task.build_model({"image_encoder": {"name": "cnn", "config": {"dim": 16, "channels": [8, 8],
                                                                          "image_size": 16}},
                              "dim": 32, "layers": 1, "heads": 2, "max_positions": 512}, examples)
    model.save_pretrained(folder)
    return folder
