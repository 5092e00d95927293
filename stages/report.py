"""DVC stage `report`: reports/report.md and a self-contained reports/report.html, with PNG
figures, from the metrics, hyperparams and plot files."""

from cryptocast.config import load_params
from cryptocast.report import build_report

if __name__ == "__main__":
    for path in build_report(load_params(), "metrics", "hyperparams", "plots", "reports"):
        print(f"wrote {path}")
