"""pretrain@kronos on a tiny synthetic corpus: outputs, metrics, curves, exact resume."""

from __future__ import annotations

import csv
import math

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F
from tiny import PREDICTOR, TOKENIZER, section

from cryptocast.data.corpus import SeriesFrame, TrainingCorpus
from cryptocast.models.kronos import Kronos, KronosTokenizer, load_checkpoint, save_checkpoint
from cryptocast.models.kronos.config import PredictorConfig, TokenizerConfig
from cryptocast.training import kronos as training

ARCH = {"tokenizer": TOKENIZER, "predictor": PREDICTOR}
TRAIN = section("pretrain.kronos", window=16, min_window=8, batch_size=4, eval_window=20,
                checkpoint_every=2, interval_weights=None, close_code_weight=0.0,
                tokenizer=dict(steps=4, eval_every=2, warmup=1, lr=1e-3),
                predictor=dict(steps=4, eval_every=2, warmup=1, lr=1e-3))


def frame(symbol: str, interval: str, n: int, seed: int) -> SeriesFrame:
    rng = np.random.default_rng(seed)
    close = 50 * np.exp(np.cumsum(rng.normal(0, 0.03, n)))
    freq = {"1d": "1D", "1h": "1h"}[interval]
    candles = pd.DataFrame({
        "timestamp": pd.date_range("2023-01-01", periods=n, freq=freq),
        "open": close * 0.99, "high": close * 1.03, "low": close * 0.96, "close": close,
        "volume": rng.uniform(1, 5, n)})
    return SeriesFrame(symbol, interval, candles)


@pytest.fixture(scope="module")
def corpus() -> TrainingCorpus:
    val_start = pd.Timestamp("2023-03-01")
    val = [frame("AAA", "1d", 80, 1), frame("BBB", "1d", 80, 2)]
    train = [SeriesFrame(f.symbol, f.interval, f.candles[f.candles.timestamp < val_start])
             for f in val] + [frame("CCC", "1h", 300, 3)]
    return TrainingCorpus(train, val, val_start, pd.Timestamp("2023-03-15"))


def run(corpus, tmp_path, name: str) -> dict:
    return training.pretrain(corpus, ARCH, TRAIN, tmp_path / name / "out",
                             tmp_path / name / "plots", tmp_path / name / "state", seed=7)


