"""One report, two renderings: reports/report.md (figures beside it) and a self-contained
reports/report.html (figures embedded), both from the same blocks."""

from __future__ import annotations

import base64
import html
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from cryptocast import layout
from cryptocast.config import BaselineSpec
from cryptocast.forecast.registry import FAMILIES
from cryptocast.io import read_json, write_atomic
from cryptocast.report import figures
from cryptocast.report.tables import (
    COLUMNS,
    FINETUNE_COLUMNS,
    PANEL_COLUMNS,
    RISK_COLUMNS,
    SUMMARY_COLUMNS,
    SymbolReport,
    candidate_row,
    finetune_table,
    finetune_text,
    markdown_table,
    panel_rows,
    panel_sweep_text,
    panel_verdicts,
    risk_rows,
    risk_text,
    scope_text,
    selection_text,
    summary_rows,
    symbol_reports,
)


@dataclass(frozen=True)
class Block:
    kind: str  # heading | text | bullets | table | figure
    content: Any


def _report_blocks(baselines: Mapping[str, BaselineSpec],
                   defaults: Mapping[str, Mapping[str, Any]], root: Path, figures_dir: Path
                   ) -> list[Block]:
    reports = symbol_reports(baselines, defaults, root)
    blocks = [Block("heading", (1, "cryptocast: which configuration to run, and what helped")),
              Block("text", scope_text(read_json(root / layout.record(
                  "best", reports[0].symbol))["windows"])),
              Block("table", (SUMMARY_COLUMNS, summary_rows(reports)))]
    for r in reports:
        forecasts = pd.read_csv(root / layout.FORECAST_PLOTS / f"{r.symbol}.csv")
        history = pd.read_csv(root / layout.plots("sweep", r.symbol))
        blocks += [
            Block("heading", (2, r.symbol)),
            Block("text", selection_text(r.best)),
            Block("heading", (3, "Plan items")),
            Block("bullets", r.verdicts),
            Block("heading", (3, "Every candidate (test split unless marked val)")),
            Block("table", (COLUMNS, [candidate_row(c) for c in r.candidates])),
            Block("figure", figures.forecast_vs_actual(
                forecasts, r.symbol, r.best["chosen"], figures_dir / f"{r.symbol}_forecast.png")),
            Block("figure", figures.mae_by_candidate(r, figures_dir / f"{r.symbol}_mae.png")),
            Block("figure", figures.pit_histogram(forecasts, r.symbol, r.best["chosen"],
                                                  figures_dir / f"{r.symbol}_pit.png")),
            Block("figure", figures.sweep_history(history, r.symbol,
                                                  figures_dir / f"{r.symbol}_sweep.png")),
        ]
        if "risk" in r.best:
            blocks += _risk_blocks(r, root, figures_dir)
    if (root / layout.PANEL_METRICS).exists():
        panel = read_json(root / layout.PANEL_METRICS)
        blocks += panel_blocks(panel, figures_dir)
        for interval, other in panel.get("other_intervals", {}).items():
            blocks += panel_blocks(other, figures_dir, interval)
    if (root / layout.PANEL_SWEEP_METRICS).exists():
        blocks.append(Block("text", panel_sweep_text(read_json(root /
                                                               layout.PANEL_SWEEP_METRICS))))
    blocks += [Block("heading", (2, "Fine-tuning"))]
    for family in FAMILIES:
        path = root / layout.metrics("finetune", family)
        if not path.exists():
            continue
        doc = read_json(path)
        blocks.append(Block("bullets", finetune_text(family, doc)))
        for search in doc["searches"].values():
            blocks.append(Block("table", (FINETUNE_COLUMNS, finetune_table(search))))
        blocks.append(Block("figure", figures.finetune_curves(
            root / layout.plots("finetune", family, ""), family,
            figures_dir / f"finetune_{family}.png")))
    curves = {f: root / layout.plots("pretrain", f, "") for f in FAMILIES}
    blocks += [Block("heading", (2, "Pretraining")),
               Block("figure", figures.training_curves(curves["toto"], curves["kronos"],
                                                       figures_dir / "training.png"))]
    return blocks


def _risk_blocks(r: SymbolReport, root: Path, figures_dir: Path) -> list[Block]:
    """The risk objective of one symbol: its selection, every distribution's CRPS, coverage
    and VaR backtests, and the figures of calibration and VaR exceedances."""
    risk = r.best["risk"]
    forecasts = pd.read_csv(root / layout.FORECAST_PLOTS / f"{r.symbol}_risk.csv")
    shown = {risk["chosen"], "naive_gaussian", "garch"}
    ranked = sorted((c for c in r.candidates if c.name in risk["test_vs_benchmarks"]),
                    key=lambda c: c.validation["crps"])
    lines = [c for c in ranked if c.name in shown] + [c for c in ranked
                                                      if c.name not in shown][:3]
    return [
        Block("heading", (3, "Risk: distributions, intervals and VaR")),
        Block("text", risk_text(risk)),
        Block("table", (RISK_COLUMNS, risk_rows(r.candidates, risk))),
        Block("figure", figures.reliability(lines, r.symbol,
                                            figures_dir / f"{r.symbol}_reliability.png")),
        Block("figure", figures.var_exceedances(forecasts, r.symbol, risk["chosen"],
                                                figures_dir / f"{r.symbol}_var.png")),
        Block("figure", figures.pit_histogram(forecasts, r.symbol, risk["chosen"],
                                              figures_dir / f"{r.symbol}_risk_pit.png")),
    ]


