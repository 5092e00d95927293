"""Toto pretraining step time with 1 or 2 torch threads, alone and beside a busy process.

Each setting runs in a fresh interpreter, because libgomp reads OMP_WAIT_POLICY once, when
torch loads it. The competitor is a single-threaded busy loop, or another torch job with the same
thread count and OpenMP policy. Writes bench/results/thread_contention.json.

Usage: .venv/bin/python bench/thread_contention.py [--steps 30]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

from cryptocast.io import write_json

ROOT = Path(__file__).resolve().parents[1]

# torch is imported first, so the OpenMP policy is the one the parent put in the environment
# (importing cryptocast first would set GOMP_SPINCOUNT=1000 where no policy is set).
CHILD = r"""
import dataclasses, json, statistics, sys, time
import numpy as np, torch, yaml
from cryptocast.runtime import RuntimeConfig, configure
from cryptocast.models.toto import Toto
from cryptocast.models.toto.distribution import combined_loss
from cryptocast.training.toto import model_config

threads, steps = int(sys.argv[1]), int(sys.argv[2])
params = yaml.safe_load(open("params.yaml"))
configure(dataclasses.replace(RuntimeConfig.from_params(params), threads=threads))
torch.manual_seed(0)
model = Toto(model_config(params["models"]["toto"]["architecture"]))
opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
p = model.config.patch_size
x = torch.randn(32, 1, 512 + p).cumsum(-1)
mask = torch.ones_like(x, dtype=torch.bool)
times = []
for _ in range(steps):
    t0 = time.perf_counter()
    out = model(x[..., :-p], mask[..., :-p])
    loss = combined_loss(out.distribution, (x[..., p:] - out.loc) / out.scale, mask[..., p:], 0.5)
    opt.zero_grad(); loss.backward(); opt.step()
    times.append(time.perf_counter() - t0)
print(json.dumps({"median_step_s": statistics.median(times[2:]),
                  "mean_step_s": statistics.fmean(times[2:])}))
"""

COMPETITORS = {
    # a single-threaded busy loop: one core's worth of unrelated work
    "busy_loop": "import time\nend = time.time() + 600\nwhile time.time() < end: pass\n",
    # another torch job with the same settings (two pipeline stages, or tests beside a stage)
    "torch_job": "import sys, time, torch\ntorch.set_num_threads(int(sys.argv[1]))\n"
    "a = torch.randn(256, 256)\nend = time.time() + 600\n"
    "while time.time() < end: a = torch.tanh(a @ a / 16)\n",
}


# {}: libgomp's default (spin 300,000 times, then sleep), what torch does unless told otherwise
SETTINGS = [
    (1, {}),
    (2, {}),
    (2, {"OMP_WAIT_POLICY": "PASSIVE"}),
    (2, {"GOMP_SPINCOUNT": "10000"}),
    (2, {"GOMP_SPINCOUNT": "1000"}),  # what importing cryptocast sets (src/cryptocast/__init__)
]


def run(threads: int, omp_env: dict[str, str], competitor: str | None, steps: int) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")}
    env.update(omp_env)
    busy = None
    if competitor is not None:
        busy = subprocess.Popen([sys.executable, "-c", COMPETITORS[competitor], str(threads)],
                                env=env)
    try:
        out = subprocess.run([sys.executable, "-c", CHILD, str(threads), str(steps)], cwd=ROOT,
                             env=env, capture_output=True, text=True, check=True, timeout=900)
    finally:
        if busy is not None:
            busy.kill()
            busy.wait()
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=30)
    args = parser.parse_args()
    rows = []
    for threads, omp_env in SETTINGS:
        for competitor in (None, *COMPETITORS):
            result = run(threads, omp_env, competitor, args.steps)
            row = {"threads": threads, "omp_env": omp_env or "libgomp default",
                   "competitor": competitor, **result}
            rows.append(row)
            print(json.dumps(row))
    out = ROOT / "bench/results/thread_contention.json"
    write_json(out, {"workload": "Toto pretraining step, batch 32, context 512", "rows": rows})
    print(f"wrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
