"""Distributed training: two processes on the CPU (torchrun, gloo, DDP through Accelerate),
each taking half of every batch, end with the weights of one process taking whole batches."""
import subprocess
import sys

import pytest
import yaml
from safetensors.torch import load_file

# a model without BatchNorm or dropout (the small text transformer has neither): per-rank batch
# statistics and dropout masks would differ
RECIPE = {"task": "text-qa", "data": {"spec": "shapes:sort-of-clevr:train", "seed": 3, "n": 12},
          "model": {"encoders": {"text": {"name": "transformer", "config": {"dim": 16, "layers": 1, "heads": 2,
                                                                           "max_length": 64}}},
                    "fusion": "early:feature", "hidden": 16},
          "train": {"epochs": 1, "lr": 0.01, "warmup_steps": 1, "seed": 0, "max_steps": 6}}


def train(tmp_path, name: str, processes: int, batch_size: int):
    recipe = tmp_path / f"{name}.yaml"
    recipe.write_text(yaml.safe_dump({**RECIPE, "train": {**RECIPE["train"], "batch_size": batch_size}}))
    launcher = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(processes),
                "--master_port", str(29500 + processes), "-m"] if processes > 1 else [sys.executable, "-m"]
    run = subprocess.run([*launcher, "polymodal", "train", "--recipe", str(recipe), "--out", str(tmp_path / name),
                          "--threads", "1"], capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    return load_file(tmp_path / name / "model" / "model.safetensors")


def largest_difference(a: dict, b: dict) -> float:
    assert a.keys() == b.keys()
    return max(float((a[k] - b[k]).abs().max()) for k in a)


@pytest.mark.timeout(900)
def test_two_process_ddp_matches_one_process_with_the_whole_batch(tmp_path):
    one = train(tmp_path, "single", 1, 8)
    two = train(tmp_path, "ddp", 2, 4)
    half = train(tmp_path, "half", 1, 4)          # what a rank alone would learn: other data
    ddp_gap, data_gap = largest_difference(one, two), largest_difference(one, half)
    # summing gradients across processes reorders float additions; Adam's first steps divide
    # by tiny second moments, so such rounding shows at 1e-4, far below a change of data
    assert ddp_gap < 1e-3 and ddp_gap < 0.05 * data_gap, (ddp_gap, data_gap)


def test_the_gpu_benchmark_script_runs_its_variants_on_small_models():
    """benchmarks/gpu_throughput.py is for a GPU machine; here its code runs on tiny shapes."""
    from pathlib import Path
    script = Path(__file__).parent.parent / "benchmarks" / "gpu_throughput.py"
    run = subprocess.run([sys.executable, str(script), "--tiny", "--device", "cpu", "--only", "embed",
                          "--only", "transcribe"], capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    rows = [line for line in run.stderr.splitlines() if line.startswith('{"workload"')]
    assert len(rows) == 6 and all('"throughput"' in r for r in rows)
