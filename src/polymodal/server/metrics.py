"""Counters for /metrics, in Prometheus' text format: requests by endpoint and status,
latency quantiles over a sliding window, and the sizes of the batches that ran."""
from __future__ import annotations

import threading
import time
from collections import Counter, defaultdict, deque

import numpy as np

WINDOW = 2000          # latencies kept per endpoint for the quantiles


class Metrics:
    def __init__(self):
        self.started = time.time()
        self.requests: Counter = Counter()                    # (endpoint, status) -> count
        self.latency: dict[str, deque] = defaultdict(lambda: deque(maxlen=WINDOW))
        self.batches: Counter = Counter()                     # (endpoint, size) -> count
        self.lock = threading.Lock()

    def request(self, endpoint: str, status: int, seconds: float) -> None:
        with self.lock:
            self.requests[endpoint, status] += 1
            self.latency[endpoint].append(seconds)

    def batch(self, endpoint: str, size: int) -> None:
        with self.lock:
            self.batches[endpoint, size] += 1

    def text(self, models: dict) -> str:
        with self.lock:
            lines = ["# TYPE polymodal_requests_total counter"]
            lines += [f'polymodal_requests_total{{endpoint="{e}",status="{s}"}} {n}'
                      for (e, s), n in sorted(self.requests.items())]
            lines.append("# TYPE polymodal_request_seconds summary")
            for endpoint, values in sorted(self.latency.items()):
                for q in (0.5, 0.9, 0.99):
                    lines.append(f'polymodal_request_seconds{{endpoint="{endpoint}",quantile="{q}"}} '
                                 f"{np.quantile(list(values), q):.6f}")
            lines.append("# TYPE polymodal_batches_total counter")
            lines += [f'polymodal_batches_total{{endpoint="{e}",size="{n}"}} {c}'
                      for (e, n), c in sorted(self.batches.items())]
        lines.append("# TYPE polymodal_model_bytes gauge")
        lines += [f'polymodal_model_bytes{{model="{name}"}} {info["bytes"]}' for name, info in models["loaded"].items()]
        lines.append(f"polymodal_uptime_seconds {time.time() - self.started:.1f}")
        return "\n".join(lines) + "\n"
