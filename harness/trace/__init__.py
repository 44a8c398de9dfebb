"""Packet-trace parsing and diagnosis.

    >>> from harness.trace import analyse
    >>> result = analyse(open("xt-nozone-egress.txt").read())   # doctest: +SKIP
    >>> result.verdict.chain, result.verdict.verdict              # doctest: +SKIP
    ('filter_FORWARD', 'drop')

``parse_text`` / ``parse_file`` turn ``xtables-monitor --trace`` or ``nft monitor trace``
output into a :class:`Trace`; ``decide`` picks the rule that decided a packet's fate as a
:class:`harness.models.TraceVerdict`; ``render_path`` prints it with rich.
"""

from .diagnose import (
    ENOBUFS_WARNING,
    LOST_EVENTS_WARNING,
    Analysis,
    analyse,
    choose_packet,
    decide,
    deciding_event,
    diagnose,
    packet_path,
    trace_warnings,
)
from .parse import (
    PacketInfo,
    Trace,
    TraceEvent,
    normalize_verdict,
    parse_file,
    parse_text,
)
from .render import render_analysis, render_path, verdict_line

__all__ = [
    "ENOBUFS_WARNING",
    "LOST_EVENTS_WARNING",
    "Analysis",
    "PacketInfo",
    "Trace",
    "TraceEvent",
    "analyse",
    "choose_packet",
    "decide",
    "deciding_event",
    "diagnose",
    "normalize_verdict",
    "packet_path",
    "parse_file",
    "parse_text",
    "render_analysis",
    "render_path",
    "trace_warnings",
    "verdict_line",
]
