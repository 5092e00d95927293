"""Median latency of one Kronos forecast (UNIUSDT baseline config, horizon 1): our predictor
vs the reference-style loop (context repeated sample_count times, recomputed every step), on
the same weights, plus a KS check that both sample the same distribution; and the
milliseconds per forecast of the same forecaster over UNIUSDT's validation backtest, in batches
of eval.batch_size and alone (batches of one), as the stages run it; and the compute floor of
a backtest forecast (`compute_floor`: its arithmetic at this machine's best matrix rate).

Usage: python bench/kronos_latency.py [--checkpoint models/kronos] [--repeats 20]
Writes bench/results/kronos_latency.json.
"""

from __future__ import annotations

import dataclasses
import statistics
import time
from pathlib import Path

import click
import numpy as np
import torch
from backtest_timing import backtest_ms_per_forecast
from compute_floor import compute_floor
from kronos_reference import reference_generate, same_distribution_pvalue

from cryptocast.config import EvalConfig, load_params
from cryptocast.data.store import load_series, read_splits
from cryptocast.forecast.base import Context
from cryptocast.io import write_json
from cryptocast.models.kronos import (
    Kronos,
    KronosForecaster,
    KronosTokenizer,
    PredictorConfig,
    TokenizerConfig,
    load_checkpoint,
)
from cryptocast.models.kronos.forecaster import BATCH_ROWS
from cryptocast.models.kronos.inputs import CLOSE, candle_features, normalise, time_stamps
from cryptocast.runtime import RuntimeConfig, configure

UNI = dict(sample_count=320, temperature=0.3, top_p=0.78, top_k=28, clip=1.6,
           context_length=288, max_context=512)


def _models(checkpoint: Path) -> tuple[KronosTokenizer, Kronos, str]:
    if (checkpoint / "tokenizer").is_dir():
        tok, pred = load_checkpoint(checkpoint)
        return tok, pred, str(checkpoint)
    torch.manual_seed(0)
    architecture = load_params()["models"]["kronos"]["architecture"]
    tok = KronosTokenizer(TokenizerConfig.from_dict(architecture.get("tokenizer", {})))
    pred = Kronos(PredictorConfig.from_dict(architecture.get("predictor", {})))
    return tok.eval(), pred.eval(), "random init of params.yaml models.kronos.architecture"


def _uni_context(prepared: Path, length: int) -> Context:
    candles = load_series(prepared, "1d", "UNIUSDT")
    splits = read_splits(prepared)
    candles = candles.loc[candles["timestamp"] < splits.val_start].tail(length + 1)
    ts = candles["timestamp"].to_numpy().astype("datetime64[ns]")
    cols = ["open", "high", "low", "close", "volume"]
    return Context(ts[:-1], candles[cols].to_numpy(np.float64)[:-1], ts[-1:])


def _timed(fn, repeats: int) -> tuple[float, list]:
    times, outs = [], []
    for _ in range(repeats):
        start = time.perf_counter()
        outs.append(fn())
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times), outs


@click.command()
@click.option("--checkpoint", default="models/kronos", type=click.Path(path_type=Path))
@click.option("--prepared", default="data/prepared", type=click.Path(path_type=Path))
@click.option("--repeats", default=20, help="forecasts timed for our predictor")
@click.option("--reference-repeats", default=3, help="forecasts timed for the reference loop")
@click.option("--backtest-repeats", default=3, help="validation backtests timed per batch size")
@click.option("--threads", default=None, type=int,
              help="torch CPU threads (default: params.yaml runtime.threads)")
@click.option("--out", default="bench/results/kronos_latency.json", type=click.Path())
def main(checkpoint: Path, prepared: Path, repeats: int, reference_repeats: int,
         backtest_repeats: int, threads: int | None, out: str):
    params = load_params()
    settings = RuntimeConfig.from_params(params)
    runtime = configure(dataclasses.replace(settings, threads=threads or settings.threads))
    tok, pred, source = _models(checkpoint)
    ctx = _uni_context(prepared, UNI["context_length"])
    forecaster = KronosForecaster(tok, pred, name="uni_kronos", seed=0, **UNI)
    forecaster.predict([ctx])  # warm-up
    seeds = iter(range(repeats))

    def forecast():  # a window's draws are seeded by (seed, window): new seed each repeat
        forecaster.seed = next(seeds)
        return forecaster.predict([ctx])

    ours_ms, ours = _timed(forecast, repeats)

    feats = candle_features(ctx.ohlcv[:, :4], ctx.ohlcv[:, 4])
    x, mean, std = normalise(feats[None], UNI["clip"])
    args = (torch.from_numpy(x).float(), torch.from_numpy(time_stamps(ctx.timestamps))[None],
            torch.from_numpy(time_stamps(ctx.future_timestamps))[None], forecaster.sampling,
            UNI["max_context"], torch.Generator().manual_seed(1))
    ref_ms, refs = _timed(lambda: reference_generate(tok, pred, *args), reference_repeats)

    cfg = EvalConfig.from_params(params)
    forecaster.seed = 0
    backtest = backtest_ms_per_forecast(forecaster, prepared, "UNIUSDT", cfg,
                                        [cfg.batch_size, 1], backtest_repeats)
    floor = compute_floor(lambda: forecaster.predict([ctx] * BATCH_ROWS), BATCH_ROWS,
                          backtest[f"batch_{cfg.batch_size}"])

    # Both in normalised close units: ours mapped back from prices with the same mean/std.
    ours_norm = (np.concatenate([o.samples[0, :, 0] for o in ours]) - mean[0, 0, CLOSE]) / (
        std[0, 0, CLOSE] + 1e-5)
    ref_norm = np.concatenate([r[0, :, 0, CLOSE].numpy() for r in refs])
    result = {
        "ours_ms": round(ours_ms, 3),
        "reference_ms": round(ref_ms, 3),
        "ratio": round(ref_ms / ours_ms, 2),
        "same_distribution_pvalue": same_distribution_pvalue(ours_norm, ref_norm),
        "backtest_ms_per_forecast": {"symbol": "UNIUSDT", **backtest},
        "compute_floor": floor,
        "config": {**UNI, "horizon": 1, "symbol": "UNIUSDT", "interval": "1d",
                   "weights": source, "tokenizer": tok.config.to_dict(),
                   "predictor": pred.config.to_dict(), "repeats": repeats,
                   "reference_repeats": reference_repeats,
                   **runtime},
    }
    write_json(out, result)
    click.echo({k: v for k, v in result.items() if k != "config"})


if __name__ == "__main__":
    main()
