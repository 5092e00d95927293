"""The device paths, checked against the CPU: both families forecast the same contexts with the
same seeds on the CPU and on `--device` (float32, then bf16 autocast on CUDA), and a training
check overfits one batch on the device. On a CPU-only machine it compares the CPU with itself.

Prints the largest forecast difference (relative to the price), a two-sample KS p-value of
the samples, the latency per forecast on each device, and the training check's loss drop;
writes bench/results/device_check.json. Weights: models/<family> when present, else the
params.yaml architecture with seeded random weights.

Usage: .venv/bin/python bench/device_check.py [--device auto] [--contexts 16]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from scipy import stats

from cryptocast import runtime
from cryptocast.config import load_params
from cryptocast.forecast.base import Context
from cryptocast.io import write_json
from cryptocast.models import kronos, toto
from cryptocast.training.check import overfit_one_batch
from cryptocast.training.toto import model_config

ROOT = Path(__file__).resolve().parents[1]


def contexts(count: int, length: int, seed: int) -> list[Context]:
    rng = np.random.default_rng(seed)
    stamps = pd.date_range("2023-01-01", periods=length + 1, freq="D").to_numpy()
    out = []
    for i in range(count):
        close = 100 * np.exp(np.cumsum(rng.normal(0, 0.03, length)))
        ohlcv = np.stack([close, close * 1.01, close * 0.99, close, np.full(length, 1e3)], 1)
        out.append(Context(stamps[:-1], ohlcv, stamps[-1:], series=f"walk{i}"))
    return out


def models(params: dict) -> dict:
    """family -> (function device -> forecaster), on the same weights."""
    torch.manual_seed(0)
    arch = params["models"]
    if (ROOT / "models/toto/model.safetensors").exists():
        toto_model = toto.load_checkpoint(ROOT / "models/toto")
    else:
        toto_model = toto.Toto(model_config(arch["toto"].get("architecture", {})))
    if (ROOT / "models/kronos/predictor").exists():
        tokenizer, predictor = kronos.load_checkpoint(ROOT / "models/kronos")
    else:
        parts = arch["kronos"]["architecture"]
        tokenizer = kronos.KronosTokenizer(kronos.TokenizerConfig.from_dict(parts["tokenizer"]))
        predictor = kronos.Kronos(kronos.PredictorConfig.from_dict(parts["predictor"]))
    return {
        "toto": lambda d: toto.TotoForecaster(toto_model, seed=0, device=d, num_samples=256),
        "kronos": lambda d: kronos.KronosForecaster(tokenizer, predictor, seed=0, device=d,
                                                    sample_count=32, context_length=256),
    }


def timed_predict(forecaster, ctxs: list[Context]):
    started = time.perf_counter()
    forecast = forecaster.predict(ctxs)
    if forecaster.device.type == "cuda":
        torch.cuda.synchronize()
    return forecast, (time.perf_counter() - started) / len(ctxs)


def compare(build, ctxs: list[Context], cfg: runtime.RuntimeConfig) -> dict:
    runtime.configure(cfg)
    cpu, cpu_s = timed_predict(build(torch.device("cpu")), ctxs)
    there, there_s = timed_predict(build(runtime.current_device()), ctxs)
    last = np.array([c.close[-1] for c in ctxs])
    diff = np.abs(there.point[:, 0] - cpu.point[:, 0]) / last
    ks = stats.ks_2samp(there.samples.ravel(), cpu.samples.ravel())
    return {"max_point_diff_rel": float(diff.max()), "ks_pvalue_samples": float(ks.pvalue),
            "cpu_s_per_forecast": cpu_s, "device_s_per_forecast": there_s}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--contexts", type=int, default=16)
    args = parser.parse_args()
    params = load_params(ROOT / "params.yaml")
    threads = runtime.RuntimeConfig.from_params(params).threads
    configs = {"float32": runtime.RuntimeConfig(threads, args.device, bf16=False)}
    if runtime.resolve_device(args.device).type == "cuda":
        configs["bf16"] = runtime.RuntimeConfig(threads, args.device, bf16=True)
    ctxs = contexts(args.contexts, 512, seed=0)
    result = {"torch": torch.__version__, "families": {}}
    for family, build in models(params).items():
        runs = {name: compare(build, ctxs, cfg) for name, cfg in configs.items()}
        result["runtime"] = runtime.configure(list(configs.values())[-1])
        check = overfit_one_batch(family, params, steps=30)
        runs["train_check"] = {k: check[k] for k in ("initial_loss", "final_loss",
                                                     "relative_drop", "seconds")}
        result["families"][family] = runs
        for name, run in runs.items():
            print(f"{family:<7}{name:<12}" + "  ".join(f"{k} {v:.4g}" for k, v in run.items()))
    write_json(ROOT / "bench/results/device_check.json", result)


if __name__ == "__main__":
    main()
