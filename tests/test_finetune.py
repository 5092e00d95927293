"""Toto fine-tuning: the losses by hand, no look-ahead, resume, NaN, early stopping."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from scipy import stats
from test_toto_training import corpus  # noqa: F401 - the shared fixture
from tiny import TINY, finetune_settings

import cryptocast.training.finetune_toto as ft
from cryptocast.models.toto import Toto, load_checkpoint, save_checkpoint
from cryptocast.models.toto.distribution import StudentTMixture, finetune_loss, mixture_variance

TRAIN = finetune_settings("toto", symbols=["AAA"], epochs=3, steps_per_epoch=3, batch_size=4,
         context_length=16, warmup_steps=1, lr=1e-3, patience=5)


def one_t(df=4.0, loc=0.5, scale=2.0) -> StudentTMixture:
    t = lambda v: torch.tensor([[v]], dtype=torch.float64)  # noqa: E731
    return StudentTMixture(t(0.0), t(df), t(loc), t(scale))


def test_losses_by_hand():
    y = torch.tensor([1.5], dtype=torch.float64)
    expected_nll = -stats.t.logpdf(1.5, df=4, loc=0.5, scale=2)
    assert float(finetune_loss("nll", one_t(), y)) == pytest.approx(expected_nll)
    assert float(finetune_loss("huber", one_t(), y, delta=1.0)) == pytest.approx(0.5)  # 0.5 d^2
    assert float(finetune_loss("huber", one_t(), y, delta=0.5)) == pytest.approx(0.375)  # linear
    # var = scale^2 df / (df - 2) = 8: 0.5 (log(2 pi 8) + 1 / 8)
    expected = 0.5 * (math.log(2 * math.pi * 8) + 1 / 8)
    assert float(finetune_loss("heteroscedastic", one_t(), y)) == pytest.approx(expected)
    with pytest.raises(ValueError, match="must be one of"):
        finetune_loss("mse", one_t(), y)


def test_mixture_variance_of_two_components():
    # equal weights, locs 0 and 2, scale 1, df 4: each var 2; E[X^2] = 0.5 (2) + 0.5 (2 + 4)
    # = 4, mean 1 -> var 3
    t = lambda *v: torch.tensor([list(v)], dtype=torch.float64)  # noqa: E731
    mixture = StudentTMixture(t(0.0, 0.0), t(4.0, 4.0), t(0.0, 2.0), t(1.0, 1.0))
    assert float(mixture_variance(mixture)[0]) == pytest.approx(3.0)


def test_targets_never_enter_their_scaling_statistics():
    """The training path gets whole windows (lookback + target patch): changing the target
    patch moves the scaled targets of that patch only, never the statistics."""
    torch.manual_seed(0)
    model = Toto(TINY).eval()
    x = torch.randn(2, 1, 24).cumsum(-1) + 50
    mask = torch.ones(2, 1, 24, dtype=torch.bool)
    changed = x.clone()
    changed[..., -4:] += 100.0  # only the predicted (last) patch differs
    (a, ta), (b, tb) = ft.scaled_targets(model, x, mask), ft.scaled_targets(model, changed, mask)
    assert torch.equal(a.loc, b.loc) and torch.equal(a.scale, b.scale)
    assert torch.equal(ta[..., :-4], tb[..., :-4]) and not torch.equal(ta[..., -4:], tb[..., -4:])
    # the model does scale on what it is given: the whole window would move the statistics
    assert not torch.equal(model(x, mask).loc[..., -4:], model(changed, mask).loc[..., -4:])


@pytest.fixture
def base(tmp_path):
    torch.manual_seed(0)
    save_checkpoint(Toto(TINY), tmp_path / "base")
    return tmp_path / "base"


def run(corpus, base, tmp_path, name, **train):  # noqa: F811
    out = tmp_path / name
    return ft.finetune(corpus, base, {**TRAIN, **train}, out / "model",
                            out / "curve.csv", out / "state", seed=0), out


def test_resume_after_an_interrupt_reaches_the_same_weights(corpus, base, tmp_path,  # noqa: F811
                                                            monkeypatch):
    full, _ = run(corpus, base, tmp_path, "full")
    original, calls = ft._loss, {"n": 0}

    def crash_in_epoch_two(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == TRAIN["steps_per_epoch"] + 2:
            raise KeyboardInterrupt
        return original(*args, **kwargs)

    monkeypatch.setattr(ft, "_loss", crash_in_epoch_two)
    with pytest.raises(KeyboardInterrupt):
        run(corpus, base, tmp_path, "resumed")
    assert not (tmp_path / "resumed" / "model").exists()
    monkeypatch.setattr(ft, "_loss", original)
    resumed, _ = run(corpus, base, tmp_path, "resumed")
    assert resumed["best_val_loss"] == pytest.approx(full["best_val_loss"], rel=1e-6)
    a = load_checkpoint(tmp_path / "full" / "model").state_dict()
    b = load_checkpoint(tmp_path / "resumed" / "model").state_dict()
    assert all(torch.allclose(a[k], b[k], atol=1e-6) for k in a)


def test_a_nan_loss_stops_naming_the_step_and_writes_nothing(corpus, base, tmp_path,  # noqa: F811
                                                             monkeypatch):
    original, calls = ft.finetune_loss, {"n": 0}

    def nan_at_step_two(*args, **kwargs):
        loss = original(*args, **kwargs)
        if len(args) < 4:  # a validation loss (no mask)
            return loss
        calls["n"] += 1
        return loss * float("nan") if calls["n"] == 2 else loss

    monkeypatch.setattr(ft, "finetune_loss", nan_at_step_two)
    with pytest.raises(FloatingPointError, match=r"loss is nan at step 2 \(epoch 1\)"):
        run(corpus, base, tmp_path, "nan")
    assert not (tmp_path / "nan" / "model").exists()
    assert not (tmp_path / "nan" / "state" / "state.pt").exists()


def test_early_stopping_keeps_the_best_epoch(corpus, base, tmp_path, monkeypatch):  # noqa: F811
    # the base's loss and NLL, then epochs 1, 2, 3..., then the kept weights' NLL
    losses = iter([1.0, 2.0, 0.5, 0.7, 0.8, 1.5])
    monkeypatch.setattr(ft, "validation_loss", lambda *a, **k: next(losses))
    summary, out = run(corpus, base, tmp_path, "early", epochs=6, patience=2)
    assert summary["best_epoch"] == 1 and summary["epochs_run"] == 3
    assert summary["stopped_early"] and summary["best_val_loss"] == 0.5
    assert (summary["base_criterion"], summary["criterion"]) == (2.0, 1.5)
    assert (out / "curve.csv").read_text().count("\n") == 4  # header + 3 epochs


def test_the_base_is_kept_when_no_epoch_beats_it(corpus, base, tmp_path, monkeypatch):  # noqa: F811
    losses = iter([0.1, 0.2, 0.5, 0.7, 0.8, 0.2])  # the base's validation loss is the best
    monkeypatch.setattr(ft, "validation_loss", lambda *a, **k: next(losses))
    summary, out = run(corpus, base, tmp_path, "kept", epochs=6, patience=3)
    assert summary["best_epoch"] == 0 and summary["best_val_loss"] == 0.1
    a, b = load_checkpoint(base).state_dict(), load_checkpoint(out / "model").state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_head_only_trains_the_head(base):
    model = load_checkpoint(base)
    trainable = ft.set_trainable(model, "head")
    names = [n for n, p in model.named_parameters() if p.requires_grad]
    assert names and all(n.startswith(ft.HEAD) for n in names)
    assert sum(p.numel() for p in trainable) < sum(p.numel() for p in model.parameters())
    with pytest.raises(ValueError, match="trainable must be head or all"):
        ft.TotoFinetuneParams(**finetune_settings("toto", symbols=["AAA"],
                                                  trainable="backbone"))


def test_kronos_training_windows_exclude_the_target_from_their_statistics(corpus):  # noqa: F811
    """Two windows that differ in their last (target) candle only, drawn alike: with the
    lookback statistics only the target row differs; with whole-window statistics (the
    reference fine-tuning's) every row would."""
    import numpy as np

    from cryptocast.training.kronos_windows import WindowSampler

    frame = max(corpus.train, key=lambda f: len(f.candles))
    rows = {}
    for name, factor in (("as is", 1.0), ("target x3", 3.0)):
        sampler = WindowSampler([frame], 16, clip=50.0, reference=None)
        feats, stamps = sampler.series[0]
        # a window of the full series length: its last row is the series' last candle
        sampler.series[0] = (feats * np.where(np.arange(len(feats))[:, None] == len(feats) - 1,
                                              factor, 1.0), stamps)
        sampler.window = len(feats)
        for lookback in (len(feats) - 1, None):
            x, _ = sampler.sample(np.random.default_rng(0), 1, len(feats), lookback=lookback)
            rows[name, lookback] = x[0]
    n = len(frame.candles)
    differs = ~torch.isclose(rows["as is", n - 1], rows["target x3", n - 1]).all(-1)
    assert differs[-1] and not differs[:-1].any()
    whole = ~torch.isclose(rows["as is", None], rows["target x3", None]).all(-1)
    assert whole[:-1].all()


def test_kronos_finetune_runs_keeps_the_best_epoch_and_reports_round_trips(corpus, tmp_path,  # noqa: F811
                                                                          monkeypatch):
    from tiny import PREDICTOR, TOKENIZER

    import cryptocast.training.finetune_kronos as kronos_finetune
    from cryptocast.models.kronos import (
        Kronos,
        KronosTokenizer,
        PredictorConfig,
        TokenizerConfig,
    )
    from cryptocast.models.kronos import load_checkpoint as load_kronos
    from cryptocast.models.kronos import save_checkpoint as save_kronos
    from cryptocast.training.finetune_kronos import finetune as finetune_kronos

    torch.manual_seed(0)
    save_kronos(KronosTokenizer(TokenizerConfig(**TOKENIZER)), tmp_path / "base" / "tokenizer")
    save_kronos(Kronos(PredictorConfig(**PREDICTOR)), tmp_path / "base" / "predictor")

    def tune(name: str, tokenizer_lr: float) -> dict:
        settings = finetune_settings("kronos", symbols=["AAA"], epochs=2, steps_per_epoch=3,
                                     batch_size=4, window=16, min_window=8, tokenizer_steps=2,
                                     lr=1e-3, tokenizer_lr=tokenizer_lr)
        return finetune_kronos(corpus, tmp_path / "base", settings, tmp_path / name,
                               tmp_path / f"{name}.csv", tmp_path / f"{name}-state", seed=0)

    summary = tune("out", tokenizer_lr=0.03)
    assert summary["best_epoch"] in (1, 2) and summary["best_val_ce"] <= summary["base_val_ce"]
    before = summary["tokenizer_close_err_median_before"]
    assert 0 < summary["tokenizer_close_err_median_after"] < before  # the random tokenizer learns
    tok, pred = load_kronos(tmp_path / "out")
    assert pred.config.d_model == PREDICTOR["d_model"]
    assert (tmp_path / "out.csv").exists()
    assert summary["criterion"] == summary["best_val_ce"]
    assert summary["admissible"]

    # a tokenizer step that wrecks the round trip: inadmissible, so the predictor never trains
    trained = []
    monkeypatch.setattr(kronos_finetune, "fit", lambda *a, **k: trained.append(a))
    wrecked = tune("wrecked", tokenizer_lr=1.0)
    assert (wrecked["tokenizer_close_err_median_after"]
            > wrecked["tokenizer_close_err_median_before"])
    assert not wrecked["admissible"] and wrecked["criterion"] is None
    assert wrecked["epochs_run"] == 0 and not trained
    assert not (tmp_path / "wrecked").exists() and not (tmp_path / "wrecked.csv").exists()


def test_the_search_keeps_the_best_configuration_or_the_base(corpus, base, tmp_path,  # noqa: F811
                                                             monkeypatch):
    import cryptocast.training.finetune as search

    criteria = {"nll": 0.30, "huber": 0.10, "heteroscedastic": 0.20}
    calls = []

    def fake(family, corpus, base_dir, train, out_dir, curve, state_dir, seed, base_scores):
        calls.append(train["loss"])
        if train["loss"] == "heteroscedastic" and len(calls) == 3 and not fake.resumed:
            raise KeyboardInterrupt  # the first run stops at its third configuration
        torch.manual_seed(len(calls))
        save_checkpoint(Toto(TINY), out_dir)
        Path(curve).parent.mkdir(parents=True, exist_ok=True)
        Path(curve).write_text("epoch,train_loss,val_loss\n1,0.5,0.4\n")
        return {"criterion": criteria[train["loss"]], "base_criterion": fake.base}

    fake.base, fake.resumed = 0.25, False
    monkeypatch.setattr(search, "finetune_family", fake)
    settings = {**TRAIN, "grid": {"loss": ["nll", "huber", "heteroscedastic"]}}
    args = ("toto", corpus, base, settings, tmp_path / "out", tmp_path / "plots",
            tmp_path / "work", 0)
    with pytest.raises(KeyboardInterrupt):
        search.finetune_search(*args)
    fake.resumed = True
    summary = search.finetune_search(*args)
    assert calls == ["nll", "huber", "heteroscedastic", "heteroscedastic"]  # nothing twice
    assert summary["chosen"] == "loss-huber" and not summary["same_as_base"]
    assert set(summary["configs"]) == {"loss-nll", "loss-huber", "loss-heteroscedastic"}
    assert summary["configs"]["loss-huber"]["criterion"] == 0.10
    assert sorted(p.name for p in (tmp_path / "plots").iterdir()) == [
        "loss-heteroscedastic.csv", "loss-huber.csv", "loss-nll.csv"]
    assert not any((tmp_path / "work").iterdir())  # a finished search leaves no state
    # no configuration beats the base: the base is what comes out, byte for byte
    fake.base = 0.05
    kept = search.finetune_search(*args)
    assert kept["chosen"] is None and kept["same_as_base"]
    for name in ("config.json", "model.safetensors"):
        assert (tmp_path / "out" / name).read_bytes() == (base / name).read_bytes()


def test_a_search_scores_the_base_once_and_as_a_lone_run_does(corpus, base, tmp_path,  # noqa: F811
                                                               monkeypatch):
    import cryptocast.training.finetune as search

    alone = run(corpus, base, tmp_path, "alone", loss="huber")[0]  # no memo: its own base scores
    losses, original = [], ft.validation_loss
    monkeypatch.setattr(ft, "validation_loss",
                        lambda model, windows, loss, *a: losses.append(loss)
                        or original(model, windows, loss, *a))
    summary = search.finetune_search(
        "toto", corpus, base, {**TRAIN, "grid": {"lr": [1e-3, 1e-4], "loss": ["huber"]}},
        tmp_path / "out", tmp_path / "plots", tmp_path / "work", 0)
    first, second = summary["configs"].values()
    assert {k: v for k, v in first.items() if k != "train_seconds"} == {
        "lr": 1e-3, **{k: v for k, v in alone.items() if k != "train_seconds"}}
    assert second["base_criterion"] == first["base_criterion"]
    assert second["base_val_loss"] == first["base_val_loss"]
    # the base's huber and NLL once; then per configuration every epoch and the final NLL
    assert len(losses) == 2 + sum(c["epochs_run"] + 1 for c in (first, second))


def test_the_search_skips_an_inadmissible_configuration(corpus, base, tmp_path,  # noqa: F811
                                                         monkeypatch):
    import cryptocast.training.finetune as search

    criteria = {"nll": 0.30, "huber": 0.10, "heteroscedastic": 0.20}

    def fake(family, corpus, base_dir, train, out_dir, curve, state_dir, seed, base_scores):
        save_checkpoint(Toto(TINY), out_dir)
        Path(curve).parent.mkdir(parents=True, exist_ok=True)
        Path(curve).write_text("epoch,train_loss,val_loss\n")
        return {"criterion": criteria[train["loss"]], "base_criterion": 0.25,
                "admissible": train["loss"] != "huber"}  # the lowest, but inadmissible

    monkeypatch.setattr(search, "finetune_family", fake)
    summary = search.finetune_search("toto", corpus, base,
                                     {**TRAIN, "grid": {"loss": list(criteria)}},
                                     tmp_path / "out", tmp_path / "plots", tmp_path / "work", 0)
    assert summary["chosen"] == "loss-heteroscedastic"


def test_a_kronos_search_tunes_a_shared_tokenizer_once_and_as_a_lone_run_does(
        corpus, tmp_path, monkeypatch):  # noqa: F811
    from tiny import PREDICTOR, TOKENIZER

    import cryptocast.training.finetune as search
    import cryptocast.training.finetune_kronos as kronos_finetune
    from cryptocast.models.kronos import Kronos, KronosTokenizer, PredictorConfig, TokenizerConfig
    from cryptocast.models.kronos import save_checkpoint as save_kronos

    torch.manual_seed(0)
    save_kronos(KronosTokenizer(TokenizerConfig(**TOKENIZER)), tmp_path / "base" / "tokenizer")
    save_kronos(Kronos(PredictorConfig(**PREDICTOR)), tmp_path / "base" / "predictor")
    settings = finetune_settings("kronos", symbols=["AAA"], epochs=2, steps_per_epoch=3,
                                 batch_size=4, window=16, min_window=8, tokenizer_lr=0.03)
    alone = kronos_finetune.finetune(corpus, tmp_path / "base",
                                     {**settings, "lr": 3e-4, "tokenizer_steps": 2},
                                     tmp_path / "alone", tmp_path / "alone.csv",
                                     tmp_path / "alone-state", seed=0)
    tunings, original = [], kronos_finetune._tune_tokenizer
    monkeypatch.setattr(kronos_finetune, "_tune_tokenizer",
                        lambda *a: tunings.append(a) or original(*a))
    summary = search.finetune_search(
        "kronos", corpus, tmp_path / "base",
        {**settings, "grid": {"lr": [1e-3, 3e-4], "tokenizer_steps": [2]}},
        tmp_path / "out", tmp_path / "plots", tmp_path / "work", 0)
    assert len(tunings) == 1  # the predictor's learning rate does not touch the tokenizer
    second = summary["configs"]["lr-0.0003_tokenizer_steps-2"]
    assert {k: v for k, v in second.items() if k != "train_seconds"} == {
        "lr": 3e-4, **{k: v for k, v in alone.items() if k != "train_seconds"}}
    assert second["best_epoch"] is not None
