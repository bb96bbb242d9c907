"""How each task scores its models: pure functions of predictions and the truth (no models).

    answers.py   VQA and classification: accuracy, per question type or label, macro F1
    boxes.py     grounding: IoU, accuracy at IoU >= 0.5
    caption.py   BLEU-4, CIDEr, and fact precision / recall / F1 read back from the caption
    generate.py  text-to-image: each drawn image read back by the scene parser; KID
    edit.py      image edits: the change made, the other objects kept
    retrieval.py recall at k
    speech.py    word and character error rates
"""
