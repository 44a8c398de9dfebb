"""Reports of a matrix run: the terminal grid, JSON (with its JSON Schema), JUnit XML, one
HTML page and a Markdown summary. All render the same models (harness.models), in the
same words (common.py)."""

from harness.report.html import write_html
from harness.report.json_report import load_json, write_json
from harness.report.junit import write_junit
from harness.report.markdown import write_markdown
from harness.report.table import render_table

__all__ = ["load_json", "render_table", "write_html", "write_json", "write_junit", "write_markdown"]
