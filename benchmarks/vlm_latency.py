"""Latency of the generative vlm on this CPU: time to the first token and tokens per second,
for one request at a time in the process, for batches in the process, and through
`polymodal serve` (streamed requests one at a time; then C concurrent whole-reply requests,
which the server's dynamic batcher groups).

    python benchmarks/vlm_latency.py                        # the shipped vlm-embedded
    python benchmarks/vlm_latency.py --model runs/vlm/model --requests 40

Prompts: unseen test scenes (seed 21), half sort-of-clevr questions (short answers), half
"caption" on shapes scenes (sentences); greedy decoding, at most 32 new tokens.
Writes benchmarks/results/vlm_latency.{json,md}.
"""
from __future__ import annotations

import argparse
import asyncio
import base64
import io
import json
import os
import platform
import sys
import time
from collections import deque
from pathlib import Path

import numpy as np
from server_process import start_server

RESULTS = Path(__file__).parent / "results"
MAX_TOKENS = 32


def prompts(n: int) -> list[tuple[np.ndarray, str]]:
    from polymodal.data.world import shapes
    from polymodal.tasks.vqa import examples_from_scenes
    asked = [(ex.image, ex.questions[0].text) for ex in examples_from_scenes(shapes("sort-of-clevr", "test", 21, n // 2))]
    described = [(s.image, "caption") for s in shapes("shapes", "test", 21, n - n // 2)]
    return [p for pair in zip(asked, described) for p in pair]


def chat(image, text):
    from polymodal.core.chat import Part, user
    return [user(Part("image", image), Part("text", text))]


def in_process(model, items, batch_sizes) -> dict:
    """One at a time (first token, tokens per second after it), then whole batches."""
    from polymodal.core.chat import Decoding
    decoding = Decoding(max_new_tokens=MAX_TOKENS)
    model.reply([chat(*items[0])], decoding)          # warm-up
    first, rates, tokens = [], [], []
    for image, text in items:
        start = time.perf_counter()
        drafts = model.drafts(chat(image, text), decoding)
        next(drafts)
        first.append(time.perf_counter() - start)
        last = deque(drafts, maxlen=1)[0]
        seconds = time.perf_counter() - start
        n = last.completion_tokens
        tokens.append(n)
        if n > 1:
            rates.append((n - 1) / (seconds - first[-1]))
    out = {"one_at_a_time": {"first_token_ms_p50": round(1000 * float(np.median(first)), 1),
                             "first_token_ms_p90": round(1000 * float(np.quantile(first, 0.9)), 1),
                             "tokens_per_s_after_first_p50": round(float(np.median(rates)), 1),
                             "mean_tokens": round(float(np.mean(tokens)), 1)}}
    for size in batch_sizes:
        chats = [chat(*it) for it in items[:size]]
        start = time.perf_counter()
        replies = model.reply(chats, decoding)
        seconds = time.perf_counter() - start
        written = sum(r.completion_tokens for r in replies)
        out[f"batch_{size}"] = {"seconds": round(seconds, 3), "tokens": written,
                                "tokens_per_s": round(written / seconds, 1),
                                "replies_per_s": round(size / seconds, 2)}
    return out


def data_url(image) -> str:
    from PIL import Image
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def body(model_id: str, image, text: str, stream: bool) -> dict:
    return {"model": model_id, "max_tokens": MAX_TOKENS, "stream": stream, "temperature": 0,
            "messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": data_url(image)}},
                                                      {"type": "text", "text": text}]}],
            **({"stream_options": {"include_usage": True}} if stream else {})}


