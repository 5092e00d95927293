"""Where the pipeline's files live: every stage writes, and every later stage reads, through
these paths (relative to the repository root). `tests/test_dvc_paths.py` checks each stage's
outputs in dvc.yaml against `outputs`, so the layout is declared once here and once there.
"""

from __future__ import annotations

from pathlib import Path

PREPARED = Path("data/prepared")
DATA_REPORT = Path("data/report.json")
MODELS = Path("models")
IMPROVED_CONFIGS = Path("hyperparams/crypto_improved")
METRICS = Path("metrics")
FORECASTS = Path("forecasts")
REPORTS = Path("reports")
BEST = Path("hyperparams/best")
BEST_METRICS = METRICS / "best.json"
FORECAST_PLOTS = Path("plots/forecast")
STATE = Path("build/state")  # resumable training states (not outputs)
WORK = Path("build/finetune")  # fine-tuning searches under way (not outputs)


def model(family: str) -> Path:
    """A family's base checkpoint folder."""
    return MODELS / family


def finetuned(family: str, symbol: str | None = None) -> Path:
    """A family's fine-tuned checkpoint folder (one per symbol with finetune.per_symbol)."""
    root = MODELS / "finetuned" / family
    return root / symbol if symbol else root


def metrics(stage: str, item: str) -> Path:
    """metrics/<stage>/<item>.json: a stage's metrics for one symbol or family."""
    return METRICS / stage / f"{item}.json"


def pretrain_validation(family: str) -> Path:
    return METRICS / "pretrain" / f"{family}_validation.json"


def point_forecasts(stage: str, symbol: str) -> Path:
    """The point forecasts of a symbol's candidates (`point_frame`) for the baseline, improved
    and ensemble stages."""
    return FORECASTS / stage / f"{symbol}.parquet"


def sweep_outputs(stage: str, symbol: str) -> Path:
    """A sweep's (or re-sweep's) folder: forecasts.parquet, trials.parquet, samples.npz (and
    the re-sweep's pool)."""
    return FORECASTS / stage / symbol


def finetune_forecasts(family: str, symbol: str | None = None) -> Path:
    """The base and fine-tuned default forecasters' point forecasts (per symbol)."""
    root = FORECASTS / "finetune" / family
    return root / f"{symbol}.parquet" if symbol else root


PANEL_FORECASTS = FORECASTS / "panel"  # <SYMBOL>.parquet + its fingerprint <SYMBOL>.json
PANEL_METRICS = METRICS / "panel.json"
PANEL_SWEEP = Path("hyperparams/panel_sweep")  # <family>.json: the panel sweep's winners
PANEL_SWEEP_TRIALS = FORECASTS / "panel_sweep"  # trials.parquet: every trial's losses
PANEL_SWEEP_METRICS = METRICS / "panel_sweep.json"
PANEL_POOLS = Path("build/panel_pools")  # Toto pools of the panel sweep (not outputs)


def pool(symbol: str) -> Path:
    return Path("pools") / symbol


def plots(stage: str, item: str, suffix: str = ".csv") -> Path:
    """plots/<stage>/<item><suffix> (suffix "" for a folder of curves)."""
    return Path("plots") / stage / f"{item}{suffix}"


def record(stage: str, symbol: str) -> Path:
    """hyperparams/<stage>/<SYMBOL>.json: a configuration record (sweep winner, best)."""
    return Path("hyperparams") / stage / f"{symbol}.json"


def outputs(stage: str, item: str | None = None) -> list[Path]:
    """Every output of `stage` (for `item`: its symbol or family), as dvc.yaml lists them."""
    table = {
        "prepare": lambda: [PREPARED, DATA_REPORT],
        "pretrain": lambda: [model(item), metrics("pretrain", item), plots("pretrain", item, "")],
        "pretrain_eval": lambda: [pretrain_validation(item)],
        "baseline": lambda: [point_forecasts("baseline", item), metrics("baseline", item)],
        "improved_configs": lambda: [IMPROVED_CONFIGS],
        "improved": lambda: [point_forecasts("improved", item), metrics("improved", item)],
        "pool": lambda: [pool(item), metrics("pool", item)],
        "sweep": lambda: [record("sweep", item), sweep_outputs("sweep", item),
                          metrics("sweep", item), plots("sweep", item)],
        "ensemble": lambda: [point_forecasts("ensemble", item), metrics("ensemble", item)],
        "finetune": lambda: [finetuned(item), finetune_forecasts(item),
                             metrics("finetune", item), plots("finetune", item, "")],
        "resweep": lambda: [sweep_outputs("resweep", item), metrics("resweep", item),
                            plots("resweep", item)],
        "select": lambda: [BEST, BEST_METRICS, FORECAST_PLOTS],
        "panel_sweep": lambda: [PANEL_SWEEP, PANEL_SWEEP_TRIALS, PANEL_SWEEP_METRICS,
                                plots("panel_sweep", "history")],
        "panel": lambda: [PANEL_FORECASTS, PANEL_METRICS],
        "report": lambda: [REPORTS],
    }
    if stage not in table:
        raise ValueError(f"no layout for stage {stage!r}")
    return table[stage]()
