"""Run the real pipeline end to end in a throwaway copy of the repo with a small profile (or,
without overrides, the default one: `make stage-minutes` times every stage of it).

The copy holds the repo's files (tracked and untracked-but-not-ignored), params.yaml merged with
the overrides file, data.source_dir made absolute, and a DVC repo without git or lock file.
`dvc repro` then runs every stage there; the script fails if any stage fails, a metrics file
is missing, or a stage reads a param that its dvc.yaml entry does not list (or lists one it
never reads).
With --timings it writes each stage's seconds (JSON).
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import time
from pathlib import Path

import click
import yaml

from cryptocast.config import TRACE_ENV, load_params, merge_params
from cryptocast.io import read_json, write_json

RUNNING = re.compile(r"Running stage '([^']+)'")


def covered(path: str, declared: list[str]) -> bool:
    return any(path == d or path.startswith(f"{d}.") for d in declared)


def params_mismatches(dest: Path, traces: Path) -> list[str]:
    """Per stage, the params it read that dvc.yaml does not list, and those it lists but
    never read (a declared section counts as read when any key under it was)."""
    from dvc.dependency.param import ParamsDependency
    from dvc.repo import Repo

    reads: dict[tuple[str, ...], set[str]] = {}
    opened: dict[tuple[str, ...], set[str]] = {}
    for trace in traces.glob("*.json"):
        doc = read_json(trace)
        reads.setdefault(tuple(doc["argv"]), set()).update(doc["reads"])
        opened.setdefault(tuple(doc["argv"]), set()).update(doc["opened"])
    repo = Repo(str(dest))
    problems = []
    try:
        for stage in repo.index.stages:
            declared = [p for d in stage.deps if isinstance(d, ParamsDependency)
                        for p in d.params]
            argv = tuple(shlex.split(stage.cmd)[1:])
            read, seen = reads.get(argv, set()), reads.get(argv, set()) | opened.get(argv, set())
            extra = sorted(r for r in read if not covered(r, declared))
            unused = sorted(d for d in declared if not any(covered(r, [d]) for r in seen))
            if extra or unused:
                problems.append(f"{stage.addressing}: reads {extra} not in dvc.yaml; "
                                f"lists {unused} but never reads them")
    finally:
        repo.close()
    return problems


def copy_repo(dest: Path) -> None:
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split("\0")
    for name in filter(None, listed):
        if Path(name).is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(name, dest / name)


def repro_timed(dest: Path, env: dict[str, str]) -> dict[str, float]:
    """Run `dvc repro` in `dest`, echoing its output; each stage that ran -> its seconds (from
    its "Running stage" line to the next one, or to the end)."""
    seconds: dict[str, float] = {}
    current, started = None, time.perf_counter()
    with subprocess.Popen(["dvc", "repro"], cwd=dest, env=env, stdout=subprocess.PIPE,
                          text=True, bufsize=1) as proc:
        for line in proc.stdout:
            click.echo(line, nl=False)
            match = RUNNING.match(line)
            if match:
                now = time.perf_counter()
                if current:
                    seconds[current] = now - started
                current, started = match.group(1), now
    if proc.returncode:
        raise click.ClickException(f"dvc repro failed in {dest} (exit {proc.returncode})")
    if current:
        seconds[current] = time.perf_counter() - started
    return seconds


def check_outputs(dest: Path, params: dict) -> None:
    """Fail naming the outputs a run must leave in `dest` that are missing, or a production
    record whose horizon is not `eval.horizon`."""
    expected = [f"metrics/baseline/{s}.json" for s in params["symbols"]]
    expected += [f"metrics/pretrain/{family}{suffix}.json" for family in ("toto", "kronos")
                 for suffix in ("", "_validation")]
    expected += [f"metrics/{stage}/{s}.json"
                 for stage in ("improved", "pool", "sweep", "resweep", "ensemble")
                 for s in params["sweep"]["symbols"]]
    expected += ["metrics/finetune/toto.json", "metrics/finetune/kronos.json", "metrics/panel.json"]
    expected += ["metrics/best.json"] + [f"hyperparams/best/{s}.json" for s in params["symbols"]]
    expected += ["reports/report.md", "reports/report.html"]
    missing = [name for name in expected if not (dest / name).exists()]
    if missing:
        raise click.ClickException(f"smoke run finished without {missing}")
    horizon = params["eval"]["horizon"]
    for symbol in params["symbols"]:
        recorded = read_json(dest / f"hyperparams/best/{symbol}.json")
        if recorded["windows"]["horizon"] != horizon:
            raise click.ClickException(f"hyperparams/best/{symbol}.json: horizon "
                                       f"{recorded['windows']['horizon']}, params {horizon}")


@click.command()
@click.option("--overrides", type=click.Path(exists=True, dir_okay=False), multiple=True,
              help="A params file merged over params.yaml, repeatable (merged in order; none: "
                   "the default profile).")
@click.option("--dest", type=click.Path(file_okay=False), default="build/smoke", show_default=True)
@click.option("--timings", type=click.Path(dir_okay=False),
              help="Write each stage's seconds and the total here (JSON).")
def main(overrides: tuple[str, ...], dest: str, timings: str | None) -> None:
    """Copy the repo to DEST, apply the OVERRIDES files to params.yaml in order and run
    `dvc repro` there."""
    dest_path = Path(dest)
    shutil.rmtree(dest_path, ignore_errors=True)
    dest_path.mkdir(parents=True)
    copy_repo(dest_path)
    (dest_path / "dvc.lock").unlink(missing_ok=True)  # from scratch: no stage counts as done
    params = load_params("params.yaml")
    for path in overrides:
        params = merge_params(params, load_params(path))
    params["data"]["source_dir"] = str(Path(params["data"]["source_dir"]).resolve())
    (dest_path / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    (dest_path / ".dvc" / "config.local").write_text("[core]\n    no_scm = true\n")
    traces = (dest_path / "build" / "params-reads").resolve()
    started = time.perf_counter()
    seconds = repro_timed(dest_path, {**os.environ, TRACE_ENV: str(traces)})
    if timings:
        write_json(Path(timings), {"profile": list(overrides) or "params.yaml",
                                   "cpus": os.cpu_count(), "date": time.strftime("%Y-%m-%d"),
                                   "total_seconds": time.perf_counter() - started,
                                   "stage_seconds": seconds})
    problems = params_mismatches(dest_path, traces)
    if problems:
        raise click.ClickException("params read vs dvc.yaml:\n" + "\n".join(problems))
    check_outputs(dest_path, params)
    for symbol in params["symbols"]:
        name = f"metrics/baseline/{symbol}.json"
        metrics = read_json(dest_path / name)
        for split, by_candidate in metrics.items():
            maes = ", ".join(f"{c} {m['pct_return_mae']:.4%}" for c, m in by_candidate.items())
            click.echo(f"{name} {split}: pct_return_mae {maes}")
    for symbol, best in read_json(dest_path / "metrics/best.json").items():
        test, naive = best["test_pct_return_mae"], best["test_naive_pct_return_mae"]
        click.echo(f"selected {symbol}: {best['chosen']} (test pct_return_mae {test:.4%}, "
                   f"naive {naive:.4%})")
    click.echo(f"smoke: pipeline ran end to end in {dest_path}")


if __name__ == "__main__":
    main()