def test_pretrain_outputs_metrics_and_curves(corpus, tmp_path):
    metrics = run(corpus, tmp_path, "a")
    for key in ("tokenizer_close_err_median_s1s2", "tokenizer_close_err_median_s1",
                "naive_pct_return_mae", "predictor_val_ce", "total_seconds"):
        assert math.isfinite(metrics[key])
    assert 0 < metrics["predictor_val_ce"] < 10
    tok, pred = load_checkpoint(tmp_path / "a" / "out")
    assert tok.config.s1_bits == pred.config.s1_bits == 3
    with open(tmp_path / "a" / "plots" / "tokenizer.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["step"] for r in rows] == ["2", "4"]
    assert {"train_loss", "close_err_median_s1s2", "close_err_median_s1"} <= set(rows[0])
    with open(tmp_path / "a" / "plots" / "predictor.csv") as fh:
        last_pred = list(csv.DictReader(fh))[-1]
    assert last_pred.keys() >= {"step", "train_loss", "val_ce"}
    # the summary is the curves' last rows (floats round-trip through the CSV exactly)
    tok = {k: float(v) for k, v in rows[-1].items()}
    for key in ("close_err_median_s1s2", "close_err_mean_s1s2", "close_err_median_s1",
                "recon_mse", "naive_abs_return_median", "naive_pct_return_mae"):
        assert metrics[key if key.startswith("naive") else f"tokenizer_{key}"] == tok[key]
    assert metrics["tokenizer_err_over_naive_median"] == (tok["close_err_median_s1s2"]
                                                          / tok["naive_abs_return_median"])
    assert metrics["tokenizer_err_over_naive_mean"] == (tok["close_err_mean_s1s2"]
                                                        / tok["naive_pct_return_mae"])
    assert metrics["predictor_val_ce"] == float(last_pred["val_ce"])
    assert metrics["predictor_train_ce"] == float(last_pred["train_loss"])
    assert metrics["tokenizer_seconds"] + metrics["predictor_seconds"] == pytest.approx(
        metrics["total_seconds"])
    # a finished run leaves no resumable state behind (a rerun trains again)
    assert not (tmp_path / "a" / "state" / "state.pt").exists()


def test_training_windows_are_normalised_on_their_lookback(corpus, tmp_path, monkeypatch):
    """Every training batch (tokenizer and predictor) leaves its last candle out of the
    window statistics, as a forecast's context does."""
    original, seen = training.WindowSampler.sample, []

    def spy(self, rng, batch, length=None, lookback=None):
        seen.append((length, lookback))
        return original(self, rng, batch, length, lookback)

    monkeypatch.setattr(training.WindowSampler, "sample", spy)
    run(corpus, tmp_path, "spy")
    assert len(seen) >= 8 and all(lookback == length - 1 for length, lookback in seen)


def test_resume_after_interrupt_matches_uninterrupted(corpus, tmp_path, monkeypatch):
    full = run(corpus, tmp_path, "full")
    original = training.predictor_loss
    calls = {"n": 0}

    def failing(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 5:  # step 3 of the predictor: after the step-2 eval and checkpoint
            raise KeyboardInterrupt
        return original(*args, **kwargs)

    monkeypatch.setattr(training, "predictor_loss", failing)
    with pytest.raises(KeyboardInterrupt):
        run(corpus, tmp_path, "resumed")
    monkeypatch.setattr(training, "predictor_loss", original)
    resumed = run(corpus, tmp_path, "resumed")
    assert resumed["predictor_val_ce"] == pytest.approx(full["predictor_val_ce"], rel=1e-6)
    a = load_checkpoint(tmp_path / "full" / "out")[1].state_dict()
    b = load_checkpoint(tmp_path / "resumed" / "out")[1].state_dict()
    assert all(torch.allclose(a[k], b[k], atol=1e-6) for k in a)


def test_params_validation(corpus, tmp_path):
    with pytest.raises(ValueError, match="unknown keys"):
        training.PretrainParams.from_dict({**TRAIN, "windw": 3})
    with pytest.raises(ValueError, match="s1_bits"):
        bad = {"tokenizer": TOKENIZER, "predictor": {**PREDICTOR, "s1_bits": 4}}
        training.pretrain(corpus, bad, TRAIN, tmp_path / "o", tmp_path / "p", tmp_path / "s", 0)


def test_interval_weights_set_each_interval_share(corpus):
    from cryptocast.training.kronos_windows import WindowSampler
    sampler = WindowSampler(corpus.train, 16, 5.0, None)
    intervals = [f.interval for f in corpus.train]
    training.weight_intervals(sampler, intervals, {"1d": 3.0, "1h": 1.0})
    is_daily = np.array(intervals) == "1d"
    assert sampler.weights[is_daily].sum() == pytest.approx(0.75)
    # within an interval, still proportional to the number of start positions
    counts = np.array([len(f.candles) - 15 for f in corpus.train], dtype=float)
    assert sampler.weights[0] / sampler.weights[1] == pytest.approx(counts[0] / counts[1])
    training.weight_intervals(sampler, intervals, {"1d": 1.0, "1h": 0.0})
    x, _ = sampler.sample(np.random.default_rng(0), 8)
    assert sampler.weights[~is_daily].sum() == 0 and x.shape == (8, 16, 6)
    with pytest.raises(ValueError, match="no weight for intervals"):
        training.weight_intervals(sampler, intervals, {"1d": 1.0})
    with pytest.raises(ValueError, match="interval_weights"):
        training.PretrainParams.from_dict({**TRAIN, "interval_weights": {"1d": -1.0}})


def test_pretrain_with_interval_weights(corpus, tmp_path):
    train = {**TRAIN, "interval_weights": {"1d": 1.0, "1h": 1.0}}
    metrics = training.pretrain(corpus, ARCH, train, tmp_path / "o", tmp_path / "p",
                                tmp_path / "s", seed=7)
    assert math.isfinite(metrics["tokenizer_close_err_median_s1s2"])


def test_import_official(tmp_path):
    assert training.import_official({"tokenizer": None, "predictor": None},
                                    tmp_path / "out") is None
    save_checkpoint(KronosTokenizer(TokenizerConfig(**TOKENIZER)), tmp_path / "tok")
    save_checkpoint(Kronos(PredictorConfig(**PREDICTOR)), tmp_path / "pred")
    folders = {"tokenizer": str(tmp_path / "tok"), "predictor": str(tmp_path / "pred")}
    metrics = training.import_official(folders, tmp_path / "out")
    assert metrics["imported"] == 1.0 and metrics["predictor_parameters"] > 0
    assert load_checkpoint(tmp_path / "out")[1].config.d_model == 16
    with pytest.raises(ValueError, match="both"):
        training.import_official({"predictor": "x"}, tmp_path / "o2")


def test_close_code_bits_are_the_grid_cell_bit_0_first():
    from cryptocast.models.kronos.tokenizer import bits_to_ids
    close = torch.tensor([-1.0, -0.25, 0.3, 1.0, -7.0, 0.7])
    bits = training.close_code_bits(close, n_bits=2, clip=1.0)  # cells of width 0.5 on [-1, 1]
    expected = [[0, 0], [1, 0], [0, 1], [1, 1], [0, 0], [1, 1]]
    assert bits.tolist() == expected
    assert bits_to_ids(2 * bits - 1).tolist() == [0, 1, 2, 3, 0, 3]  # token id == cell index


def test_tokenizer_loss_adds_the_weighted_close_code_bce():
    torch.manual_seed(0)
    tok = KronosTokenizer(TokenizerConfig(**TOKENIZER))
    x = torch.randn(2, 5, 6)
    plain, mse = training.tokenizer_loss(tok, x)
    recon_s1, recon, bsq = tok(x)
    reference = F.mse_loss(recon_s1, x) + F.mse_loss(recon, x) + bsq
    assert plain.item() == pytest.approx(reference.item(), rel=1e-6)
    assert mse.item() == pytest.approx(F.mse_loss(recon, x).item(), rel=1e-6)
    weighted, _ = training.tokenizer_loss(tok, x, close_code_weight=0.5, clip=5.0)
    target = training.close_code_bits(x[..., 3], 3, 5.0)
    bce = F.binary_cross_entropy_with_logits(
        training.CODE_LOGIT_SCALE * tok.latent(x)[..., :3], target)
    assert weighted.item() == pytest.approx(plain.item() + 0.5 * bce.item(), rel=1e-6)
    with pytest.raises(ValueError, match="close_code_weight"):
        training.PretrainParams.from_dict({**TRAIN, "close_code_weight": -1.0})


def test_close_code_loss_teaches_s1_ids_the_close_cell():
    torch.manual_seed(0)
    tok = KronosTokenizer(TokenizerConfig(**TOKENIZER))
    opt = torch.optim.Adam(tok.parameters(), lr=1e-2)
    for _ in range(300):
        x = torch.randn(8, 12, 6).clamp(-1, 1)
        loss, _ = training.tokenizer_loss(tok, x, close_code_weight=5.0, clip=1.0)
        opt.zero_grad()
        loss.backward()
        opt.step()
    x = torch.randn(16, 12, 6).clamp(-1, 1)
    cells = ((x[..., 3] + 1) / 2 * 8).floor().clamp(0, 7).long()  # 3 s1 bits: 8 cells
    s1, _ = tok.encode(x)
    assert (s1 - cells).abs().le(1).float().mean() > 0.95  # chance: about 0.34
    assert (s1 == cells).float().mean() > 0.5  # chance: 0.125
