"""Fuzz the HTTP API, two ways, and count statuses (any 5xx or exception is a failure):

1. from its own OpenAPI schema (schemathesis): requests that follow the schema and requests
   that break it, on every endpoint and system;
2. with media that look real (hypothesis, tests/media_strategies.py): decodable, truncated and
   corrupt images and audio at odd sizes, rates and channel counts, any unicode text,
   numbers out of range, multipart or JSON; these reach the models, not only the checks.

Writes benchmarks/results/fuzz_server.{json,md}.

    python benchmarks/fuzz_server.py --examples 60 --media-examples 60
"""
from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from collections import Counter
from pathlib import Path

RESULTS = Path(__file__).parent / "results"
SLOW_S = 30.0           # a request answered later than this counts as a failure (bounded work)


def check_operation(operation, examples: int, seen: Counter, failures: list) -> None:
    """Send `examples` generated requests to one operation, counting statuses in `seen`."""
    from hypothesis import HealthCheck, given, settings

    @settings(max_examples=examples, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(case=operation.as_strategy())
    def run(case):
        try:
            response = case.call(timeout=120)     # past the server's own timeout (60 s): a 504 would show
        except Exception as e:                  # noqa: BLE001  (a crash is what we count)
            failures.append({"operation": operation.label, "error": repr(e)[:300]})
            seen["exception"] += 1
            return
        seen[response.status_code] += 1
        if response.status_code >= 500:
            failures.append({"operation": operation.label, "status": response.status_code, "body": response.text[:300]})
    run()


def post_media(client, path: str, fields, examples: int, seen: Counter, failures: list) -> None:
    """Send `examples` media requests to one POST path, counting statuses in `seen`."""
    from hypothesis import HealthCheck, given, settings
    from media_strategies import request_for

    @settings(max_examples=examples, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(request=request_for(fields))
    def run(request):
        start = time.perf_counter()
        try:
            response = client.post(path, **request)
        except Exception as e:                  # noqa: BLE001  (a crash is what we count)
            failures.append({"operation": path, "error": repr(e)[:300]})
            seen["exception"] += 1
            return
        seconds = time.perf_counter() - start
        seen[response.status_code] += 1
        if response.status_code >= 500 or "Traceback" in response.text or seconds > SLOW_S:
            failures.append({"operation": path, "status": response.status_code, "seconds": round(seconds, 1),
                             "body": response.text[:300]})
    run()


def media_fuzz(app, examples: int, seen_by_endpoint: dict, failures: list) -> None:
    """Requests built from tests/media_strategies.py, `examples` per endpoint and system."""
    from starlette.testclient import TestClient
    sys.path.insert(0, str(Path(__file__).parent.parent / "tests"))
    client = TestClient(app)
    for path, fields in app_fields(app).items():
        seen = seen_by_endpoint.setdefault(f"POST {path} (media)", Counter())
        post_media(client, path, fields, examples, seen, failures)
        print(f"{path} (media): {dict(seen)}", file=sys.stderr)


def app_fields(app) -> dict:
    """POST path -> its fields (inputs.Field), for every endpoint and built-in system."""
    from polymodal.server.app import system_fields
    from polymodal.server.endpoints import ENDPOINTS
    from polymodal.systems.definition import builtin_systems
    out = {f"/v1/{name}": ENDPOINTS.get(name).fields for name in ENDPOINTS.names()}
    out.update({f"/v1/systems/{name}": system_fields(spec) for name, spec in builtin_systems().items()})
    return out


def fuzz(examples: int, media_examples: int) -> dict:
    import schemathesis
    from schemathesis import GenerationMode

    from polymodal.server import ServerConfig, create_app
    app = create_app(ServerConfig(max_upload_bytes=2**20, request_timeout_s=60))
    for task in ("vqa", "caption", "ground", "align", "speak", "text-qa"):      # as `serve --preload` does
        app.state.service.pool.get(task)
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    schema.config.generation.update(modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
    statuses, failures, per_operation = Counter(), [], {}
    for result in schema.get_all_operations():
        operation = result.ok()
        seen = Counter()
        check_operation(operation, examples, seen, failures)
        per_operation[operation.label] = dict(sorted((str(k), v) for k, v in seen.items()))
        statuses.update(seen)
        print(f"{operation.label}: {dict(seen)}", file=sys.stderr)
    media = {}
    media_fuzz(app, media_examples, media, failures)
    for label, seen in media.items():
        per_operation[label] = dict(sorted((str(k), v) for k, v in seen.items()))
        statuses.update(seen)
    # the server still answers after everything above
    from starlette.testclient import TestClient
    alive = TestClient(app).get("/health").status_code == 200
    return {"requests": sum(statuses.values()), "statuses": {str(k): v for k, v in sorted(statuses.items(), key=str)},
            "server_errors": sum(v for k, v in statuses.items() if isinstance(k, int) and k >= 500),
            "exceptions": statuses.get("exception", 0), "alive_after": alive,
            "slow": sum(1 for f in failures if f.get("seconds", 0) > SLOW_S),
            "tracebacks": sum(1 for f in failures if "Traceback" in f.get("body", "")), "failures": failures[:20],
            "per_operation": per_operation}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=60, help="schema-generated requests per operation")
    parser.add_argument("--media-examples", type=int, default=60, help="media requests per endpoint and system")
    parser.add_argument("--out", default=str(RESULTS / "fuzz_server"))
    args = parser.parse_args()
    start = time.perf_counter()
    report = fuzz(args.examples, args.media_examples)
    report.update(seconds=round(time.perf_counter() - start, 1), examples_per_operation=args.examples,
                  command=f"python benchmarks/fuzz_server.py --examples {args.examples} "
                          f"--media-examples {args.media_examples}",
                  machine=f"{platform.machine()}, {platform.system()}, Python {platform.python_version()}")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(report, indent=2) + "\n")
    rows = "\n".join(f"| `{op}` | {', '.join(f'{k}: {v}' for k, v in counts.items())} |"
                     for op, counts in report["per_operation"].items())
    out.with_suffix(".md").write_text(
        f"# Fuzzing the HTTP API from its OpenAPI schema\n\n`{report['command']}` ({report['machine']}), "
        f"{report['seconds']} s.\n\n{report['requests']} generated requests (from the schema, valid and invalid by it, "
        f"and with real, truncated and corrupt media); "
        f"**{report['server_errors']} answered 5xx, {report['exceptions']} crashed, {report['tracebacks']} "
        f"tracebacks, {report['slow']} slower than {SLOW_S:g} s**; the server answered "
        f"/health afterwards: {report['alive_after']}.\n\n| operation | statuses |\n|---|---|\n{rows}\n")
    print(json.dumps({k: report[k] for k in ("requests", "server_errors", "exceptions", "tracebacks", "slow",
                                             "alive_after", "seconds")}))
    return 0 if not report["failures"] and report["alive_after"] else 1


if __name__ == "__main__":
    sys.exit(main())
