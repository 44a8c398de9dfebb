"""Show a trace verdict in the terminal with rich."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape

from harness.models import TraceVerdict

from .diagnose import Analysis

_BLOCKING = ("drop", "reject")


def verdict_line(verdict: TraceVerdict) -> str:
    """One line, e.g. ``inet firewalld filter_FORWARD: drop (reject with icmpx type ...)``."""
    line = f"{verdict.family} {verdict.table} {verdict.chain}: {verdict.verdict or '?'}"
    if verdict.rule:
        line += f" ({verdict.rule})"
    return line


def verdict_style(verdict: TraceVerdict) -> str:
    """``red`` for drop/reject, ``green`` for accept, ``yellow`` for anything else."""
    if verdict.verdict in _BLOCKING:
        return "red"
    if verdict.verdict == "accept":
        return "green"
    return "yellow"


def render_path(verdict: TraceVerdict, console: Console) -> None:
    """Print the packet's path through the chains, the deciding hop highlighted, then the
    diagnosis and warnings."""
    style = verdict_style(verdict)
    deciding = f"{verdict.family} {verdict.table} {verdict.chain}"
    # The deciding hop is its last visit: nothing follows a drop, and an accept is
    # looked for as the last one of the filter stage.
    marked = max((i for i, hop in enumerate(verdict.path) if hop == deciding), default=-1)
    tool = f" ({escape(verdict.tool)})" if verdict.tool else ""
    console.print(f"[bold]Packet path{tool}[/bold]")
    width = len(str(len(verdict.path)))
    for i, hop in enumerate(verdict.path):
        num = f"{i + 1:>{width}}"
        if i == marked:
            console.print(
                f"  [{style}]=> {num}  [bold]{escape(hop)}[/bold]  "
                f"{escape(verdict.verdict)}[/{style}]"
            )
        else:
            console.print(f"     {num}  {escape(hop)}", style="dim")
    if marked < 0:
        console.print(f"  [{style}]=> [bold]{escape(deciding)}[/bold][/{style}]")
    console.print(f"[bold]Verdict:[/bold] [{style}]{escape(verdict_line(verdict))}[/{style}]")
    if verdict.diagnosis:
        console.print(f"[bold]Diagnosis:[/bold] {escape(verdict.diagnosis)}")
    _render_warnings(verdict.warnings, console)


def render_analysis(analysis: Analysis, console: Console) -> None:
    """Like :func:`render_path`, but also copes with a trace that decided nothing."""
    if analysis.verdict is not None:
        render_path(analysis.verdict, console)
        return
    trace = analysis.trace
    if trace.packets:
        console.print("[yellow]No verdict: the traced packets carry no rule verdicts.[/yellow]")
    else:
        console.print("[yellow]No traced packets found.[/yellow]")
    _render_warnings(analysis.warnings, console)


def _render_warnings(warnings: list[str], console: Console) -> None:
    for warning in warnings:
        console.print(f"[bold yellow]Warning:[/bold yellow] {escape(warning)}")
