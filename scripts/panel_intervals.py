"""The panel on another candle interval beside eval.interval's (params `panel.intervals`), run
once in a throwaway copy of the repo that checks the pipeline's outputs out of the workspace's
DVC cache: only the `panel` stage runs there, and eval.interval's symbols are reused by
fingerprint. The interval's panel section goes to docs/panel-<interval>/ (README.md, the
heatmap and the pooled results)."""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import click
import yaml
from smoke import copy_repo

from cryptocast.config import load_params
from cryptocast.io import read_json, write_json
from cryptocast.report import build_panel_report


def dvc(dest: Path, *args: str) -> None:
    if subprocess.run(["dvc", *args], cwd=dest).returncode:
        raise click.ClickException(f"dvc {' '.join(args)} failed in {dest}")


@click.command()
@click.option("--interval", default="4h", show_default=True, help="The other candle interval.")
@click.option("--dest", default="build/panel-intervals", show_default=True,
              type=click.Path(file_okay=False), help="The throwaway copy.")
def main(interval: str, dest: str) -> None:
    """Run the panel at eval.interval and INTERVAL; write docs/panel-INTERVAL/."""
    dest_path = Path(dest)
    shutil.rmtree(dest_path, ignore_errors=True)
    dest_path.mkdir(parents=True)
    copy_repo(dest_path)
    cache = Path(".dvc/cache").resolve()
    (dest_path / ".dvc" / "config.local").write_text(
        f"[core]\n    no_scm = true\n[cache]\n    dir = {cache}\n")
    params = load_params("params.yaml")
    params["data"]["source_dir"] = str(Path(params["data"]["source_dir"]).resolve())
    params["panel"]["intervals"] = [params["eval"]["interval"], interval]
    dvc(dest_path, "checkout", "--quiet")
    (dest_path / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    dvc(dest_path, "repro", "--single-item", "panel")
    doc = read_json(dest_path / "metrics" / "panel.json")["other_intervals"][interval]
    out = Path("docs") / f"panel-{interval}"
    shutil.rmtree(out, ignore_errors=True)
    write_json(out / "panel.json", doc)
    intro = (f"Written by `python scripts/panel_intervals.py --interval {interval}` on "
             f"{time.strftime('%Y-%m-%d')} (the panel stage at eval.interval and {interval}, "
             "the pipeline's checkpoints); the pooled results are in `panel.json`.")
    click.echo(f"wrote {build_panel_report(doc, interval, out, intro)}")


if __name__ == "__main__":
    main()
