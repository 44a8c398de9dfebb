"""The matrix in a terminal or a CI log: a grid of checks x cells that fits 100 columns
(more cells: more grids), then the details of every cell below it.

Colour is a bonus, never the message: every entry carries its mark (✓ match, ✗ mismatch,
· not judged, ! error) and the reason ("rejected", "timeout", "dns"), and a stood-in
layer says "STOOD IN" in words.
"""

from __future__ import annotations

from rich.console import Console
from rich.table import Table
from rich.text import Text

from harness.models import CellResult, MatrixResult
from harness.report.common import (
    NOT_RUN,
    check_names,
    decision_text,
    entry,
    fidelity_lines,
    mismatch_text,
    summary_line,
)

GRID_WIDTH = 100
_STYLE = {"✓": "green", "✗": "bold red", "·": "yellow", "!": "bold red"}
_JUDGEMENT_STYLE = {"match": "green", "mismatch": "bold red", "error": "bold red"}


def _grids(result: MatrixResult, names: list[str]) -> list[Table]:
    """Grids of at most as many cells as fit GRID_WIDTH columns."""
    first = max([len("check")] + [len(n) for n in names]) + 3
    column = (
        max(
            [len(f"C{len(result.cells)}")]
            + [len(entry(c)) for cell in result.cells for c in cell.checks]
            + [9]
        )
        + 3
    )
    per_grid = max(1, (GRID_WIDTH - first - 1) // column)
    grids = []
    for start in range(0, len(result.cells), per_grid):
        cells = list(enumerate(result.cells))[start : start + per_grid]
        table = Table(header_style="bold", pad_edge=False, box=None, show_edge=False)
        table.add_column("check", no_wrap=True)
        for i, _cell in cells:
            table.add_column(f"C{i + 1}", no_wrap=True)
        for name in names:
            row = [Text(name)]
            for _i, cell in cells:
                found = next((c for c in cell.checks if c.name == name), None)
                text = entry(found) if found or not cell.error else "! error"
                row.append(Text(text, style=_STYLE.get(text[:1], "dim" if text == NOT_RUN else "")))
            table.add_row(*row)
        if not names:
            table.add_row(Text("(no checks ran)"), *[Text("! error") for _ in cells])
        verdicts = [
            Text(c.judgement, style=_JUDGEMENT_STYLE.get(c.judgement, "")) for _i, c in cells
        ]
        table.add_row(Text("cell", style="bold"), *verdicts)
        grids.append(table)
    return grids


def render_table(result: MatrixResult, console: Console) -> None:
    """The grid(s), the legend, then each cell's details and the summary line."""
    names = check_names(result)
    mode = "judged" if result.judged else "reproduce mode (not judged)"
    took = f" — {result.seconds:.1f} s" if result.seconds else ""
    console.print(
        Text(f"fwlab {result.lab} — provider {result.provider} — {mode}{took}", style="bold")
    )
    for i, cell in enumerate(result.cells, start=1):
        stood = "  [stood in]" if cell.stood_in else ""
        console.print(Text(f"  C{i}  {cell.cell.label}{stood}"))
    for grid in _grids(result, names):
        console.print(grid)
    console.print(
        Text(
            "✓ as expected  ✗ not as expected  · not judged  ! could not run; "
            "entries: pass, or why blocked (rejected: the network answered with an error; "
            "timeout: no answer; dns: the name did not resolve)",
            style="dim",
        )
    )
    for i, cell in enumerate(result.cells, start=1):
        _details(console, f"C{i}", cell)
    style = _JUDGEMENT_STYLE.get(result.judgement, "bold") if result.judged else "bold"
    console.print(Text(summary_line(result), style=style))


def _details(console: Console, label: str, cell: CellResult) -> None:
    head = Text(f"{label} {cell.cell.label}: ", style="bold")
    head.append(cell.judgement, style=_JUDGEMENT_STYLE.get(cell.judgement, ""))
    console.print(head)
    for line in fidelity_lines(cell):
        console.print(Text(f"    {line}", style="magenta" if "STOOD IN" in line else ""))
    if cell.versions:
        versions = ", ".join(f"{k} {v}" for k, v in cell.versions.items())
        console.print(Text(f"    versions: {versions}", style="dim"))
    if cell.error:
        console.print(Text(f"    error: {cell.error}", style="red"))
    for check in cell.checks:
        if check.judgement == "mismatch":
            console.print(Text(f"    ✗ {mismatch_text(check)}", style="red"))
        elif check.judgement == "error":
            console.print(Text(f"    ! {check.name} could not run: {check.detail}", style="red"))
    for check in cell.checks:
        if check.outcome == "blocked" or check.trace is not None and check.judgement == "mismatch":
            where = decision_text(check.trace) if check.trace else "no packet traced"
            console.print(Text(f"    {check.name}: {check.detail} — {where}"))
            if check.trace is not None and check.trace.diagnosis and check.trace.final:
                console.print(Text(f"      {check.trace.diagnosis}", style="italic dim"))
