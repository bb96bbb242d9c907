"""`polymodal export`: a model's encoders as ONNX graphs (inference/onnx_export.py)."""
from __future__ import annotations

import json
from pathlib import Path

from ...inference.onnx_export import export_onnx


def export(args) -> int:
    parts = export_onnx(args.model, Path(args.out))
    for place, part in parts.items():
        print(json.dumps({"part": place, "file": f"{args.out}/onnx/{part['file']}", "encoder": part["encoder"],
                          "max_difference": part["max_difference"]}))
    return 0
