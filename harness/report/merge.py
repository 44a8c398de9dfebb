"""Merge per-cell JSON reports (one CI job per cell) into one matrix.

A duplicate cell, a cell of another lab, a report of another format version or of another
mode (judged, reproduce) is bad input. A cell the lab expects but no report holds is
merged as that cell's error ("no report"), so the merged matrix says which one is missing
and exits 2.
"""

from __future__ import annotations

from pathlib import Path

from harness.errors import UsageError
from harness.labs import Lab
from harness.models import CellResult, MatrixResult
from harness.report.json_report import load_json

MISSING = "no report for this cell: its job did not run, or its report was lost"


def merge(files: list[Path], lab: Lab, cell_filters: list[str]) -> tuple[MatrixResult, list[str]]:
    """The merged matrix, in the lab's cell order, and the labels of cells with no report."""
    if not files:
        raise UsageError("no reports to merge")
    loaded = [(path, load_json(path)) for path in files]
    first = loaded[0][1]
    seen: dict[str, Path] = {}
    cells: dict[str, CellResult] = {}
    for path, result in loaded:
        if result.lab != lab.name:
            raise UsageError(f"{path}: a report of lab {result.lab!r}, not {lab.name!r}")
        if result.judged != first.judged:
            raise UsageError(f"{path}: judged and reproduce-mode reports do not merge")
        for cell in result.cells:
            if cell.cell.id in seen:
                raise UsageError(
                    f"duplicate cell {cell.cell.label} in {seen[cell.cell.id]} and {path}"
                )
            seen[cell.cell.id] = path
            cells[cell.cell.id] = cell
    wanted = lab.select(cell_filters)
    missing = [s.cell.label for s in wanted if s.cell.id not in cells]
    ordered = [cells.pop(s.cell.id, None) or _missing(s, first.provider) for s in wanted]
    if cells:  # reports of cells the lab file does not list (another lab file, filters)
        extra = ", ".join(c.cell.label for c in cells.values())
        raise UsageError(f"reports hold cells that {lab.path.name} does not select: {extra}")
    providers = {c.provider for c in ordered}
    merged = MatrixResult(
        lab=lab.name,
        provider=providers.pop() if len(providers) == 1 else "mixed",
        cells=ordered,
        judged=first.judged,
        seconds=max(r.seconds for _p, r in loaded),
    )
    return merged, missing


def _missing(spec: object, provider: str) -> CellResult:
    return CellResult(cell=spec.cell, provider=provider, error=MISSING, why=spec.why)  # type: ignore[attr-defined]