async def through_server(url: str, model_id: str, items, concurrency: int) -> dict:
    import httpx
    async with httpx.AsyncClient(base_url=url, timeout=600) as client:
        await client.post("/v1/chat/completions", json=body(model_id, *items[0], False))     # warm-up
        first, rates = [], []
        for image, text in items:                  # streamed, one at a time
            start = time.perf_counter()
            got_first, tokens = None, 0
            async with client.stream("POST", "/v1/chat/completions", json=body(model_id, image, text, True)) as r:
                async for line in r.aiter_lines():
                    if not line.startswith("data: ") or line == "data: [DONE]":
                        continue
                    chunk = json.loads(line[6:])
                    if chunk.get("usage"):
                        tokens = chunk["usage"]["completion_tokens"]
                    elif chunk["choices"] and chunk["choices"][0]["delta"].get("content") and got_first is None:
                        got_first = time.perf_counter() - start
            seconds = time.perf_counter() - start
            if got_first is not None:
                first.append(got_first)
                if tokens > 1:
                    rates.append((tokens - 1) / max(seconds - got_first, 1e-6))
        start = time.perf_counter()                # whole replies, `concurrency` at once, batched by the server
        responses = await asyncio.gather(*[client.post("/v1/chat/completions", json=body(model_id, i, t, False))
                                           for i, t in items[:concurrency]])
        seconds = time.perf_counter() - start
        written = sum(r.json()["usage"]["completion_tokens"] for r in responses)
        batches = [line for line in (await client.get("/metrics")).text.splitlines()
                   if line.startswith('polymodal_batches_total{endpoint="chat"')]
    return {"streamed_one_at_a_time": {"first_token_ms_p50": round(1000 * float(np.median(first)), 1),
                                       "first_token_ms_p90": round(1000 * float(np.quantile(first, 0.9)), 1),
                                       "tokens_per_s_after_first_p50": round(float(np.median(rates)), 1)},
            f"concurrent_{concurrency}": {"seconds": round(seconds, 3), "tokens": written,
                                          "tokens_per_s": round(written / seconds, 1),
                                          "replies_per_s": round(concurrency / seconds, 2),
                                          "batches": batches}}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="vlm-embedded")
    parser.add_argument("--requests", type=int, default=40)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--port", type=int, default=8791)
    args = parser.parse_args()
    import torch
    torch.set_num_threads(args.threads)
    from polymodal.loading import load_model
    model = load_model(args.model).eval()
    items = prompts(max(args.requests, args.concurrency))
    with torch.no_grad():
        local = in_process(model, items[:args.requests], sorted({1, 8, args.concurrency}))
    print(json.dumps(local, indent=1), file=sys.stderr)
    server = start_server(args.port, ["--model", f"vlm={args.model}", "--threads", str(args.threads),
                                      "--max-batch", "16", "--max-wait-ms", "20"])
    try:
        served = asyncio.run(through_server(f"http://127.0.0.1:{args.port}", args.model, items[:args.requests],
                                            args.concurrency))
    finally:
        server.terminate()
        server.wait(30)
    machine = f"{platform.machine()}, {os.cpu_count()} cores, {args.threads} torch threads, torch {torch.__version__}"
    command = "python benchmarks/vlm_latency.py " + " ".join(sys.argv[1:])
    result = {"command": command, "machine": machine, "model": args.model, "max_new_tokens": MAX_TOKENS,
              "in_process": local, "server": served}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "vlm_latency.json").write_text(json.dumps(result, indent=2) + "\n")
    one, streamed = local["one_at_a_time"], served["streamed_one_at_a_time"]
    conc = served[f"concurrent_{args.concurrency}"]
    lines = [f"# Latency of {args.model}", "", f"`{command}` on {machine}; the server and its client share the "
             f"machine. Greedy, at most {MAX_TOKENS} new tokens; {args.requests} prompts on unseen scenes (half "
             f"questions, half captions; {one['mean_tokens']} tokens written on average).", "",
             "| setting | first token p50 (ms) | first token p90 (ms) | tokens/s |", "|---|---|---|---|",
             f"| in process, one at a time | {one['first_token_ms_p50']} | {one['first_token_ms_p90']} | "
             f"{one['tokens_per_s_after_first_p50']} (after the first) |",
             f"| server, streamed, one at a time | {streamed['first_token_ms_p50']} | "
             f"{streamed['first_token_ms_p90']} | {streamed['tokens_per_s_after_first_p50']} (after the first) |"]
    for size in sorted({1, 8, args.concurrency}):
        b = local[f"batch_{size}"]
        lines.append(f"| in process, a batch of {size} | | | {b['tokens_per_s']} ({b['replies_per_s']} replies/s) |")
    lines.append(f"| server, {args.concurrency} concurrent requests (batched) | | | {conc['tokens_per_s']} "
                 f"({conc['replies_per_s']} replies/s) |")
    lines += ["", "Batches the server ran: " + "; ".join(b.split("{")[1].replace("}", " ->") for b in conc["batches"])]
    (RESULTS / "vlm_latency.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
