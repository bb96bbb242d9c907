"""What the parser must know without importing the library, so that `--help` and usage errors
answer at once: the task names it offers as choices, and defaults several verbs share.
tests/test_architecture.py checks the names against the task registry."""

TRAINABLE_TASKS = ("vqa", "classify", "text-qa", "caption", "align", "ground", "transcribe", "speak", "generate",
                   "autoencode", "vlm", "video-qa", "video-caption", "video-align")
EVALUATIONS = TRAINABLE_TASKS + ("retrieve", "zero-shot", "few-shot", "edit")   # what `eval` can evaluate
DRAW_GUIDANCE = 2.0                  # generate and edit: models.diffusion.GUIDANCE (a test keeps them equal)
RECOGNIZER = "asr-spoken-world"      # eval speak: the recogniser that listens to the synthesised speech
DEFAULT_FUSIONS = ("early:feature,early:token,late:mean,hybrid:film,hybrid:cross-attention,hybrid:bottleneck,"
                   "hybrid:relation")     # compare-fusion's rows
PRECISIONS = ("fp32", "bf16", "fp16", "int8", "int8-bf16")    # inference verbs' --precision: backend.PRECISIONS
RUNTIMES = ("torch", "onnx")                                  # ... and --runtime: inference.backend.RUNTIMES
