"""The pretrain stage's dispatch (official checkpoints are imported instead of trained) and
the validation report of a family's default forecaster."""

import pytest
import torch
from conftest import make_candles
from tiny import TINY, data_config, eval_config, split_config

from cryptocast.config import ModelSettings
from cryptocast.data.prepare import prepare
from cryptocast.evaluation.evaluate import family_validation_report
from cryptocast.models.folder import read_data_end
from cryptocast.models.toto import Toto, load_checkpoint, save_checkpoint
from cryptocast.training import pretrain_family


def test_official_toto_checkpoint_is_imported_not_trained(tmp_path):
    torch.manual_seed(0)
    folder = tmp_path / "Toto-Open-Base"
    save_checkpoint(Toto(TINY), folder)
    settings = ModelSettings(checkpoint=str(folder), data_end="2025-06-01", architecture={})
    metrics = pretrain_family("toto", settings, {}, [], 0, tmp_path / "no-data",
                              tmp_path / "out", tmp_path / "plots", tmp_path / "st")
    assert metrics["imported"] == 1.0
    assert read_data_end(tmp_path / "out") == "2025-06-01"
    expected = load_checkpoint(folder).state_dict()
    got = load_checkpoint(tmp_path / "out").state_dict()
    assert expected.keys() == got.keys()
    assert all(torch.equal(expected[k], got[k]) for k in expected)


def official(checkpoint: str) -> ModelSettings:
    return ModelSettings(checkpoint=checkpoint, data_end=None, architecture={})


def test_unknown_family_is_an_error(tmp_path):
    with pytest.raises(ValueError, match="unknown model family 'chronos'"):
        pretrain_family("chronos", official("x"), {}, [], 0, tmp_path, tmp_path, tmp_path,
                        tmp_path)


def test_validation_report_scores_the_default_forecaster_beside_naive_gaussian(tmp_path):
    source = tmp_path / "ohlcv" / "1d"
    source.mkdir(parents=True)
    frame = make_candles(120)
    frame.assign(timestamp=frame["timestamp"].dt.strftime("%Y-%m-%d")).to_csv(
        source / "AAAUSDT.csv", index=False
    )
    prepare(
        data_config(source_dir=str(tmp_path / "ohlcv"), intervals=["1d"]),
        split_config(val_steps=10, test_steps=5),
        ["AAAUSDT"],
        tmp_path / "prepared",
        tmp_path / "report.json",
    )
    torch.manual_seed(0)
    save_checkpoint(Toto(TINY), tmp_path / "models" / "toto")
    report = family_validation_report(
        "toto",
        {"num_samples": 16, "context_length": 32},
        ["AAAUSDT"],
        tmp_path / "prepared",
        tmp_path / "models",
        eval_config(val_steps=10, test_steps=5, n_boot=20),
    )
    scores = report["AAAUSDT"]
    assert scores["crps"] > 0 and scores["naive_gaussian_crps"] > 0
    assert scores["crps_ratio"] == pytest.approx(scores["crps"] / scores["naive_gaussian_crps"])


def test_official_checkpoint_by_hub_name_from_the_cache(tmp_path, monkeypatch):
    """`models.toto.checkpoint: Datadog/Toto-Open-Base-1.0` resolves through a Hugging Face
    hub cache (built here, in the hub's own layout), never the network."""
    cache = tmp_path / "hub"
    snapshot = cache / "models--Datadog--Toto-Open-Base-1.0" / "snapshots" / "abc123"
    torch.manual_seed(0)
    save_checkpoint(Toto(TINY), snapshot)
    (cache / "models--Datadog--Toto-Open-Base-1.0" / "refs").mkdir()
    (cache / "models--Datadog--Toto-Open-Base-1.0" / "refs" / "main").write_text("abc123")
    import huggingface_hub.constants

    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)  # never the network
    metrics = pretrain_family("toto", official("Datadog/Toto-Open-Base-1.0"), {}, [], 0,
                              tmp_path / "no-data", tmp_path / "out", tmp_path / "plots",
                              tmp_path / "st")
    assert metrics["imported"] == 1.0
    expected, got = load_checkpoint(snapshot).state_dict(), load_checkpoint(tmp_path / "out")
    assert all(torch.equal(expected[k], v) for k, v in got.state_dict().items())
    with pytest.raises(FileNotFoundError, match="checkpoint 'Datadog/Not-Cached': not in the hub"):
        pretrain_family("toto", official("Datadog/Not-Cached"), {}, [], 0, tmp_path,
                        tmp_path / "o2", tmp_path / "p2", tmp_path)
    with pytest.raises(FileNotFoundError, match="neither a folder nor a hub repo id"):
        pretrain_family("toto", official("no such thing"), {}, [], 0, tmp_path,
                        tmp_path / "o3", tmp_path / "p3", tmp_path)
