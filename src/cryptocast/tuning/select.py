"""Production configs: per symbol, one of every stage's candidates (naive included), chosen
on validation by `select.rule`: `significant` (the default) takes the lowest validation MAE
among the candidates that beat naive there with a Diebold-Mariano p-value below alpha / m
(Bonferroni over the m candidates tried), and otherwise the random walk with its Gaussian
band; `best` takes the lowest validation MAE whatever its evidence.

Selecting on the test split is impossible by construction: the rules receive validation
values only, and the test blocks are attached to the choice afterwards.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptocast.config import from_mapping
from cryptocast.data.prepared import read_splits
from cryptocast.forecast.registry import NEURAL_MODELS
from cryptocast.io import read_json
from cryptocast.tuning.improved import read_candidate_files
from cryptocast.tuning.records import Record, provenance_block, windows_block

METRIC = "pct_return_mae"
RULES = ("significant", "best")
# The random walk's point forecast (naive_gaussian adds a band): nothing to test against naive.
NAIVE = ("naive", "naive_gaussian")


@dataclass(frozen=True)
class SelectParams:
    """params.yaml `select`."""

    rule: str = "significant"
    alpha: float = 0.05  # family-wise, split over the candidates tried (Bonferroni)

    def __post_init__(self) -> None:
        if self.rule not in RULES:
            raise ValueError(f"params select.rule must be one of {list(RULES)}, got "
                             f"{self.rule!r}")
        if not 0 < self.alpha < 1:
            raise ValueError(f"params select.alpha must be in (0, 1), got {self.alpha!r}")

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> SelectParams:
        return from_mapping(cls, params.get("select"), "params select")


@dataclass(frozen=True)
class Candidate:
    """A scored configuration: where it comes from, its knobs and its metric blocks."""

    name: str
    stage: str
    config: dict[str, Any]
    validation: dict[str, Any]
    test: dict[str, Any]


def choose(validation: Mapping[str, float]) -> str:
    """The name with the lowest validation value (the first of equals)."""
    if not validation:
        raise ValueError("select: no candidates")
    return min(validation, key=lambda name: validation[name])


def choose_significant(validation: Mapping[str, float], pvalues: Mapping[str, float],
                       alpha: float, fallback: str) -> tuple[str, float]:
    """The lowest validation value among the candidates below naive's with a DM p-value
    under alpha / m (m: the candidates other than the naive ones), else `fallback`; also
    the threshold used."""
    tried = [name for name in validation if name not in NAIVE]
    threshold = alpha / max(len(tried), 1)
    naive = validation["naive"]
    beat = {name: validation[name] for name in tried
            if validation[name] < naive and pvalues[name] < threshold}
    return (choose(beat) if beat else fallback), threshold


def _blocks(metrics: Mapping[str, Any], name: str) -> tuple[dict, dict]:
    return metrics["validation"][name], metrics["test"][name]


def gather(symbol: str, params: Mapping[str, Any], metrics_dir: str | Path,
           improved_dir: str | Path) -> list[Candidate]:
    """Every stage's candidates for `symbol` from the metrics files (and the configs they
    name): naive and the baseline config, the plan's candidates, the sweep winners, the
    fine-tuned default forecasters and the re-sweep winners when those stages have run, and
    the ensembles."""
    metrics_dir = Path(metrics_dir)
    baseline = read_json(metrics_dir / "baseline" / f"{symbol}.json")
    spec = params["baseline"][symbol]
    ref = spec["reference"]
    found = [Candidate(name, "baseline", dict(spec["candidates"].get(name, {"model": name})),
                       *_blocks(baseline, name))
             for name in NAIVE if name in baseline["validation"]]
    found.append(Candidate(f"baseline_{ref}", "baseline", dict(spec["candidates"][ref]),
                           *_blocks(baseline, ref)))
    improved = read_json(metrics_dir / "improved" / f"{symbol}.json")["candidates"]
    for name, record in read_candidate_files(improved_dir, symbol).items():
        found.append(Candidate(f"improved_{name}", "improved", record.config,
                               *_blocks(improved, name)))
    for stage in ("sweep", "resweep"):
        path = metrics_dir / stage / f"{symbol}.json"
        if not path.exists():
            continue
        doc = read_json(path)
        for family, config in doc["winners"].items():
            name = f"sweep_{family}"
            found.append(Candidate(f"{stage}_{family}", stage, config,
                                   *_blocks(doc["candidates"], name)))
    for family in ("toto", "kronos"):  # the family's default forecaster, fine-tuned
        path = metrics_dir / "finetune" / f"{family}.json"
        scored = read_json(path)["symbols"].get(symbol) if path.exists() else None
        if scored is not None:
            config = {"model": family, **params["models"][family]["forecaster"],
                      "checkpoint_dir": "models/finetuned"}
            found.append(Candidate(f"finetuned_{family}", "finetune", config,
                                   *_blocks(scored, "finetuned")))
    ensemble = read_json(metrics_dir / "ensemble" / f"{symbol}.json")
    for kind, choice in ensemble["weights"].items():
        config = {"model": "ensemble", "kind": kind, "weight": choice["weight"],
                  "members": ensemble["members"]}
        found.append(Candidate(f"ensemble_{kind}", "ensemble", config,
                               *_blocks(ensemble["candidates"], f"ensemble_{kind}")))
    return found


def select(candidates: list[Candidate], params: SelectParams = SelectParams()
           ) -> tuple[Candidate, dict[str, Any]]:
    """The chosen candidate and the selection table: every candidate's validation value and
    DM p-value against naive, the rule and its threshold."""
    validation = {c.name: c.validation[METRIC] for c in candidates}
    pvalues = {c.name: c.validation.get("dm_pvalue_vs_naive", 1.0) for c in candidates}
    table: dict[str, Any] = {"rule": params.rule, "candidates": validation,
                             "dm_pvalues_vs_naive": pvalues}
    if params.rule == "best":
        chosen = choose(validation)
    else:
        if not set(NAIVE) <= set(validation):
            raise ValueError(f"select: rule significant needs {list(NAIVE)} among the "
                             "candidates (params baseline.<SYMBOL>.candidates)")
        chosen, table["threshold"] = choose_significant(validation, pvalues, params.alpha,
                                                        "naive_gaussian")
    return next(c for c in candidates if c.name == chosen), table


def best_record(params: Mapping[str, Any], symbol: str, metrics_dir: str | Path,
                improved_dir: str | Path, prepared_dir: str | Path, models_dir: str | Path,
                horizon: int) -> Record:
    """hyperparams/best/<SYMBOL>.json: the chosen candidate with its evidence."""
    chosen, table = select(gather(symbol, params, metrics_dir, improved_dir),
                           SelectParams.from_params(params))
    splits = read_splits(prepared_dir)
    model = chosen.config["model"]
    families = list(NEURAL_MODELS) if model == "ensemble" else [model]
    return Record(
        symbol=symbol, model=model, config=chosen.config, validation=chosen.validation,
        test=chosen.test,
        windows=windows_block(splits, horizon, {"validation": chosen.validation["n"],
                                                "test": chosen.test["n"]}),
        provenance=provenance_block(families, models_dir, prepared_dir, symbol, splits),
        selection={"metric": f"validation {METRIC}", **table, "chosen": chosen.name,
                   "stage": chosen.stage},
    )
