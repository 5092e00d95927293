"""DVC stage `report`: reports/report.md and a self-contained reports/report.html, with PNG
figures, from the metrics, hyperparams and plot files."""

from cryptocast.config import baselines_from_params, family_defaults, load_params
from cryptocast.report import build_report

if __name__ == "__main__":
    params = load_params()
    for path in build_report(baselines_from_params(params), family_defaults(params)):
        print(f"wrote {path}")
