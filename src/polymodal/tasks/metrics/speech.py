"""Speech recognition: word and character error rates (jiwer) on normalised transcripts."""
from __future__ import annotations

import numpy as np

from ...speech.text import normalize_transcript


def error_rates(references: list[str], hypotheses: list[str]) -> dict:
    """WER, CER and the share of exact transcripts; an empty reference is left out."""
    import jiwer
    refs = [normalize_transcript(r) for r in references]
    hyps = [normalize_transcript(h) for h in hypotheses]
    keep = [i for i, r in enumerate(refs) if r]
    refs, hyps = [refs[i] for i in keep], [hyps[i] for i in keep]
    return {"wer": float(jiwer.wer(refs, hyps)), "cer": float(jiwer.cer(refs, hyps)), "utterances": len(refs),
            "exact": float(np.mean([r == h for r, h in zip(refs, hyps)]))}
