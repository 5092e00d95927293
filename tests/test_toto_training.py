import csv

import numpy as np
import pandas as pd
import pytest
import torch
from safetensors.torch import load_file
from tiny import section

from cryptocast.data.corpus import SeriesFrame, TrainingCorpus
from cryptocast.models.toto import load_checkpoint
from cryptocast.training import toto as toto_training
from cryptocast.training.toto import TotoTrainParams, pretrain
from cryptocast.training.toto_windows import WindowSampler, validation_set

ARCH = {"patch_size": 4, "stride": 4, "embed_dim": 16, "num_layers": 2, "num_heads": 2,
        "mlp_hidden_dim": 16, "spacewise_every_n_layers": 2, "k_components": 2}
TRAIN = section("pretrain.toto", epochs=2, steps_per_epoch=3, batch_size=4, context_length=16,
                warmup_steps=2)
VAL_START = pd.Timestamp("2024-03-01")


def frame(symbol: str, interval: str, n: int, seed: int, start="2024-01-01") -> SeriesFrame:
    rng = np.random.default_rng(seed)
    close = 50 * np.exp(np.cumsum(0.02 * rng.standard_normal(n)))
    freq = {"1d": "D", "1h": "h"}[interval]
    candles = pd.DataFrame({
        "timestamp": pd.date_range(start, periods=n, freq=freq),
        "open": close, "high": close * 1.01, "low": close * 0.99, "close": close,
        "volume": np.ones(n),
    })
    return SeriesFrame(symbol, interval, candles)


@pytest.fixture
def corpus() -> TrainingCorpus:
    train = [frame("AAA", "1d", 60, 0), frame("AAA", "1h", 200, 1), frame("BBB", "1d", 10, 2)]
    validation = [frame("AAA", "1d", 75, 0)]  # 15 targets from 2024-03-01
    return TrainingCorpus(train, validation, VAL_START, pd.Timestamp("2024-03-16"))


def run(corpus, tmp_path, name, seed=0, **train):
    out = tmp_path / name
    summary = pretrain(corpus, ARCH, {**TRAIN, **train}, out / "model", out / "plots",
                       out / "state", seed)
    return summary, out


def test_pretrain_writes_checkpoint_curve_and_summary(corpus, tmp_path):
    summary, out = run(corpus, tmp_path, "a")
    model = load_checkpoint(out / "model")
    assert model.config.embed_dim == 16 and model.config.k_components == 2
    with open(out / "plots" / "loss.csv") as f:
        rows = list(csv.DictReader(f))
    assert [r["epoch"] for r in rows] == ["1", "2"]
    assert np.isfinite(float(rows[-1]["val_nll"]))
    assert summary["epochs"] == 2
    assert summary["val_nll"] == pytest.approx(float(rows[-1]["val_nll"]))
    assert not (out / "state" / "state.pt").exists()


def test_pretrain_is_deterministic_and_resumes_after_interrupt(corpus, tmp_path, monkeypatch):
    _, first = run(corpus, tmp_path, "first", seed=3)
    _, second = run(corpus, tmp_path, "second", seed=3)
    a = load_file(first / "model" / "model.safetensors")
    b = load_file(second / "model" / "model.safetensors")
    assert all(torch.equal(a[k], b[k]) for k in a)

    real_epoch, calls = toto_training._run_epoch, []

    def interrupted(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real_epoch(*args, **kwargs)

    monkeypatch.setattr(toto_training, "_run_epoch", interrupted)
    with pytest.raises(KeyboardInterrupt):
        run(corpus, tmp_path, "resumed", seed=3)
    assert (tmp_path / "resumed" / "state" / "state.pt").exists()
    monkeypatch.setattr(toto_training, "_run_epoch", real_epoch)
    run(corpus, tmp_path, "resumed", seed=3)
    c = load_file(tmp_path / "resumed" / "model" / "model.safetensors")
    assert all(torch.equal(a[k], c[k]) for k in a)
    _, other = run(corpus, tmp_path, "other", seed=4)
    d = load_file(other / "model" / "model.safetensors")
    assert not all(torch.equal(a[k], d[k]) for k in a)


def test_validation_windows_hold_only_validation_targets(corpus):
    x, mask, target = validation_set(corpus, 16, None)
    close = corpus.validation[0].candles["close"].to_numpy()
    assert x.shape == (15, 1, 16) and target.shape == (15,)
    np.testing.assert_allclose(target.numpy(), close[60:])
    np.testing.assert_allclose(x[0, 0].numpy(), close[44:60].astype(np.float32))
    assert mask.all()


def test_window_sampler_pads_short_series():
    params = TotoTrainParams(**section("pretrain.toto", pad_fraction=0.0))
    sampler = WindowSampler([np.arange(1.0, 6.0, dtype=np.float32)], 8, 2, params.pad_fraction,
                            params.interval_weight_power, None)
    x, mask = sampler.sample(3, np.random.default_rng(0))
    assert x.shape == (3, 1, 8)
    assert not mask[:, :, :3].any() and mask[:, :, 3:].all()
    np.testing.assert_array_equal(x[0, 0, 3:].numpy(), np.arange(1.0, 6.0))


def test_bad_params_name_the_key(corpus, tmp_path):
    with pytest.raises(ValueError, match="pretrain.toto: unknown keys"):
        pretrain(corpus, ARCH, {**TRAIN, "epoch": 1}, tmp_path / "m", tmp_path / "p",
                 tmp_path / "s", 0)
    with pytest.raises(ValueError, match="models.toto.architecture: unknown keys"):
        pretrain(corpus, {"layers": 3}, TRAIN, tmp_path / "m",
                 tmp_path / "p",
                 tmp_path / "s", 0)
    with pytest.raises(ValueError, match="context_length"):
        pretrain(corpus, ARCH, {**TRAIN, "context_length": 10}, tmp_path / "m", tmp_path / "p",
                 tmp_path / "s", 0)


def test_one_learning_rate_schedule_by_hand():
    from cryptocast.training.common import lr_at

    # warm-up: (step + 1) / warmup of the peak
    assert [lr_at(s, 1.0, 4) for s in range(4)] == [0.25, 0.5, 0.75, 1.0]
    assert lr_at(100, 1e-4, 20) == 1e-4  # no total: constant after the warm-up
    # cosine from the peak to 10% of it: halfway is 55%, the end and beyond 10%
    assert lr_at(4, 2.0, 4, total=14) == pytest.approx(2.0)
    assert lr_at(9, 2.0, 4, total=14) == pytest.approx(2.0 * 0.55)
    assert lr_at(14, 2.0, 4, total=14) == pytest.approx(0.2)
    assert lr_at(99, 2.0, 4, total=14) == pytest.approx(0.2)
