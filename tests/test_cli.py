import pytest
from click.testing import CliRunner
from conftest import make_candles

from cryptocast.cli import main

COMMANDS = [[], ["data"], ["data", "check"], ["data", "fetch"], ["evaluate"], ["forecast"]]


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
    params.write_text("data:\n  intervals: [1d]\n")
    result = CliRunner().invoke(
        main, ["data", "check", "--params", str(params), "--source-dir", str(tmp_path)]
    )
    assert result.exit_code == 0, result.output
    assert "AAAUSDT" in result.output and "rows      30" in result.output
