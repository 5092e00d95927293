"""Sweep trials scored from the Toto pool and the Kronos cache, against running the forecaster
for every trial.

Per family: 100 configs drawn (seeded) from the sweep space of params.yaml, each scored on the
120 validation windows of one symbol. `pool_build_seconds`: the Toto pool, or the Kronos pools
(per-window model state and samples) of every distribution the configs use; `seconds`: the 100
trials scored from those pools; `rerun_seconds`: the same trials running the real forecaster,
extrapolated from `rerun_timed` of them; `speedup`: rerun / trials, `speedup_with_build`:
rerun / (build + trials). Kronos also: `state_seconds`, the per-window states those pools
need (each window's context pass per context_length and clip, timed as pools of one sample),
which no sharing of draws across distributions can save, and `speedup_bound_with_build`:
rerun / (states + trials), the most any such sharing could give. Writes
bench/results/sweep_speed.json.

Usage: .venv/bin/python bench/sweep_speed.py [--symbol BTCUSDT] [--trials 100] [--timed 5]
"""

from __future__ import annotations

import dataclasses
import time

import click
import numpy as np

from cryptocast.config import EvalConfig
from cryptocast.forecast.registry import build_forecaster
from cryptocast.io import write_json
from cryptocast.runtime import load_and_configure
from cryptocast.tuning.kronos_cache import KronosCache, knobs_of, largest_sample_count
from cryptocast.tuning.pools import build_toto_pool, sweep_windows, tail
from cryptocast.tuning.sweep import grid, sweep_settings


def timed(fn):
    started = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - started


def direct_seconds(configs, windows, models_dir: str, seed: int) -> float:
    """Mean seconds of one trial that runs the forecaster over every window."""
    times = []
    for config in configs:
        def trial(config=config):
            model = build_forecaster("trial", config, models_dir, seed)
            length = config["context_length"]
            forecast = model.predict([tail(c, length) for c in windows.contexts])
            return np.mean(np.abs(forecast.point[:, 0] / windows.prev_close - 1
                                  - windows.actual_return))
        times.append(timed(trial)[1])
    return float(np.mean(times))


def toto_trials(settings, windows, picked, seed: int) -> tuple[float, float]:
    """(pool build seconds, seconds of the trials scored from the pool)."""
    def factory(length, n):
        return build_forecaster("pool", {"model": "toto", "num_samples": n,
                                         "context_length": length}, "models", seed)

    pool, build = timed(lambda: build_toto_pool(factory, windows, settings.toto["context_length"],
                                                settings.pool_size))
    _, seconds = timed(lambda: [pool.losses(c["num_samples"], c["aggregate"],
                                            c["context_length"]).mae.mean() for c in picked])
    return build, seconds


def kronos_trials(windows, picked, pool_size: int, seed: int) -> tuple[float, float, float]:
    """(seconds drawing the pools the configs use, seconds of the trials scored from them,
    seconds of the per-window states alone: pools of one sample, in a cache of their own)."""
    model = build_forecaster("kronos", {"model": "kronos"}, "models", seed)
    knobs = [knobs_of(c) for c in picked]
    states_only = KronosCache(model, windows, 1)
    reads = {(k.reads, k.clip): dataclasses.replace(k, sample_count=1) for k in knobs}
    _, states = timed(lambda: [states_only.pool(k) for k in reads.values()])
    cache = KronosCache(model, windows, pool_size)
    _, build = timed(lambda: [cache.pool(k) for k in knobs])
    order = np.arange(len(windows.contexts))
    _, seconds = timed(lambda: [np.mean([e.mae for _, e in cache.losses(c, order)])
                                for c in picked])
    return build, seconds, states


@click.command()
@click.option("--symbol", default="BTCUSDT", show_default=True)
@click.option("--trials", default=100, show_default=True)
@click.option("--timed", "n_timed", default=5, show_default=True,
              help="trials run with the real forecaster (the rest extrapolated)")
@click.option("--out", default="bench/results/sweep_speed.json", type=click.Path())
def main(symbol: str, trials: int, n_timed: int, out: str) -> None:
    params, runtime = load_and_configure()
    settings = sweep_settings(params, symbol)
    windows, _ = sweep_windows(settings, EvalConfig.from_params(params), symbol, "data/prepared")
    seed = int(params["seed"])
    rng = np.random.default_rng(0)
    result = {"symbol": symbol, **runtime}
    configs = grid(settings)
    for family in ("toto", "kronos"):
        own = [c for c in configs if c["model"] == family]
        picked = [own[i] for i in rng.choice(len(own), size=trials, replace=len(own) < trials)]
        if family == "toto":
            build, seconds = toto_trials(settings, windows, picked, seed)
        else:
            build, seconds, states = kronos_trials(windows, picked, largest_sample_count(own),
                                                   seed)
        per_trial = direct_seconds(picked[:n_timed], windows, "models", seed)
        result[family] = {"trials": trials, "windows": len(windows.contexts),
                          "seconds": round(seconds, 3), "pool_build_seconds": round(build, 3),
                          "rerun_seconds": round(per_trial * trials, 3),
                          "rerun_timed": n_timed,
                          "speedup": round(per_trial * trials / seconds, 1),
                          "speedup_with_build": round(per_trial * trials / (build + seconds), 1)}
        if family == "kronos":
            result[family].update(state_seconds=round(states, 3), speedup_bound_with_build=round(
                per_trial * trials / (states + seconds), 1))
        click.echo(f"{family}: {result[family]}")
    write_json(out, result)


if __name__ == "__main__":
    main()
