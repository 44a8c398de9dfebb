"""Packet traces: read a capture from anywhere, per packet, and say what decided each one.

    >>> from harness.trace import analyse
    >>> capture = analyse(open("nft-nozone-egress.txt").read())     # doctest: +SKIP
    >>> capture.headline.rule                                          # doctest: +SKIP
    Rule(family='inet', table='firewalld', chain='filter_FORWARD', verdict='reject')

`parse` reads lines into events (nft monitor trace, xtables-monitor --trace, the legacy
iptables TRACE and LOG lines of a kernel log, pasted or not); `packets` groups them into
packets and decides each packet's fate; `diagnose` says it in plain words; `render` and
`diff` print it. Live captures on a lab machine (`capture`) use the same reader.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from harness.models import PacketTrace, Rule

from .diagnose import diagnose
from .packets import packets_of, trace_of
from .parse import Lines, read

ENOBUFS_WARNING = (
    'xtables-monitor stopped with "No buffer space available" (ENOBUFS): the TRACE rule '
    "matched more than the monitor could read, so this capture is incomplete. Narrow the "
    "TRACE rule to the traffic under study, e.g. `iptables -t raw -A PREROUTING "
    "-s 172.17.0.0/16 -p tcp --syn -j TRACE`, as the seed article learned."
)
LOST_EVENTS_WARNING = (
    'nft monitor trace reported "We lost some netlink events!": some events are missing, '
    "so a path shown may be incomplete. Narrow the rule that sets `meta nftrace set 1`."
)
ELIDED_WARNING = "the capture has elided lines ('...'): a path shown may be incomplete"


@dataclass
class Capture:
    """A capture, read: its packets, each with its path and decision."""

    packets: list[PacketTrace] = field(default_factory=list)
    tools: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    recognised: int = 0  # lines that were trace lines
    unrecognised: int = 0

    @property
    def is_capture(self) -> bool:
        """Anything a trace tool printed: a trace line, or one of the tools' own errors."""
        return self.recognised > 0 or bool(self.warnings and not self.unrecognised)

    @property
    def headline(self) -> PacketTrace | None:
        """The packet that was dropped or rejected, if any; else the first packet the
        capture decides; else the first packet."""
        blocked = [p for p in self.packets if p.final and p.rule and p.rule.verdict != "accept"]
        # A packet seen from its start (its addresses known) before a fragment of one.
        decided = sorted((p for p in self.packets if p.final), key=lambda p: "src" not in p.flow)
        return next(iter(blocked or decided or self.packets), None)

    @property
    def verdict(self) -> Rule | None:
        head = self.headline
        return head.rule if head else None

    def select(self, **flow: str) -> Capture:
        """The packets whose fields match, e.g. select(mac="0a:fb:...") or
        select(dst="10.0.2.15", dport="8080")."""
        chosen = [p for p in self.packets if all(p.flow.get(k) == v for k, v in flow.items() if v)]
        return Capture(chosen, self.tools, self.warnings, self.recognised, self.unrecognised)

    def as_dict(self) -> dict[str, Any]:
        head = self.headline
        return {
            "tools": self.tools,
            "packets": [p.as_dict() for p in self.packets],
            "headline": self.packets.index(head) if head is not None else None,
            "verdict": head.as_dict()["verdict"] if head is not None else None,
            "warnings": self.warnings,
        }


def analyse(text: str) -> Capture:
    """Read a capture (any of the formats in `parse`), per packet."""
    lines = read(text)
    return from_lines(lines)


def from_lines(lines: Lines) -> Capture:
    warnings = []
    if lines.enobufs:
        warnings.append(ENOBUFS_WARNING)
    if lines.lost_events:
        warnings.append(LOST_EVENTS_WARNING)
    if lines.elided:
        warnings.append(ELIDED_WARNING)
    packets = []
    for pkt in packets_of(lines):
        trace = trace_of(pkt)
        trace.warnings = list(warnings)
        trace.diagnosis = diagnose(trace)
        packets.append(trace)
    return Capture(packets, lines.tools, warnings, len(lines.events), lines.unrecognised)


__all__ = ["Capture", "analyse", "diagnose"]
