"""The matrix as Markdown: a summary that fits a CI job summary ($GITHUB_STEP_SUMMARY,
a GitLab MR note): the grid, then what did not go as expected."""

from __future__ import annotations

from pathlib import Path

from harness.models import MatrixResult
from harness.report.common import check_names, entry, mismatch_text, summary_line
from harness.report.json_report import PathLike, atomic_write


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_markdown(result: MatrixResult) -> str:
    names = check_names(result)
    lines = [f"## fwlab {result.lab}: {summary_line(result)}", ""]
    lines.append(
        f"Provider `{result.provider}`"
        + (f", {result.seconds:.0f} s" if result.seconds else "")
        + "."
    )
    lines.append("")
    lines.append("| cell | " + " | ".join(names) + " | cell |")
    lines.append("|---|" + "---|" * (len(names) + 1))
    for cell in result.cells:
        row = [f"`{cell.cell.label}`" + (" (stood in)" if cell.stood_in else "")]
        for name in names:
            found = next((c for c in cell.checks if c.name == name), None)
            row.append(entry(found))
        row.append(f"**{cell.judgement}**")
        lines.append("| " + " | ".join(_cell(r) for r in row) + " |")
    lines += ["", "✓ as expected, ✗ not as expected, · not judged, ! could not run.", ""]
    problems = []
    for cell in result.cells:
        if cell.error:
            problems.append(f"- `{cell.cell.label}`: error: {_cell(cell.error.splitlines()[0])}")
        for check in cell.checks:
            if check.judgement == "mismatch":
                problems.append(f"- `{cell.cell.label}`: {_cell(mismatch_text(check))}")
            elif check.judgement == "error":
                problems.append(
                    f"- `{cell.cell.label}`: {check.name} could not run: {_cell(check.detail)}"
                )
    if problems:
        lines += ["### Not as expected", "", *problems, ""]
    stood = sorted({line for cell in result.cells for line in cell.stand_ins})
    if stood:
        lines += ["### Stood in", "", *[f"- {_cell(s)}" for s in stood], ""]
    return "\n".join(lines)


def write_markdown(result: MatrixResult, path: PathLike) -> Path:
    """Write (or, for $GITHUB_STEP_SUMMARY, append to) a Markdown summary."""
    text = render_markdown(result)
    if str(path) != "-" and Path(path).exists() and Path(path).stat().st_size:
        with open(path, "a", encoding="utf-8") as f:  # a job summary collects several
            f.write("\n" + text)
        return Path(path)
    return atomic_write(path, text.encode("utf-8"))
