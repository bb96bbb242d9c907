"""`polymodal data shapes`: the embedded world on disk."""
from __future__ import annotations

import sys
from pathlib import Path

from ...core.errors import InputError
from ...data.export import export_shapes


def data(args) -> int:
    if args.noise_snr is not None and not args.spoken:
        raise InputError("--noise-snr needs --spoken")
    path = export_shapes(args.preset, args.split, args.seed, args.n, Path(args.out), args.image_format,
                         args.jpeg_quality, args.spoken, args.noise_snr)
    print(f"wrote {args.n} {args.preset} scenes and {path}", file=sys.stderr)
    return 0
