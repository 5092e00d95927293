import numpy as np
import pytest
import yaml
from click.testing import CliRunner
from conftest import make_candles
from tiny import params as full_params

from cryptocast.cli import main

COMMANDS = [[], ["data"], ["data", "check"], ["data", "fetch"], ["data", "preflight"],
            ["evaluate"], ["forecast"], ["compare"], ["quick-eval"], ["report"], ["risk"],
            ["sweep"],
            ["sweep", "worker"], ["train"], ["train", "check"]]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "main")
def test_every_command_has_help(command):
    result = CliRunner().invoke(main, [*command, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output


def test_data_check_reports_each_series(tmp_path):
    source = tmp_path / "1d"
    source.mkdir()
    frame = make_candles(30)
    frame.assign(timestamp=frame["timestamp"].dt.strftime("%Y-%m-%d")).to_csv(
        source / "AAAUSDT.csv", index=False
    )
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump(full_params(data={"intervals": ["1d"]})))
    result = CliRunner().invoke(
        main, ["data", "check", "--params", str(params), "--source-dir", str(tmp_path)]
    )
    assert result.exit_code == 0, result.output
    assert "AAAUSDT" in result.output and "rows      30" in result.output


def test_data_check_reports_every_bad_file_and_exits_1(tmp_path):
    source = tmp_path / "1d"
    source.mkdir()
    good = make_candles(30)
    good.assign(timestamp=good["timestamp"].dt.strftime("%Y-%m-%d")).to_csv(
        source / "AAAUSDT.csv", index=False)
    (source / "BBBUSDT.csv").write_text("timestamp,open,high,low,close\n2024-01-01,1,2,0.5,1\n")
    (source / "CCCUSDT.csv").write_text("timestamp,open,high,low,close,volume\n"
                                        "2024-01-01,1,2,0.5,1,1\n2024-01-01,1,2,0.5,1,1\n")
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump(full_params(data={"intervals": ["1d"]})))
    result = CliRunner().invoke(
        main, ["data", "check", "--params", str(params), "--source-dir", str(tmp_path)])
    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert "BBBUSDT" in lines[1] and "missing column(s) 'volume'" in lines[1]
    assert "CCCUSDT" in lines[2] and "row 2" in lines[2] and "duplicate timestamp" in lines[2]
    assert lines[-1] == "3 files checked, 1 ok, 2 with problems"
    assert "Traceback" not in result.output


def test_a_missing_source_dir_names_the_setting_and_the_ways_out(tmp_path):
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump(full_params(data={"source_dir": str(tmp_path / "none"),
                                                       "intervals": ["1d"]})))
    result = CliRunner().invoke(main, ["data", "preflight", "--params", str(params)])
    assert result.exit_code == 2
    assert "is not a directory: point data.source_dir in params.yaml" in result.output
    assert "cryptocast data fetch" in result.output and "Traceback" not in result.output


@pytest.fixture
def project(tmp_path, monkeypatch):
    """A checkout with prepared candles, a tiny Toto checkpoint and a selected config."""
    import torch
    from tiny import TINY, data_config, split_config

    from cryptocast.data.prepare import prepare
    from cryptocast.models.toto import Toto, save_checkpoint
    from cryptocast.tuning.records import Record

    source = tmp_path / "ohlcv" / "1d"
    source.mkdir(parents=True)
    frame = make_candles(120)
    frame.assign(timestamp=frame["timestamp"].dt.strftime("%Y-%m-%d")).to_csv(
        source / "AAAUSDT.csv", index=False)
    prepare(data_config(source_dir=str(tmp_path / "ohlcv"), intervals=["1d"]),
            split_config(val_steps=20, test_steps=10), ["AAAUSDT"], tmp_path / "data" / "prepared",
            tmp_path / "data" / "report.json")
    torch.manual_seed(0)
    save_checkpoint(Toto(TINY), tmp_path / "models" / "toto")
    config = {"model": "toto", "num_samples": 64, "context_length": 32}
    Record(symbol="AAAUSDT", model="toto", config=config,
           selection={"chosen": "sweep_toto"}).write(tmp_path / "hyperparams/best/AAAUSDT.json")
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(full_params(seed=0)))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_forecast_prints_the_next_close_and_its_80_interval(project, monkeypatch):
    result = CliRunner().invoke(main, ["forecast", "AAAUSDT"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("AAAUSDT 1d candle 2024-04-30 00:00:00: close ")
    assert ", 80% interval " in result.output
    assert "sweep_toto from hyperparams/best" in result.output
    calls = []

    def fake_fetch(exchange, symbol, interval, since, until):
        calls.append((exchange, symbol, interval))
        return make_candles(60, start="2025-01-01")

    monkeypatch.setattr("cryptocast.cli.common.fetch_candles", fake_fetch)
    live = CliRunner().invoke(main, ["forecast", "AAAUSDT", "--live", "--exchange", "kraken"])
    assert live.exit_code == 0, live.output
    assert calls == [("kraken", "AAAUSDT", "1d")]
    assert "candle 2025-03-02 00:00:00" in live.output  # after the last fetched candle


@pytest.mark.parametrize("args, message", [
    (["evaluate", "--symbol", "FOO"], "no prepared candles for FOO at 1d"),
    (["forecast", "AAAUSDT", "--device", "cuda"], "runtime.device is 'cuda' but"),
    (["compare", "AAAUSDT", "--device", "tpu"], "runtime.device must be auto, cpu, cuda"),
    (["evaluate", "--symbol", "AAAUSDT", "--spec", "bad"], "--spec 'bad': expected NAME=JSON"),
    (["evaluate", "--symbol", "AAAUSDT", "--spec", "x={bad"],
     "--spec x: the part after '=' is not JSON"),
    (["evaluate", "--symbol", "AAAUSDT", "--spec", "x=[1]"], "--spec x: expected a JSON object"),
    (["sweep", "worker", "--storage", "postgresql+psycopg://bob:s3cret@127.0.0.1:9/optuna",
      "--study", "s"], "study storage postgresql+psycopg://bob:***@127.0.0.1:9/optuna: cannot "
                       "open it (connection failed"),
    (["sweep", "worker", "--storage", "nonsense", "--study", "s"],
     "study storage <not a database URL>: cannot open it"),
])
def test_user_mistakes_end_in_one_line_and_exit_2(project, monkeypatch, args, message):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output
    assert result.output.startswith("Error: ") and result.output.count("\n") == 1
    assert "s3cret" not in result.output


def test_risk_prints_the_var_exceedances_and_verdicts(project):
    from cryptocast.evaluation.risk import risk_metrics
    from cryptocast.tuning.records import Record

    rng = np.random.default_rng(0)
    grid = np.linspace(-3, 3, 201) * 0.02
    blocks = {split: {"n": 120, **risk_metrics(np.tile(scale * grid, (120, 1)),
                                                 rng.normal(0, 0.02, 120))}
              for split, scale in (("validation", 1.0), ("test", 0.3))}
    Record(symbol="AAAUSDT", model="garch", config={"model": "garch"}, selection={
        "chosen": "garch"}, **blocks).write(project / "hyperparams/best/AAAUSDT_risk.json")
    result = CliRunner().invoke(main, ["risk", "AAAUSDT"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == "AAAUSDT: garch (garch)"
    test = lines[lines.index(next(x for x in lines if x.startswith("test:"))):]
    assert "VaR95 lower: exceeded" in test[1] and "kupiec p 0.00 (rejected)" in test[1]
    missing = CliRunner().invoke(main, ["risk", "BBBUSDT"])
    assert missing.exit_code == 2 and "no config for BBBUSDT" in missing.output
