"""Load test of `polymodal serve` on loopback: N concurrent clients send a mix of caption,
ask, ground and classify requests for D seconds, once with dynamic batching and once with
batches of one. Reports statuses (5xx must be zero), p50/p90/p99 latency and throughput,
and writes benchmarks/results/load_test.{json,md,png}.

    python benchmarks/load_test.py --clients 16 --seconds 60
"""
from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import platform
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
from server_process import start_server

RESULTS = Path(__file__).parent / "results"


def png(array) -> bytes:
    from PIL import Image
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format="PNG")
    return buf.getvalue()


def workload(n: int = 64) -> list[tuple[str, dict, dict]]:
    """(endpoint, form fields, files) requests on unseen test scenes, in a fixed order."""
    from polymodal.data import shapes
    items = []
    for s in shapes("shapes", "test", 21, n // 2):
        image = png(s.image)
        items.append(("caption", {}, {"image": image}))
        items.append(("ground", {"phrase": s.phrases[0].text}, {"image": image}))
        pair = f"{s.objects[0].colour} {s.objects[0].shape}"
        items.append(("classify", {"labels": f"{pair},red square,blue circle"}, {"image": image}))
    for s in shapes("sort-of-clevr", "test", 21, n // 2):
        items.append(("ask", {"question": s.questions[0].question}, {"image": png(s.image)}))
    return items


def start(port: int, max_batch: int, threads: int):
    return start_server(port, ["--max-batch", str(max_batch), "--threads", str(threads), "--preload"])


async def client(url: str, items, deadline: float, offset: int, log: list) -> None:
    import httpx
    async with httpx.AsyncClient(base_url=url, timeout=120) as c:
        i = offset
        while time.perf_counter() < deadline:
            endpoint, data, files = items[i % len(items)]
            i += 1
            start = time.perf_counter()
            try:
                r = await c.post(f"/v1/{endpoint}", data=data, files={k: ("x.png", v, "image/png") for k, v in files.items()})
                status = r.status_code
            except httpx.HTTPError as e:
                status = f"error: {type(e).__name__}"
            log.append((endpoint, status, time.perf_counter() - start))


async def run_clients(url: str, items, clients: int, seconds: float) -> list:
    log: list = []
    deadline = time.perf_counter() + seconds
    await asyncio.gather(*[client(url, items, deadline, k * 7, log) for k in range(clients)])
    return log


def summary(log: list, seconds: float) -> dict:
    latencies = np.array([t for _, s, t in log if s == 200])
    statuses = Counter(str(s) for _, s, _ in log)
    per_endpoint = {}
    for endpoint in sorted({e for e, _, _ in log}):
        lat = np.array([t for e, s, t in log if e == endpoint and s == 200])
        per_endpoint[endpoint] = {"requests": int(sum(e == endpoint for e, _, _ in log)),
                                  "p50_ms": round(1000 * float(np.median(lat)), 1) if len(lat) else None}
    return {"requests": len(log), "statuses": dict(statuses),
            "server_errors": sum(v for k, v in statuses.items() if k.isdigit() and int(k) >= 500),
            "transport_errors": sum(v for k, v in statuses.items() if not k.isdigit()),
            "throughput_per_s": round(len(log) / seconds, 1),
            "p50_ms": round(1000 * float(np.percentile(latencies, 50)), 1),
            "p90_ms": round(1000 * float(np.percentile(latencies, 90)), 1),
            "p99_ms": round(1000 * float(np.percentile(latencies, 99)), 1), "per_endpoint": per_endpoint}


def measure(max_batch: int, clients: int, seconds: float, threads: int, port: int) -> dict:
    server = start(port, max_batch, threads)
    try:
        url = f"http://127.0.0.1:{port}"
        items = workload()
        asyncio.run(run_clients(url, items, clients, 3))          # warm-up: first batches, allocator
        log = asyncio.run(run_clients(url, items, clients, seconds))
        import httpx
        batches = [line for line in httpx.get(f"{url}/metrics").text.splitlines()
                   if line.startswith("polymodal_batches_total")]
    finally:
        server.terminate()
        server.wait(30)
    sizes = Counter()
    for line in batches:
        size = int(line.split('size="')[1].split('"')[0])
        sizes[size] += int(line.rsplit(" ", 1)[1])
    mean_batch = sum(k * v for k, v in sizes.items()) / max(1, sum(sizes.values()))
    return {"max_batch": max_batch, **summary(log, seconds), "mean_batch_size": round(mean_batch, 2)}


def plot(runs: list[dict], path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, (a, b) = plt.subplots(1, 2, figsize=(9, 3.4))
    names = [f"max batch {r['max_batch']}" for r in runs]
    a.bar(names, [r["throughput_per_s"] for r in runs], color=["#23395d", "#999"])
    a.set(title="throughput", ylabel="requests / s")
    for q, offset in (("p50_ms", -0.2), ("p90_ms", 0), ("p99_ms", 0.2)):
        b.bar(np.arange(len(runs)) + offset, [r[q] for r in runs], width=0.2, label=q.split("_")[0])
    b.set_xticks(range(len(runs)), names)
    b.set(title="latency", ylabel="ms")
    b.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--threads", type=int, default=1, help="the server's torch threads (the clients get the rest)")
    parser.add_argument("--port", type=int, default=8765)
    args = parser.parse_args()
    runs = [measure(mb, args.clients, args.seconds, args.threads, args.port) for mb in (16, 1)]
    gain = runs[0]["throughput_per_s"] / runs[1]["throughput_per_s"]
    command = f"python benchmarks/load_test.py --clients {args.clients} --seconds {args.seconds:g} --threads {args.threads}"
    machine = f"{platform.machine()}, {os.cpu_count()} cores, {platform.system()}, Python {platform.python_version()}"
    report = {"command": command, "machine": machine, "clients": args.clients, "seconds": args.seconds,
              "runs": runs, "batching_gain": round(gain, 2)}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "load_test.json").write_text(json.dumps(report, indent=2) + "\n")
    plot(runs, RESULTS / "load_test.png")
    rows = "\n".join(f"| {r['max_batch']} | {r['requests']} | {r['server_errors']} | {r['transport_errors']} | "
                     f"{r['throughput_per_s']} | {r['p50_ms']} | {r['p90_ms']} | {r['p99_ms']} | {r['mean_batch_size']} |"
                     for r in runs)
    (RESULTS / "load_test.md").write_text(
        f"# Load test of polymodal serve\n\n`{command}` on {machine}; server and clients share the machine.\n\n"
        f"{args.clients} concurrent clients for {args.seconds:g} s each run, a mix of caption, ground, classify and ask "
        f"requests (multipart uploads of unseen test scenes).\n\n| max batch | requests | 5xx | transport errors | "
        f"requests/s | p50 ms | p90 ms | p99 ms | mean batch |\n|---|---|---|---|---|---|---|---|---|\n{rows}\n\n"
        f"Dynamic batching serves {gain:.2f}x the requests per second of batches of one.\n\n![load test](load_test.png)\n")
    print(json.dumps({k: report[k] for k in ("batching_gain",)} | {f"max_batch_{r['max_batch']}": {
        k: r[k] for k in ("requests", "server_errors", "throughput_per_s", "p50_ms", "p99_ms")} for r in runs}))
    return 0 if all(r["server_errors"] == 0 and r["transport_errors"] == 0 for r in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
