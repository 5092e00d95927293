"""The human-readable report: tables and figures from the metrics files."""

from cryptocast.report.build import build_panel_report, build_report
from cryptocast.report.tables import SUMMARY_COLUMNS, markdown_table, summary_rows, symbol_reports

__all__ = ["SUMMARY_COLUMNS", "build_panel_report", "build_report", "markdown_table",
           "summary_rows", "symbol_reports"]
