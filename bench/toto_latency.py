"""Latency per forecast of our Toto forecaster vs a reference-style sampling loop.

Both use the same weights (models/toto if it holds a checkpoint, else the default config of
params.yaml with seeded random weights), context 512, 1024 samples, horizon 1. The
reference-style loop works like toto-ts's forecaster: it repeats the context
samples_per_batch times and re-runs the whole model for every batch of samples, drawing one
sample per row. A two-sample Kolmogorov-Smirnov test checks that both give the same predictive
distribution. Also the milliseconds per forecast of the same forecaster over a symbol's
validation backtest, in batches of eval.batch_size and alone (batches of one), as the stages
run it, the compute floor of a backtest forecast (`compute_floor`: its arithmetic at this
machine's best matrix rate), and the NumPy work a bit-identical forecast keeps
(`numpy_draw_floor`). Writes bench/results/toto_latency.json.

Usage: .venv/bin/python bench/toto_latency.py [--threads N] [--repeats 30]
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import time
from pathlib import Path

import numpy as np
import torch
import yaml
from backtest_timing import backtest_ms_per_forecast
from compute_floor import compute_floor
from scipy import stats
from tqdm import tqdm

from cryptocast.config import EvalConfig, load_params
from cryptocast.io import write_json
from cryptocast.models.toto import Toto, TotoForecaster, load_checkpoint
from cryptocast.models.toto.forecaster import BATCH_ROWS, draw_per_position
from cryptocast.runtime import RuntimeConfig, configure
from cryptocast.training.toto import model_config

ROOT = Path(__file__).resolve().parents[1]


def load_model(checkpoint: Path, seed: int) -> tuple[Toto, str]:
    if (checkpoint / "model.safetensors").exists():
        where = checkpoint.resolve()
        return load_checkpoint(checkpoint), str(
            where.relative_to(ROOT) if where.is_relative_to(ROOT) else where
        )
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    torch.manual_seed(seed)
    return (Toto(model_config(params["models"]["toto"]["architecture"])).eval(),
            "random init (seeded)")


@torch.inference_mode()
def reference_style_samples(
    model: Toto, series: np.ndarray, num_samples: int, samples_per_batch: int,
    generator: np.random.Generator,
) -> np.ndarray:
    """toto-ts's loop for a one-patch horizon: per batch, a full forward over the repeated
    context, one draw per row at every position, keep the first step after the context."""
    x = torch.tensor(series, dtype=torch.float32).view(1, 1, -1)
    x = x.repeat(samples_per_batch, 1, 1)
    mask = torch.ones_like(x, dtype=torch.bool)
    p = model.config.patch_size
    out = []
    for _ in range(num_samples // samples_per_batch):
        pred = model(x, mask)
        out.append(draw_per_position(pred, generator)[:, -p])
    return np.concatenate(out)


def median_ms(fn, repeats: int, desc: str) -> float:
    fn()  # warm-up
    times = []
    for _ in tqdm(range(repeats), desc=desc, leave=False):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def numpy_draw_floor(num_samples: int, seed: int, repeats: int) -> dict[str, float]:
    """Milliseconds per forecast of the NumPy work a bit-identical forecast cannot avoid: a
    generator seeded per window, and `num_samples` Student-t draws with one df per draw (the
    component's), which NumPy draws one by one."""
    df = 2.0 + 5.0 * np.random.default_rng(seed).random(num_samples)
    rng = np.random.default_rng(seed)
    return {"generator_ms": round(median_ms(lambda: np.random.default_rng(seed), repeats,
                                            "generator"), 4),
            "standard_t_ms": round(median_ms(lambda: rng.standard_t(df), repeats,
                                             "standard_t"), 4)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=None,
                        help="torch CPU threads (default: params.yaml runtime.threads)")
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--reference-repeats", type=int, default=5)
    parser.add_argument("--context", type=int, default=512)
    parser.add_argument("--num-samples", type=int, default=1024)
    parser.add_argument("--samples-per-batch", type=int, default=128)
    parser.add_argument("--checkpoint", type=Path, default=ROOT / "models" / "toto")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--symbol", default="BTCUSDT", help="backtest symbol (validation split)")
    parser.add_argument("--prepared", type=Path, default=ROOT / "data" / "prepared")
    parser.add_argument("--backtest-repeats", type=int, default=3)
    parser.add_argument("--out", type=Path,
                        default=ROOT / "bench" / "results" / "toto_latency.json")
    args = parser.parse_args()
    params = load_params(ROOT / "params.yaml")
    settings = RuntimeConfig.from_params(params)
    runtime = configure(dataclasses.replace(settings, threads=args.threads or settings.threads))
    model, source = load_model(args.checkpoint, args.seed)
    rng = np.random.default_rng(args.seed)
    series = 30000 * np.exp(np.cumsum(0.02 * rng.standard_normal(args.context)))

    ours = TotoForecaster(model, seed=args.seed, num_samples=args.num_samples,
                          samples_per_batch=args.samples_per_batch, context_length=args.context)
    gen = np.random.default_rng(args.seed + 1)
    ours_ms = median_ms(lambda: ours.sample([series], 1), args.repeats, "ours")
    reference_ms = median_ms(
        lambda: reference_style_samples(model, series, args.num_samples,
                                        args.samples_per_batch, gen),
        args.reference_repeats, "reference-style",
    )
    cfg = EvalConfig.from_params(params)
    backtest = backtest_ms_per_forecast(ours, args.prepared, args.symbol, cfg,
                                        [cfg.batch_size, 1], args.backtest_repeats)
    floor = compute_floor(lambda: ours.sample([series] * BATCH_ROWS, 1), BATCH_ROWS,
                          backtest[f"batch_{cfg.batch_size}"])
    draw_floor = numpy_draw_floor(args.num_samples, args.seed, 20 * args.repeats)
    a = ours.sample([series], 1)[0, :, 0]
    b = reference_style_samples(model, series, args.num_samples, args.samples_per_batch, gen)
    result = {
        "ours_ms": round(ours_ms, 3),
        "reference_ms": round(reference_ms, 3),
        "ratio": round(reference_ms / ours_ms, 1),
        "ks_pvalue": float(stats.ks_2samp(a, b).pvalue),
        "backtest_ms_per_forecast": {"symbol": args.symbol, **backtest},
        "compute_floor": floor,
        "numpy_draw_floor": draw_floor,
        "config": {
            "model": model.config.to_dict(), "weights": source, "context_length": args.context,
            "num_samples": args.num_samples, "samples_per_batch": args.samples_per_batch,
            "horizon": 1, **runtime, "repeats": args.repeats,
            "reference_repeats": args.reference_repeats, "torch": torch.__version__,
        },
    }
    write_json(args.out, result)
    print({k: v for k, v in result.items() if k != "config"})


if __name__ == "__main__":
    main()
