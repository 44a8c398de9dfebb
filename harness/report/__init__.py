"""Reports of a matrix run: a rich table, JSON, JUnit XML and one HTML page.

Every report says "stood in", with the reason, for every stood-in cell.
"""

from harness.report.html import write_html
from harness.report.json_report import load_json, write_json
from harness.report.junit import write_junit
from harness.report.table import render_table

__all__ = ["load_json", "render_table", "write_html", "write_json", "write_junit"]
