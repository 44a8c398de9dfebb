"""The matrix as one self-contained HTML page (Jinja2, autoescaped; inline CSS, no
scripts, no assets).

Stable hooks for tests and for readers who link into a report:

- ``#summary``: lab, provider, mode, the summary line;
- ``#matrix``: the grid, one ``tr.check`` per check, one ``td.entry`` per cell
  (classes: the outcome, and the judgement ``match|mismatch|not-judged|error``);
- ``#cells``: one ``section.cell`` per cell: ``ul.fidelity`` (``li.stood-in`` for a
  layer that stands in), versions, errors and mismatches;
- ``#traces``: one ``section.trace`` per traced check: ``ol.trace-path`` of ``li.hop``,
  the deciding hop ``li.hop.deciding`` (the real one the trace reader chose);
- ``#diffs``: for each check blocked in one cell and passing in another, where the two
  packets' paths part (``section.diff``, ``ul.only-a``/``ul.only-b``).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape

from harness.models import CellResult, CheckResult, MatrixResult
from harness.report.common import (
    check_names,
    decision_text,
    entry,
    mismatch_text,
    observed,
    summary_line,
    visible,
)
from harness.report.json_report import PathLike, atomic_write
from harness.trace.diff import diff

_env = Environment(
    loader=FileSystemLoader(Path(__file__).with_name("templates")),
    autoescape=select_autoescape(["html", "j2"], default=True),
    trim_blocks=True,
    lstrip_blocks=True,
)
_env.filters["visible"] = visible


def anchor(*parts: str) -> str:
    return "-".join(re.sub(r"[^A-Za-z0-9_]+", "-", p).strip("-") for p in parts)


def _diffs(result: MatrixResult) -> list[dict[str, Any]]:
    """Each check that is blocked in one cell and passes in another, both traced."""
    found = []
    for name in check_names(result):
        by_cell = [(cell, c) for cell in result.cells for c in cell.checks if c.name == name]
        blocked = [(cell, c) for cell, c in by_cell if c.outcome == "blocked" and c.trace]
        passed = [(cell, c) for cell, c in by_cell if c.outcome == "pass" and c.trace]
        if blocked and passed:
            (cell_a, a), (cell_b, b) = blocked[0], passed[0]
            assert a.trace is not None and b.trace is not None
            found.append({"check": name, "a": cell_a, "b": cell_b, "diff": diff(a.trace, b.trace)})
    return found


def render_html(result: MatrixResult) -> str:
    template = _env.get_template("matrix.html.j2")
    names = check_names(result)

    def find(cell: CellResult, name: str) -> CheckResult | None:
        return next((c for c in cell.checks if c.name == name), None)

    return template.render(
        result=result,
        names=names,
        find=find,
        entry=entry,
        observed=observed,
        summary=summary_line(result),
        mismatch_text=mismatch_text,
        decision_text=decision_text,
        anchor=anchor,
        diffs=_diffs(result),
    )


def write_html(result: MatrixResult, path: PathLike) -> Path:
    return atomic_write(path, render_html(result).encode("utf-8"))
