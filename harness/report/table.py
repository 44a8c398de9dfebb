"""The matrix as a rich table, for a terminal or a plain CI log.

Colour is a bonus, never the message: a mismatch reads "✗ blocked ≠ pass" (two
lines in the grid, one line under "Mismatches:") and a stood-in cell says
"stood in", with its reason below, even where the console strips all styling.

The small helpers at the top (check order, mismatch test, trace one-liner,
deciding hop) are shared with the JUnit and HTML writers so that every
report says the same thing in the same words.
"""

from __future__ import annotations

import re

from rich.cells import cell_len
from rich.console import Console
from rich.table import Table
from rich.text import Text

from harness.models import CellResult, CheckResult, MatrixResult, TraceVerdict

MISMATCH_MARK = "✗"
NOT_RUN = "—"
STOOD_IN = "stood in"
NO_REASON = "(no reason recorded)"

_OUTCOME_STYLE = {"pass": "green", "blocked": "yellow"}


# -- shared helpers ---------------------------------------------------------
# Characters XML 1.0 cannot carry and HTML forbids: probe output may hold ANSI
# escapes or NULs. They are shown as visible "\x1b" instead.
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff\ufffe\uffff]")


def visible(text: str) -> str:
    """text with control characters (other than tab/newline/CR) made visible."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def check_names(result: MatrixResult) -> list[str]:
    """Every check name in the matrix, in first-seen order (the table's columns)."""
    seen: dict[str, None] = {}
    for cell in result.cells:
        for check in cell.checks:
            seen.setdefault(check.name, None)
    return list(seen)


def is_mismatch(result: MatrixResult, check: CheckResult) -> bool:
    """True when the run is judged, the check had an expectation, and it was not met."""
    return bool(result.judged) and check.expected is not None and check.expected != check.observed


def stood_in_reason(cell: CellResult) -> str:
    return cell.stood_in_reason.strip() or NO_REASON


def cell_traces(cell: CellResult) -> list[tuple[str, TraceVerdict]]:
    """(check name, trace) pairs for a cell: the checks' own traces, plus the
    cell-level trace when no check carries it (labelled with the first blocked
    check, or "cell")."""
    traces = [(c.name, c.trace) for c in cell.checks if c.trace is not None]
    if cell.trace is not None and all(t != cell.trace for _, t in traces):
        blocked = [c.name for c in cell.checks if c.observed == "blocked"]
        traces.insert(0, (blocked[0] if blocked else "cell", cell.trace))
    return traces


def trace_line(trace: TraceVerdict) -> str:
    """One line: 'REJECT in inet firewalld filter_FORWARD (rule: ...) [nft]'."""
    where = " ".join(p for p in (trace.family, trace.table, trace.chain) if p)
    line = f"{(trace.verdict or '?').upper()} in {where or '?'}"
    if trace.rule:
        line += f" (rule: {trace.rule})"
    if trace.tool:
        line += f" [{trace.tool}]"
    return line


def deciding_hop(trace: TraceVerdict) -> int | None:
    """Index of the hop in trace.path where the verdict fell ("table:chain"), or None."""
    target = f"{trace.table}:{trace.chain}"
    for i in range(len(trace.path) - 1, -1, -1):
        hop = trace.path[i].strip()
        if hop == target or hop.endswith(" " + target) or hop.endswith(":" + target):
            return i
    return None


def summary_line(result: MatrixResult) -> str:
    """'N/M cells match', or 'reproduce mode: not judged'."""
    if not result.judged:
        return "reproduce mode: not judged"
    good = sum(1 for c in result.cells if c.matches)
    return f"{good}/{len(result.cells)} cells match"


# -- the table --------------------------------------------------------------
def _entry(result: MatrixResult, check: CheckResult | None, sep: str = "\n") -> Text:
    if check is None:
        return Text(NOT_RUN, style="dim")
    if is_mismatch(result, check):
        # In the grid, two short lines keep the column narrow ("Mismatches:" below
        # repeats it on one line).
        text = f"{MISMATCH_MARK} {check.observed}{sep}≠ {check.expected}"
        return Text(text, style="bold red")
    text = Text(check.observed, style=_OUTCOME_STYLE.get(check.observed, ""))
    if check.trace is not None:
        text.append(" †", style="cyan")
    return text


def _verdict(result: MatrixResult, cell: CellResult) -> Text:
    if cell.error:
        return Text(f"{MISMATCH_MARK} error", style="bold red")
    if not result.judged:
        return Text(NOT_RUN, style="dim")
    if cell.matches:
        return Text("✓ match", style="green")
    return Text(f"{MISMATCH_MARK} mismatch", style="bold red")


class _Para:
    """A paragraph whose wrapped continuation lines keep its indent, without the
    trailing blanks rich.padding.Padding would add to every line."""

    def __init__(self, text: str, style: str = "", indent: int = 2) -> None:
        self.text, self.style, self.indent = text, style, indent

    def lines(self, console: Console) -> list[Text]:
        width = max(20, console.width - self.indent)
        wrapped = Text(self.text, style=self.style).wrap(console, width)
        return [Text(" " * self.indent) + line for line in wrapped]


def _line(text: str, style: str = "", indent: int = 2) -> _Para:
    return _Para(text, style, indent)


def _grid(result: MatrixResult, names: list[str]) -> tuple[str, Table, int]:
    """Title, the cells x checks table, and the narrowest width it fits in without
    folding any entry (headers may wrap)."""
    # The provider gets a column when cells differ from the run's provider;
    # otherwise it is in the title and the columns stay wide enough for CI logs.
    per_cell_provider = any(c.provider != result.provider for c in result.cells)
    mode = "judged" if result.judged else "reproduce mode"
    title = f"fwlab {result.lab} — provider {result.provider} — {mode}"
    if result.seconds:
        title += f" — {result.seconds:.1f}s"

    # (header, is a check column)
    header = [("cell", False)] + ([("provider", False)] if per_cell_provider else [])
    header += [(STOOD_IN, False)] + [(n, True) for n in names] + [("result", False)]
    rows = []
    for cell in result.cells:
        by_name = {c.name: c for c in cell.checks}
        row = [Text(cell.cell.id)]
        if per_cell_provider:
            row.append(Text(cell.provider))
        row.append(Text(STOOD_IN, style="bold magenta") if cell.stood_in else Text(""))
        row += [_entry(result, by_name.get(name)) for name in names]
        row.append(_verdict(result, cell))
        rows.append(row)

    widths = []
    for i, (head, _) in enumerate(header):
        entry = max((cell_len(line) for r in rows for line in r[i].plain.split("\n")), default=0)
        widths.append(max(entry, min(cell_len(head), 8)))

    table = Table(header_style="bold")
    for i, (head, is_check) in enumerate(header):
        if i == 0:
            table.add_column(head, style="bold", no_wrap=True, min_width=widths[i])
        elif is_check:
            table.add_column(head, justify="center", overflow="fold", min_width=widths[i])
        else:
            table.add_column(head, overflow="fold", min_width=widths[i])
    for row in rows:
        table.add_row(*row)
    needed = sum(widths) + 3 * len(widths) + 1  # padding 1+1 and one border per column
    return title, table, needed


def _cards(result: MatrixResult, names: list[str], print_) -> None:
    """The narrow-console layout: one block per cell, one line per check."""
    mode = "judged" if result.judged else "reproduce mode"
    print_(_line(f"fwlab {result.lab} — provider {result.provider} — {mode}", "bold", 0))
    pad = max((cell_len(n) for n in names), default=0)
    for cell in result.cells:
        head = Text(cell.cell.id, style="bold")
        if cell.provider != result.provider:
            head.append(f"  ({cell.provider})")
        if cell.stood_in:
            head.append("  ")
            head.append(STOOD_IN, style="bold magenta")
        head.append("  ")
        head.append_text(_verdict(result, cell))
        print_(head)
        if not cell.checks:
            print_(
                Text("  no checks ran" + (" (infrastructure error below)" if cell.error else ""))
            )
            continue
        by_name = {c.name: c for c in cell.checks}
        for name in names:
            line = Text(f"  {name.ljust(pad)}  ")
            line.append_text(_entry(result, by_name.get(name), sep=" "))
            print_(line)


def render_table(result: MatrixResult, console: Console) -> None:
    """Print the matrix and, below it, legend, stood-in reasons, mismatches, traces,
    infrastructure errors and the summary line.

    On a console too narrow for the grid (a CI log at 80 columns), the matrix is
    printed as one block per cell with one line per check instead."""
    names = check_names(result)
    title, table, needed = _grid(result, names)
    print_ = _printer(console)
    if needed <= console.width:
        print_(_line(title, "bold", 0))
        print_(table)
    else:
        _cards(result, names, print_)

    legend = "legend: pass / blocked = observed outcome; "
    if result.judged:
        legend += f"{MISMATCH_MARK} observed ≠ expected = mismatch; "
    legend += f"† packet trace below; {NOT_RUN} not run; "
    legend += "stood in = a substitute plays this cell, reason below"
    print_(_line(legend, "dim", 0))

    stood = [c for c in result.cells if c.stood_in]
    if stood:
        print_(Text("Stood in:", style="bold magenta"))
        for cell in stood:
            print_(_line(f"{cell.cell.id}: {STOOD_IN} — {stood_in_reason(cell)}"))

    mismatches = [(cell, c) for cell in result.cells for c in cell.checks if is_mismatch(result, c)]
    if mismatches:
        print_(Text("Mismatches:", style="bold red"))
        for cell, check in mismatches:
            line = f"{MISMATCH_MARK} {cell.cell.id} {check.name}: expected {check.expected}, "
            line += f"observed {check.observed}"
            if check.detail:
                line += f": {_one_line(check.detail)}"
            print_(_line(line, "red"))

    traced = [(c, cell_traces(c)) for c in result.cells]
    traced = [(c, t) for c, t in traced if t]
    if traced:
        print_(Text("Traces:", style="bold cyan"))
        for cell, traces in traced:
            for name, trace in traces:
                print_(_line(f"{cell.cell.id} {name}: {trace_line(trace)}"))
                if trace.diagnosis:
                    print_(_line(f"diagnosis: {trace.diagnosis}", "italic", 6))
                for warning in trace.warnings:
                    print_(_line(f"warning: {warning}", "yellow", 6))

    errored = [c for c in result.cells if c.error]
    if errored:
        print_(Text("Infrastructure errors:", style="bold red"))
        for cell in errored:
            print_(_line(f"{cell.cell.id}: {cell.error.strip()}"))

    if result.judged:
        style = "bold green" if result.matches else "bold red"
    else:
        style = "bold"
    print_(Text(summary_line(result), style=style))


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _printer(console: Console):
    def print_(renderable) -> None:
        if isinstance(renderable, _Para):
            for line in renderable.lines(console):
                line.rstrip()
                console.print(line, highlight=False, markup=False, emoji=False)
            return
        console.print(renderable, highlight=False, markup=False, emoji=False)

    return print_