def panel_blocks(panel: Mapping[str, Any], figures_dir: Path, interval: str | None = None
                 ) -> list[Block]:
    """The panel section of one interval's results (None: eval.interval's, the main panel)."""
    excluded = "; ".join(f"{s}: {why}" for s, why in panel["excluded"].items()) or "none"
    on = f" on {interval} candles" if interval else ""
    figure = f"panel_skill_{interval}.png" if interval else "panel_skill.png"
    windows = next(iter(panel["test"]["leaderboard"].values()))["mae"]["windows"]
    return [
        Block("heading", (2, f"Panel{on}: {len(panel['symbols'])} symbols")),
        Block("text", "Every candidate on every symbol, the same dates "
                      f"({windows} test windows per symbol). Relative scores are "
                      "geometric means over symbols; intervals resample the same time blocks "
                      f"for all symbols. Left out: {excluded}."),
        Block("heading", (3, f"Leaderboard{on} (test)")),
        Block("table", (PANEL_COLUMNS, panel_rows(panel["test"]))),
        Block("heading", (3, f"Leaderboard{on} (validation)")),
        Block("table", (PANEL_COLUMNS, panel_rows(panel["validation"]))),
        Block("heading", (3, f"The plan's items on the panel{on}")),
        Block("bullets", panel_verdicts(panel)),
        Block("figure", figures.skill_heatmap(panel["test"]["skill_vs_naive"], "test",
                                              figures_dir / figure)),
    ]


def _markdown(blocks: list[Block], base: Path) -> str:
    out = []
    for b in blocks:
        if b.kind == "heading":
            out.append("#" * b.content[0] + " " + b.content[1])
        elif b.kind == "text":
            out.append(b.content)
        elif b.kind == "bullets":
            out.append("\n".join(f"- {line}" for line in b.content))
        elif b.kind == "table":
            out.append(markdown_table(*b.content))
        else:
            out.append(f"![{b.content.stem}]({b.content.relative_to(base).as_posix()})")
    return "\n\n".join(out) + "\n"


def _inline(text: str) -> str:
    """Escaped text with **bold** kept."""
    parts = html.escape(text).split("**")
    return "".join(f"<b>{p}</b>" if i % 2 else p for i, p in enumerate(parts))


def _html(blocks: list[Block]) -> str:
    body = []
    for b in blocks:
        if b.kind == "heading":
            body.append(f"<h{b.content[0]}>{_inline(b.content[1])}</h{b.content[0]}>")
        elif b.kind == "text":
            body.append(f"<p>{_inline(b.content)}</p>")
        elif b.kind == "bullets":
            body.append("<ul>" + "".join(f"<li>{_inline(x)}</li>" for x in b.content) + "</ul>")
        elif b.kind == "table":
            header, rows = b.content
            head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
            cells = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row)
                            + "</tr>" for row in rows)
            body.append(f"<table><tr>{head}</tr>{cells}</table>")
        else:
            data = base64.b64encode(b.content.read_bytes()).decode()
            body.append(f'<p><img alt="{b.content.stem}" src="data:image/png;base64,{data}"></p>')
    style = ("body{font-family:sans-serif;max-width:1100px;margin:2em auto;color:#222}"
             "table{border-collapse:collapse;font-size:13px;margin:1em 0}"
             "td,th{border:1px solid #ccc;padding:3px 6px;text-align:right}"
             "td:first-child,th:first-child{text-align:left}img{max-width:100%}")
    return ("<!DOCTYPE html><html><head><meta charset='utf-8'><title>cryptocast report</title>"
            f"<style>{style}</style></head><body>{''.join(body)}</body></html>\n")


def build_report(baselines: Mapping[str, BaselineSpec],
                 defaults: Mapping[str, Mapping[str, Any]], root: str | Path = "."
                 ) -> tuple[Path, Path]:
    """Write reports/report.md, reports/report.html and reports/figures/*.png under `root`
    from the pipeline's files there, for the symbols selected (`baselines`: each symbol's
    params baseline; `defaults`: each family's default forecaster knobs)."""
    out_dir = Path(root) / layout.REPORTS
    blocks = _report_blocks(baselines, defaults, Path(root), out_dir / "figures")
    md_path, html_path = out_dir / "report.md", out_dir / "report.html"
    markdown = _markdown(blocks, out_dir)
    write_atomic(md_path, lambda tmp: tmp.write_text(markdown))
    page = _html(blocks)
    write_atomic(html_path, lambda tmp: tmp.write_text(page))
    return md_path, html_path


def build_panel_report(panel: Mapping[str, Any], interval: str, out_dir: str | Path,
                       intro: str = "") -> Path:
    """Write the panel section of one interval's results (`metrics/panel.json`'s
    other_intervals.<interval>) as out_dir/README.md after `intro`, its figure beside it."""
    out_dir = Path(out_dir)
    blocks = [Block("text", intro)] if intro else []
    markdown = _markdown(blocks + panel_blocks(panel, out_dir, interval), out_dir)
    path = out_dir / "README.md"
    write_atomic(path, lambda tmp: tmp.write_text(markdown))
    return path
