"""The `polymodal` command line: every verb and its flags (argparse only, so that `--help`
and usage errors answer at once)."""
from __future__ import annotations

import argparse

from .arguments import (
    Parser,
    add_backend_args,
    add_batch_job_args,
    add_data_args,
    add_sampling_args,
    guidance,
    host,
    jpeg_quality,
    learning_rate,
    megabytes,
    noise_snr,
    pair,
    path_arg,
    port,
    positive_int,
    ranged,
    seconds,
    seed_int,
    text_arg,
)
from .defaults import DEFAULT_FUSIONS, EVALUATIONS, RECOGNIZER, TRAINABLE_TASKS


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="polymodal", description="Build, train, evaluate and serve multimodal models and systems over images, text, audio and video.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("data", help="generate the embedded world")
    dsub = p.add_subparsers(dest="data_command", required=True, metavar="WORLD")
    d = dsub.add_parser("shapes", help="write scenes as PNGs (clips as MP4s: --preset motion) and a manifest.jsonl")
    d.add_argument("--preset", type=text_arg, default="sort-of-clevr")
    d.add_argument("--split", type=text_arg, default="train")
    d.add_argument("--seed", type=seed_int, default=0)
    d.add_argument("--n", type=positive_int, default=100)
    d.add_argument("--out", type=path_arg, required=True)
    d.add_argument("--image-format", choices=("png", "jpg"), default="png")
    d.add_argument("--jpeg-quality", type=jpeg_quality, default=90)
    d.add_argument("--spoken", action="store_true",
                   help="also speak each question (sort-of-clevr) or caption (shapes) into 16 kHz WAVs")
    d.add_argument("--noise-snr", type=noise_snr, help="with --spoken: add white noise at this SNR in dB")

    p = sub.add_parser("train", help="train a model (from flags or a YAML recipe)")
    p.add_argument("--recipe", type=path_arg, help="YAML recipe (flags given here override it)")
    p.add_argument("--task", choices=TRAINABLE_TASKS, help="default: vqa")
    add_data_args(p, required=False)
    p.add_argument("--val", type=path_arg, help="validation data (same forms as --data)")
    p.add_argument("--val-n", type=positive_int, default=200)
    p.add_argument("--fusion", type=text_arg, help="fusion strategy, e.g. early:feature, late:mean, hybrid:cross-attention")
    p.add_argument("--image-encoder", type=path_arg, default="cnn",
                   help="a registered encoder (cnn, vit), or a pretrained vision model: hf:<repo-id> or a folder")
    p.add_argument("--text-encoder", type=path_arg, default="transformer",
                   help="a registered encoder (transformer, minilm), or a pretrained text model: hf:<repo-id> or a folder")
    p.add_argument("--audio-encoder", type=path_arg, default="logmel",
                   help="a registered encoder (logmel), or a pretrained audio model: hf:<repo-id> or a folder")
    p.add_argument("--video-encoder", type=path_arg, default="frames", help="a registered encoder (frames)")
    p.add_argument("--temporal", choices=("early", "late", "hybrid"),
                   help="with the frames encoder: how frames are fused with each other (default hybrid)")
    p.add_argument("--tune", choices=("none", "full", "lora"),
                   help="what training changes in a pretrained encoder (default none: frozen, its embeddings cached), "
                        "or with --init in the pretrained model (default full)")
    p.add_argument("--init", type=path_arg, metavar="MODEL",
                   help="fine-tune this pretrained Hugging Face model (hf:<repo-id> or a folder; BLIP or a vision "
                        "encoder-decoder for caption, CLIP for align, ViLT for vqa, Whisper for transcribe); "
                        "saved in Hugging Face layout in OUT/model")
    p.add_argument("--lora-rank", type=positive_int, default=8, help="with --tune lora: the adapters' rank")
    p.add_argument("--lora-save", choices=("merged", "adapter"), default="merged",
                   help="with --init and --tune lora: merge the adapters into the weights, or save them beside the base")
    p.add_argument("--epochs", type=positive_int)
    p.add_argument("--batch-size", type=positive_int)
    p.add_argument("--lr", type=learning_rate)
    p.add_argument("--time-budget", type=seconds, help="stop training after this many seconds")
    p.add_argument("--out", type=path_arg, required=True, help="run folder: checkpoints, metrics, curve, model/")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
    p.add_argument("--threads", type=positive_int,
                   help="CPU threads for this run (default: all cores; two runs side by side: 1 each)")

    p = sub.add_parser("eval", help="evaluate a model; --json prints one JSON object")
    p.add_argument("task", choices=EVALUATIONS)
    add_data_args(p)
    p.add_argument("--model", type=path_arg, help="shipped name or local directory (default: the task's shipped model)")
    p.add_argument("--system", type=path_arg, help="vqa: evaluate a system (built-in name or YAML) instead of a model")
    p.add_argument("--system-model", action="append", type=pair, metavar="STEP=MODEL",
                   help="with --system: the model of one of its steps, e.g. caption=runs/x/model")
    p.add_argument("--batch-size", type=positive_int, default=64)
    p.add_argument("--beams", type=positive_int, default=1, help="caption: beam-search width (1 = greedy)")
    p.add_argument("--noise-snr", type=noise_snr, help="transcribe on spoken:<split>: add white noise at this SNR (dB)")
    p.add_argument("--steps", type=ranged(1, 1000, integer=True), default=20, help="generate: denoising steps")
    p.add_argument("--guidance", type=guidance,
                   help="generate, edit: classifier-free guidance scale (default 3); caption: how far the "
                        "image is weighed past the word prior (default: the model's own)")
    p.add_argument("--scheduler", choices=("ddim", "dpm", "ddpm"), default="ddim", help="generate: sampler")
    p.add_argument("--ask-by", choices=("text", "speech", "both"),
                   help="vqa: give the questions typed, spoken (test voices) or both, to a model that takes speech")
    p.add_argument("--recognizer", type=path_arg, default=RECOGNIZER,
                   help="speak: the recogniser that listens to the synthesised speech (default: %(default)s)")
    p.add_argument("--listen-with", type=path_arg, default="pocketsphinx-answers",
                   help="vqa --system with spoken answers: the recogniser that hears them back")
    p.add_argument("--shots", type=positive_int, default=5, help="few-shot: examples per class")
    p.add_argument("--episodes", type=positive_int, default=20, help="few-shot: episodes averaged")
    p.add_argument("--method", choices=("prototype", "probe"), default="prototype",
                   help="few-shot: nearest class mean, or a logistic-regression probe")
    p.add_argument("--invariant", type=text_arg, metavar="colour,mirror,place",
                   help="few-shot: what the classes do not depend on, taken out of each embedding "
                        "(place: factored aligners only)")
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("caption", help="describe an image in a sentence (or many: a folder, a list, --data)")
    p.add_argument("image", type=path_arg, nargs="?", help="an image file, a folder of images or a .txt list of them")
    add_data_args(p, required=False)
    p.add_argument("--model", type=path_arg)
    add_backend_args(p)
    p.add_argument("--beams", type=positive_int, default=1, help="beam-search width (1 = greedy)")
    p.add_argument("--guidance", type=guidance,
                   help="how far the image is weighed past the word prior (default: the model's own; 0 = plain)")
    p.add_argument("--batch-size", type=positive_int, default=64)
    p.add_argument("--json", action="store_true", help="one JSON object per image")
    p.add_argument("--out", type=path_arg, help="a .parquet: a batch job over many images, streaming and resumable")
    add_batch_job_args(p)

    p = sub.add_parser("transcribe", help="speech -> text (a file, a folder, a .txt list, or --data)")
    p.add_argument("audio", type=path_arg, nargs="?", help="an audio file (WAV, FLAC, OGG), a folder of them or a .txt list")
    add_data_args(p, required=False)
    p.add_argument("--model", type=path_arg)
    add_backend_args(p)
    p.add_argument("--batch-size", type=positive_int, default=32)
    p.add_argument("--json", action="store_true", help="one JSON object per file")
    p.add_argument("--out", type=path_arg, help="a .parquet: a batch job over many files, streaming and resumable")
    add_batch_job_args(p)

    p = sub.add_parser("speak", help="text -> speech in a WAV file (or many: --text-file, one WAV per line)")
    p.add_argument("text", nargs="?", type=text_arg)
    p.add_argument("--text-file", type=path_arg, help="one text per line; --out is then a folder (files in line order)")
    p.add_argument("--out", type=path_arg, required=True, help="the .wav to write (a folder with --text-file)")
    p.add_argument("--voice", type=text_arg, help="a voice of the engine, e.g. en-us+m3 or en-gb-scotland+f4 for espeak")
    p.add_argument("--model", type=path_arg, help="espeak (default) or a trained synthesiser")
    add_backend_args(p)

    p = sub.add_parser("generate", help="draw an image from a text prompt")
    p.add_argument("prompt", nargs="?", type=text_arg, help='e.g. "a red circle above a blue square"')
    p.add_argument("--prompts", type=path_arg, help="a text file, one prompt per line: one image per line into --out (a folder)")
    p.add_argument("--out", type=path_arg, required=True, help="a .png file (one prompt) or a folder (--prompts)")
    p.add_argument("--model", type=path_arg, help="a local model directory (default: the shipped one)")
    add_sampling_args(p)
    p.add_argument("--batch-size", type=positive_int, default=16)

    p = sub.add_parser("edit", help="change one object of an image by instruction; the rest stays")
    p.add_argument("image", type=path_arg)
    p.add_argument("instruction", type=text_arg, help='"make the red circle green", "make the red circle a square", '
                                       '"remove the red circle"')
    p.add_argument("--out", type=path_arg, required=True, help="a .png file")
    p.add_argument("--model", type=path_arg, help="the text-to-image model (a local directory; default: the shipped one)")
    p.add_argument("--grounder", type=path_arg, help="the grounding model that finds the object (default: the shipped one)")
    add_sampling_args(p)

    p = sub.add_parser("ground", help="find the region a phrase names; draw its box")
    p.add_argument("image", type=path_arg, nargs="?", help="an image file, a folder of images or a .txt list of them")
    p.add_argument("phrase", nargs="?", type=text_arg, help='e.g. "the square left of the green circle"')
    add_data_args(p, required=False)
    p.add_argument("--out", type=path_arg, help="image with the box drawn (a folder when there are many inputs)")
    p.add_argument("--model", type=path_arg)
    add_backend_args(p)
    p.add_argument("--batch-size", type=positive_int, default=128)
    p.add_argument("--json", action="store_true", help="one JSON object per phrase")

    p = sub.add_parser("embed", help="images or texts -> vectors in the aligner's space (clips: a video model's), "
                                     "to an .npz file")
    p.add_argument("image", type=path_arg, nargs="?",
                   help="an image or video clip, a folder of them or a .txt list of them")
    add_data_args(p, required=False)
    p.add_argument("--text", action="append", type=text_arg, help="a text to embed (repeatable) instead of images")
    p.add_argument("--text-file", type=path_arg, help="a file of texts to embed, one per line")
    p.add_argument("--out", type=path_arg, required=True, help="the .npz to write (vectors, names, kind), or a .parquet: a "
                                                "batch job over many images, resumable")
    p.add_argument("--model", type=path_arg)
    add_backend_args(p)
    add_batch_job_args(p)

    p = sub.add_parser("search", help="rank a gallery of images (or clips) by a text, an image (or a clip) query")
    p.add_argument("query", type=text_arg, help="a text, or the path of a query image or clip")
    p.add_argument("--gallery", type=path_arg, required=True,
                   help="a folder, a .txt list, a manifest, shapes:shapes:<split> or an .npz from `embed`")
    p.add_argument("--k", type=positive_int, default=5, help="how many results")
    p.add_argument("--seed", type=seed_int, default=0)
    p.add_argument("--n", type=positive_int, default=1000)
    p.add_argument("--column", type=text_arg, action="append", metavar="NAME=COLUMN")
    p.add_argument("--on-bad-rows", choices=("fail", "skip"), default="fail")
    p.add_argument("--model", type=path_arg)
    add_backend_args(p)
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("classify", help="zero-shot (--labels) or few-shot (--examples) image classification; clips by "
                                        "a video classifier's classes or zero-shot (X-CLIP)")
    p.add_argument("image", type=path_arg, nargs="?",
                   help="an image or video clip, a folder of them or a .txt list of them")
    add_data_args(p, required=False)
    p.add_argument("--labels", type=text_arg, help="zero-shot: class names separated by commas, e.g. \"red circle,blue square\"")
    p.add_argument("--examples", type=path_arg, help="few-shot: a folder with one subfolder of example images per class")
    p.add_argument("--method", choices=("prototype", "probe"), default="prototype")
    p.add_argument("--invariant", type=text_arg, metavar="colour,mirror,place",
                   help="few-shot: what the classes do not depend on, taken out of each embedding "
                        "(place: factored aligners only)")
    p.add_argument("--model", type=path_arg)
    add_backend_args(p)
    p.add_argument("--batch-size", type=positive_int, default=64, help="inputs embedded at a time (results are "
                                                                         "printed after each batch)")
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("ask", help="answer a question about an image (or many: a folder, --data)")
    p.add_argument("image", type=path_arg, nargs="?", help="an image file or a folder of images")
    p.add_argument("question", nargs="?", type=text_arg)
    p.add_argument("--audio", type=path_arg, help="the question spoken, as an audio file (then the default model is the shipped vqa-spoken)")
    add_data_args(p, required=False)
    p.add_argument("--model", type=path_arg)
    add_backend_args(p)
    p.add_argument("--batch-size", type=positive_int, default=64)
    p.add_argument("--json", action="store_true", help="one JSON object per answer")

    p = sub.add_parser("chat", help="talk with a vision-language model about images: typed or spoken, streamed, "
                                    "spoken back")
    p.add_argument("--model", type=path_arg, help="polymodal's vlm or a Hugging Face image-text-to-text model "
                                                  "(hf:<repo-id> or a folder); default: the shipped vlm")
    add_backend_args(p)
    p.add_argument("--image", type=path_arg, action="append", help="an image for the first message (repeatable)")
    p.add_argument("--say", type=text_arg, action="append",
                   help="a message; several are answered in turn, each with the earlier ones in context "
                        "(without --say or --audio: read messages from stdin)")
    p.add_argument("--audio", type=path_arg, help="a spoken message (last), written down by the recogniser")
    p.add_argument("--listen", type=path_arg, help="the recogniser of spoken messages: a transcription model, or "
                                                   "none (default: the model's own, if it has one)")
    p.add_argument("--speak-out", type=path_arg, metavar="OUT.wav", help="also say the last reply, into this file")
    p.add_argument("--max-tokens", type=ranged(1, 4096, integer=True), default=64)
    p.add_argument("--temperature", type=ranged(0, 2), default=0.0, help="0: greedy (or beam search)")
    p.add_argument("--top-p", type=ranged(1e-6, 1), default=1.0, help="with a temperature: nucleus sampling")
    p.add_argument("--beams", type=ranged(1, 16, integer=True), default=1)
    p.add_argument("--stop", type=text_arg, action="append", help="end the reply at this text (repeatable)")
    p.add_argument("--seed", type=seed_int, help="seed of sampling")
    p.add_argument("--no-stream", action="store_true", help="print each reply when it is whole")
    p.add_argument("--json", action="store_true", help="one JSON object per reply")

    p = sub.add_parser("compare-fusion", help="train fusion strategies under one budget; write a table and a plot")
    p.add_argument("--data", type=path_arg, default="shapes:sort-of-clevr",
                   help="shapes:sort-of-clevr (the table beside the paper), shapes:motion (frames fused early, "
                        "late or hybrid; --fusions early,late,hybrid,late+audio,hybrid+audio), or your manifest "
                        "(then --val too)")
    p.add_argument("--val", type=path_arg, help="with a manifest: the manifest each strategy is scored on")
    p.add_argument("--task", choices=("vqa", "classify", "text-qa"), default="vqa", help="with a manifest")
    p.add_argument("--image-encoder", type=path_arg, default="cnn",
                   help="with a manifest: a registered encoder or a pretrained vision model (frozen, cached)")
    p.add_argument("--text-encoder", type=path_arg, default="transformer", help="with a manifest")
    p.add_argument("--audio-encoder", type=path_arg, default="logmel", help="with a manifest")
    p.add_argument("--batch-size", type=positive_int, default=32, help="with a manifest")
    p.add_argument("--fusions", type=text_arg, default=DEFAULT_FUSIONS,
                   help="comma-separated (on a manifest, the default leaves out hybrid:relation)")
    p.add_argument("--n", type=positive_int, default=10000, help="training scenes (20 questions each)")
    p.add_argument("--steps", type=positive_int, default=6000, help="training steps of 32 scenes, per strategy")
    p.add_argument("--pretrain-steps", type=positive_int, default=3000,
                   help="steps of the shared image encoder's object pretraining (done once, reused)")
    p.add_argument("--test-n", type=positive_int, default=200, help="test scenes")
    p.add_argument("--seed", type=seed_int, default=1)
    p.add_argument("--out", type=path_arg, default="benchmarks/results", help="where the table, JSON and plot go")
    p.add_argument("--runs", type=path_arg, default="runs/fusion-table", help="where the trained models go")

    p = sub.add_parser("system", help="multimodal systems: chains of unimodal models")
    ssub = p.add_subparsers(dest="system_command", required=True, metavar="ACTION")
    ssub.add_parser("list", help="the built-in systems")
    r = ssub.add_parser("run", help="run a system on one item")
    r.add_argument("name", type=path_arg, help="a built-in system's name or a YAML definition")
    r.add_argument("--image", type=path_arg)
    r.add_argument("--audio", type=path_arg)
    r.add_argument("--text", action="append", type=pair, metavar="NAME=VALUE", help="a text input, e.g. labels=\"red circle\"")
    r.add_argument("--model", action="append", type=pair, metavar="STEP=MODEL", help="the model of a step, e.g. vqa=runs/x/model")
    r.add_argument("--out", type=path_arg, help="where an audio output is written (.wav)")
    r.add_argument("--trace", action="store_true", help="print every step's outputs")
    r.add_argument("--json", action="store_true")

    p = sub.add_parser("fit", help="a model for a table's label column: modalities inferred, encoders chosen, "
                                   "validation, early stopping, and a modality ablation")
    p.add_argument("table", type=path_arg, help="a .csv, .jsonl or .parquet table (file paths relative to it)")
    p.add_argument("--label", type=text_arg, required=True, help="the column to predict")
    p.add_argument("--time-budget", type=seconds, help="seconds for everything, ablation included (default: "
                                                      "until early stopping)")
    p.add_argument("--problem", choices=("classify", "regress"), help="default: inferred from the label's values")
    p.add_argument("--column", action="append", type=pair, metavar="NAME=KIND",
                   help="a column's kind instead of the inferred one: image, audio, text, number, category, id, ignore")
    p.add_argument("--image-encoder", type=path_arg, help="a registered encoder or a pretrained vision model "
                                                         "(hf:<repo-id> or a folder); default cnn from scratch")
    p.add_argument("--text-encoder", type=path_arg, help="default minilm where installed, else transformer")
    p.add_argument("--audio-encoder", type=path_arg, help="default logmel")
    p.add_argument("--fusion", type=text_arg, help="default early:feature")
    p.add_argument("--no-ablation", action="store_true", help="train the one model, without the ablation runs")
    p.add_argument("--seed", type=seed_int, default=0)
    p.add_argument("--out", type=path_arg, required=True, help="folder: model/, report.json, ablation.md/.csv/.png")
    p.add_argument("--threads", type=positive_int, help="CPU threads (default: all cores)")

    p = sub.add_parser("predict", help="a fitted table model's predictions for a table, as CSV")
    p.add_argument("model", type=path_arg, help="the model folder `fit` wrote (OUT/model)")
    p.add_argument("table", type=path_arg, help="a table with the columns the model reads")
    p.add_argument("--out", type=path_arg, required=True, help="the CSV to write (row, ID columns, prediction)")
    p.add_argument("--batch-size", type=positive_int, default=64)

    p = sub.add_parser("compare", help="an end-to-end model and a system on the same data: accuracy, latency, "
                                       "parameters, and where the system loses answers")
    p.add_argument("--task", choices=("vqa",), default="vqa")
    p.add_argument("--model", type=path_arg, help="the end-to-end model (default: the task's shipped model)")
    p.add_argument("--system", type=path_arg, required=True, help="a built-in system's name or a YAML definition")
    p.add_argument("--system-model", action="append", type=pair, metavar="STEP=MODEL",
                   help="the model of one of the system's steps, e.g. caption=runs/x/model")
    add_data_args(p)
    p.add_argument("--out", type=path_arg, help="folder for compare.md and compare.json")
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("serve", help="the HTTP service and web page: every task and system, batched")
    p.add_argument("--host", type=host, default="127.0.0.1")
    p.add_argument("--port", type=port, default=8000)
    p.add_argument("--model", action="append", type=pair, metavar="TASK=MODEL",
                   help="the model of a task, e.g. caption=runs/x/model (default: the shipped one)")
    p.add_argument("--max-batch", type=positive_int, default=16, help="requests sharing one forward pass, at most")
    p.add_argument("--max-wait-ms", type=ranged(0, 60_000), default=5.0, help="how long a request waits for others to batch with")
    p.add_argument("--workers", type=positive_int, default=1, help="threads running batches")
    p.add_argument("--timeout", type=ranged(0.1, 86_400), default=120.0, help="seconds before a request is answered 504")
    p.add_argument("--max-upload-mb", type=ranged(1e-3, 4096), default=10.0, help="largest file accepted")
    p.add_argument("--max-pixels", type=positive_int, default=4_000_000, help="largest image accepted (width x height)")
    p.add_argument("--max-audio-seconds", type=ranged(0.01, 86_400), default=60.0, help="longest audio accepted")
    p.add_argument("--max-video-seconds", type=ranged(0.01, 86_400), default=120.0, help="longest video clip accepted")
    p.add_argument("--memory-budget-mb", type=megabytes, default=4096.0,
                   help="loaded models' weights; the least recently used are unloaded past it")
    p.add_argument("--header-timeout", type=ranged(0.1, 3600), default=10.0,
                   help="seconds a connection has to send a request's headers, after it opens or after a response")
    p.add_argument("--keep-alive", type=ranged(0.1, 3600), default=5.0,
                   help="seconds an idle keep-alive connection is kept open")
    p.add_argument("--files", type=path_arg, metavar="DIR",
                   help="/v1/chat/completions may read images by path below this folder (default: data URLs only)")
    p.add_argument("--listen", type=path_arg, metavar="MODEL",
                   help="the chat model's recogniser of spoken messages: a transcription model, or none "
                        "(default: the chat model's own, if it has one)")
    p.add_argument("--preload", action="store_true", help="load every task's model before taking requests")
    p.add_argument("--engines-in-process", action="store_true",
                   help="run native engines (eSpeak, pocketsphinx, OCR) in the server's own process instead of "
                        "worker processes that are restarted when they crash (saves ~50 MB a worker)")
    p.add_argument("--threads", type=positive_int, help="CPU threads for torch (default: all cores)")

    p = sub.add_parser("export", help="a model's encoders as ONNX graphs, for pm.load(..., runtime=\"onnx\") "
                                      "and --runtime onnx")
    p.add_argument("model", type=path_arg, help="a shipped model's name or a model folder")
    p.add_argument("--format", choices=("onnx",), default="onnx")
    p.add_argument("--out", type=path_arg, required=True, help="the folder to write: the model and its onnx/ graphs")

    p = sub.add_parser("demo", help="run the shipped models on a few generated scenes; write a report")
    p.add_argument("--out", type=path_arg, default="demo")
    p.add_argument("--seed", type=seed_int, default=2026)
    p.add_argument("--n", type=positive_int, default=6)
    return parser
