"""Show captures and packet paths in a terminal (or a CI log) with rich."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape

from harness.models import PacketTrace

from . import Capture

MAX_SUMMARY = 30


def verdict_style(verdict: str) -> str:
    return {"drop": "red", "reject": "red", "accept": "green"}.get(verdict, "yellow")


def decision_line(trace: PacketTrace) -> str:
    """'REJECT in inet firewalld filter_FORWARD (reject with icmpx ...)', or why there is none."""
    hop = trace.deciding
    if hop is None or not trace.final:
        return trace.note or "no final verdict in this capture"
    rule = f" ({hop.rule})" if hop.rule and hop.rule != hop.verdict else ""
    return f"{hop.verdict.upper()} in {hop.where}{rule}"


def render_capture(capture: Capture, console: Console, packet: int | None = None) -> None:
    """The packet summary, then the headline packet's (or `packet`'s) path."""
    tools = ", ".join(capture.tools) or "no trace lines"
    count = len(capture.packets)
    console.print(f"[bold]{count} packet{'s' if count != 1 else ''}[/bold] ({escape(tools)})")
    head = capture.headline
    for i, trace in enumerate(capture.packets[:MAX_SUMMARY], start=1):
        mark = "=>" if trace is head else "  "
        style = (
            verdict_style(trace.deciding.verdict) if trace.final and trace.deciding else "yellow"
        )
        console.print(
            f"{mark} #{i} {escape(trace.packet)}  [{style}]{escape(decision_line(trace))}[/{style}]"
        )
    if count > MAX_SUMMARY:
        console.print(f"   ... {count - MAX_SUMMARY} more packets")
    shown = capture.packets[packet - 1] if packet else head
    if shown is not None:
        number = capture.packets.index(shown) + 1
        console.print()
        console.print(f"[bold]Packet #{number}:[/bold] {escape(shown.packet)}")
        render_path(shown, console)
    for warning in capture.warnings:
        console.print(f"[bold yellow]Warning:[/bold yellow] {escape(warning)}")


def render_path(trace: PacketTrace, console: Console) -> None:
    """The packet's hops, the deciding one marked, then the verdict and the diagnosis."""
    width = len(str(len(trace.hops)))
    for i, hop in enumerate(trace.hops):
        num = f"{i + 1:>{width}}"
        did = f"{hop.verdict} ({hop.rule})" if hop.rule and hop.rule != hop.verdict else hop.verdict
        if i == trace.decision and trace.final:
            style = verdict_style(hop.verdict)
            console.print(
                f"  [{style}]=> {num}  [bold]{escape(hop.where)}[/bold]  {escape(did)}[/{style}]"
            )
        else:
            console.print(f"     {num}  {escape(hop.where)}  {escape(did)}", style="dim")
    style = verdict_style(trace.deciding.verdict) if trace.final and trace.deciding else "yellow"
    console.print(f"[bold]Verdict:[/bold] [{style}]{escape(decision_line(trace))}[/{style}]")
    if trace.diagnosis:
        console.print(f"[bold]Diagnosis:[/bold] {escape(trace.diagnosis)}")
