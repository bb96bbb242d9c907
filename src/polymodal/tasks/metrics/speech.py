"""Speech recognition: word and character error rates (jiwer) on normalised transcripts."""
from __future__ import annotations

import numpy as np

from ...speech.text import normalize_transcript


def error_rates(references: list[str], hypotheses: list[str]) -> dict:
    """WER, CER, the share of the references' words written right (words_right: hits over
    reference words, which insertions do not lower) and the share of exact transcripts; an
    empty reference is left out."""
    import jiwer
    refs = [normalize_transcript(r) for r in references]
    hyps = [normalize_transcript(h) for h in hypotheses]
    keep = [i for i, r in enumerate(refs) if r]
    refs, hyps = [refs[i] for i in keep], [hyps[i] for i in keep]
    counts = jiwer.process_words(refs, hyps)
    right = counts.hits / max(1, counts.hits + counts.substitutions + counts.deletions)
    return {"wer": float(jiwer.wer(refs, hyps)), "cer": float(jiwer.cer(refs, hyps)), "words_right": float(right),
            "utterances": len(refs),
            "exact": float(np.mean([r == h for r, h in zip(refs, hyps)]))}
