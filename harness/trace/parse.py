"""Parse packet-trace output from ``xtables-monitor --trace`` and ``nft monitor trace``.

Both tools print one line per trace event. The format is detected line by line, so a
capture may hold lines of both kinds (``Trace.tool`` is then ``"mixed"``).

xtables-monitor (iptables-nft)::

    PACKET: 2 c57faf6f IN=docker0 OUT=eth0 ... SRC=172.17.0.3 DST=203.0.113.10 ... DPORT=80 SYN
     TRACE: 2 c57faf6f filter:FORWARD:rule:0x18d:ACCEPT  -4 -t filter -A FORWARD -i docker0 ...
     TRACE: 1 c57faf6f firewalld:filter_FORWARD:rule:0x27:DROP
     TRACE: 2 be722d32 raw:PREROUTING:policy:ACCEPT

The ``table:chain:kind[:handle]:VERDICT[:target]`` token is split by structure, so a
missing handle, a missing packet id, missing rule text (older iptables, inet tables) or a
different handle (CentOS 8's ``0x93``) all parse. Older xtables-monitor printed the packet
on the same line as the TRACE event (``... PACKET: 0 <id> IN=...``); that is handled too.
Numeric verdicts (``0xfffffffb`` is NFT_RETURN) are translated to names.

nft monitor trace::

    trace id 64925536 inet firewalld filter_FORWARD packet: iif "docker0" oif "eth0" ...
    trace id 64925536 inet firewalld filter_FORWARD rule reject with icmpx ... (verdict drop)
    trace id 64925536 ip raw PREROUTING policy accept
    trace id 64925536 ip filter DOCKER-USER verdict continue      (an implicit return)

Verdicts are always the verdict the kernel reported, in lower case. An nft ``reject``
statement (or an iptables ``-j REJECT``) is reported by the kernel as ``drop``; the event
keeps ``verdict == "drop"`` and :attr:`TraceEvent.is_reject` / :attr:`TraceEvent.outcome`
tell the two apart from the rule text.

Status lines are recorded as flags: ``cannot receive from nfnetlink socket: No buffer space
available`` (xtables-monitor died from ENOBUFS) sets ``Trace.enobufs``; ``# ERROR: We lost
some netlink events!`` (nft went on, but events are missing) sets ``Trace.lost_events``.
Any other non-blank line goes to ``Trace.unparsed``.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

EventKind = Literal["packet", "rule", "policy", "return"]

TOOL_XTABLES = "xtables-monitor"
TOOL_NFT = "nft"
TOOL_MIXED = "mixed"

#: nfproto numbers as printed by xtables-monitor, mapped to nft family names.
NFPROTO_FAMILIES: dict[int, str] = {
    0: "unspec",
    1: "inet",
    2: "ip",
    3: "arp",
    5: "netdev",
    7: "bridge",
    10: "ip6",
}

#: Verdicts that end a packet's journey.
BLOCKING_VERDICTS = frozenset({"drop", "reject"})

# Kernel verdict codes (NF_* are >= 0, NFT_* are negative), as xtables-monitor prints
# them in hex when it has no name for them (e.g. 0xfffffffb for NFT_RETURN).
_NUMERIC_VERDICTS: dict[int, str] = {
    0: "drop",
    1: "accept",
    2: "stolen",
    3: "queue",
    4: "repeat",
    5: "stop",
    -1: "continue",
    -2: "break",
    -3: "jump",
    -4: "goto",
    -5: "return",
}

_KINDS: dict[str, EventKind] = {"rule": "rule", "policy": "policy", "return": "return"}
_TCP_FLAGS = frozenset({"SYN", "ACK", "FIN", "RST", "PSH", "URG", "ECE", "CWR"})
_NUMBER = re.compile(r"^(?:0[xX][0-9a-fA-F]+|\d+)$")

_XT_PACKET = re.compile(r"^PACKET:\s+(?P<nfproto>\d+)\s+(?P<id>[0-9a-fA-F]+)(?=\s|$)(?P<rest>.*)$")
_XT_TRACE = re.compile(
    r"^TRACE:\s+(?P<nfproto>\d+)\s+(?:(?P<id>[0-9a-fA-F]+)\s+)?(?P<spec>[^\s:]+:\S+)(?P<rest>.*)$"
)
_XT_INLINE_PACKET = re.compile(r"(?:^|\s)(?=PACKET:\s)")
_NFT_LINE = re.compile(
    r"^trace\s+id\s+(?P<id>[0-9a-fA-F]+)\s+(?P<family>\S+)\s+"
    r"(?:(?P<table>\S+)\s+(?P<chain>\S+)\s+)?"
    r"(?P<body>(?:packet:|rule\b|policy\b|verdict\b|return\b|conntrack:|unknown rule handle\b).*)$"
)
_NFT_VERDICT_TAIL = re.compile(r"\(verdict\s+(?P<verdict>[^()]*)\)\s*$")
_NFT_HANDLE = re.compile(r"#\s*handle\s+(?P<handle>\d+)")
_NFT_UNKNOWN_RULE = re.compile(r"^unknown rule handle\s+(?P<handle>\d+)")

_ENOBUFS = re.compile(r"no buffer space available", re.IGNORECASE)
_LOST_EVENTS = re.compile(r"lost some netlink events", re.IGNORECASE)

_NFT_IIF = re.compile(r'(?:^|\s)iif\s+"?(?P<v>[^"\s]+)"?')
_NFT_OIF = re.compile(r'(?:^|\s)oif\s+"?(?P<v>[^"\s]+)"?')
_NFT_SRC = re.compile(r"(?:^|\s)ip6?\s+saddr\s+(?P<v>\S+)")
_NFT_DST = re.compile(r"(?:^|\s)ip6?\s+daddr\s+(?P<v>\S+)")
_NFT_PROTO = re.compile(r"(?:^|\s)(?:ip\s+protocol|ip6\s+nexthdr|meta\s+l4proto)\s+(?P<v>\S+)")
_NFT_L4 = re.compile(r"(?:^|\s)(?P<v>tcp|udp|udplite|sctp|dccp|icmp|icmpv6)\s+\S")
_NFT_IPID = re.compile(r"(?:^|\s)ip\s+id\s+(?P<v>\d+)")
_NFT_DPORT = re.compile(r"(?:^|\s)(?:tcp|udp|udplite|sctp|dccp|th)\s+dport\s+(?P<v>\d+)")


@dataclass
class TraceEvent:
    """One line of trace output: a packet description, or a rule/policy/return verdict.

    ``verdict`` is the kernel's verdict in lower case (``accept``, ``drop``, ``continue``,
    ``jump``, ``goto``, ``return``, ``queue``, ...), ``""`` for packet lines. A reject is
    reported by the kernel as ``drop``: see :attr:`is_reject` and :attr:`outcome`.
    ``iif``..``dport`` are filled only on packet lines, from what the tool printed.
    """

    packet_id: str
    family: str  # nft family name: ip, ip6, inet, bridge, arp, netdev
    table: str  # "" on xtables-monitor PACKET lines (they name no table)
    chain: str
    kind: EventKind
    verdict: str = ""
    target: str = ""  # jump/goto target chain
    handle: str = ""  # rule handle as printed ("0x27" for xtables-monitor, "12" for nft -a)
    rule: str = ""  # rule text, when the tool printed it
    iif: str = ""
    oif: str = ""
    src: str = ""
    dst: str = ""
    proto: str = ""
    dport: str = ""
    tool: str = ""  # "xtables-monitor" or "nft"
    lineno: int = 0  # 1-based line number in the parsed text

    @property
    def is_reject(self) -> bool:
        """A drop that the rule text shows to be a reject (nft ``reject``, ``-j REJECT``)."""
        return self.verdict == "drop" and bool(
            re.search(r"(?<![\w-])reject(?![\w-])", self.rule, re.IGNORECASE)
        )

    @property
    def outcome(self) -> str:
        """The verdict, with a reject shown as ``"reject"`` rather than ``"drop"``."""
        return "reject" if self.is_reject else self.verdict

    @property
    def blocks(self) -> bool:
        """True if this event drops or rejects the packet (rule or chain policy)."""
        return self.kind != "packet" and self.verdict in BLOCKING_VERDICTS

    @property
    def hop(self) -> str:
        """``"family table chain"``, e.g. ``"inet firewalld filter_FORWARD"``."""
        return f"{self.family} {self.table} {self.chain}"


@dataclass
class PacketInfo:
    """What the packet lines of one traced packet said about it (first value seen wins)."""

    iif: str = ""
    oif: str = ""
    src: str = ""
    dst: str = ""
    proto: str = ""
    dport: str = ""


@dataclass
class Trace:
    """A parsed capture.

    ``packets`` groups ``events`` by packet (trace) id, in order of first appearance. The
    kernel reuses trace ids; when a packet line shows a known id with a different IP ID, the
    new packet is keyed ``"<id>#2"`` (``#3``, ...), and its events carry that key as
    ``packet_id``. (The reverse also happens: one packet may get a new id between hooks,
    e.g. from PREROUTING to FORWARD; those stay separate packets.)
    ``tool`` is ``"xtables-monitor"``, ``"nft"``, ``"mixed"`` (both kinds of lines) or
    ``""`` (nothing recognised).
    """

    events: list[TraceEvent] = field(default_factory=list)
    packets: dict[str, list[TraceEvent]] = field(default_factory=dict)
    tool: str = ""
    enobufs: bool = False
    lost_events: bool = False
    unparsed: list[str] = field(default_factory=list)

    def info(self, packet_id: str) -> PacketInfo:
        """Merge the packet lines of one packet into a :class:`PacketInfo`."""
        merged = PacketInfo()
        for ev in self.packets.get(packet_id, []):
            if ev.kind != "packet":
                continue
            for name in ("iif", "oif", "src", "dst", "proto", "dport"):
                if not getattr(merged, name) and getattr(ev, name):
                    setattr(merged, name, getattr(ev, name))
        return merged


def parse_text(text: str) -> Trace:
    """Parse a capture of ``xtables-monitor --trace`` and/or ``nft monitor trace`` output."""
    parser = _Parser()
    for lineno, raw in enumerate(text.splitlines(), start=1):
        parser.feed(raw, lineno)
    return parser.finish()


def parse_file(path: str | os.PathLike[str]) -> Trace:
    """Parse a capture file (read as UTF-8, undecodable bytes replaced)."""
    return parse_text(Path(path).read_text(encoding="utf-8", errors="replace"))


def normalize_verdict(token: str) -> str:
    """``"ACCEPT"`` -> ``"accept"``; ``"0xfffffffb"`` -> ``"return"``; unknown stays as is."""
    tok = token.strip()
    if _NUMBER.match(tok):
        value = int(tok, 16) if tok.lower().startswith("0x") else int(tok)
        if value >= 0x80000000:
            value -= 1 << 32
        if value >= 0:
            value &= 0xFF  # NF_QUEUE_NR / NF_DROP_ERR keep extra data in the upper bits
        return _NUMERIC_VERDICTS.get(value, tok.lower())
    return tok.lower()


def nfproto_family(nfproto: int) -> str:
    """Map an xtables-monitor nfproto number to an nft family name."""
    return NFPROTO_FAMILIES.get(nfproto, str(nfproto))


class _Parser:
    def __init__(self) -> None:
        self.trace = Trace()
        self.tools: list[str] = []  # tools whose event lines were seen
        self.status_tools: list[str] = []  # tools named only by status lines
        self.last_xt_id = ""
        # The kernel reuses trace ids (they derive from the skb's address): a packet line
        # with a known id but a different IP ID starts a new packet, keyed "<id>#2", ...
        self.key_of: dict[str, str] = {}  # trace id -> current packet key
        self.ipid_of: dict[str, str] = {}  # packet key -> IP ID of its packet lines
        self.reuses: dict[str, int] = {}  # trace id -> number of packets seen with it

    # -- driver -----------------------------------------------------------------
    def feed(self, raw: str, lineno: int) -> None:
        line = raw.strip()
        if not line:
            return
        if line.startswith("trace id"):
            if self._nft_line(line, lineno):
                return
        elif line.startswith("TRACE:"):
            if self._xt_trace(line, lineno):
                return
        elif line.startswith("PACKET:"):
            if self._xt_packet(line, lineno, table="", chain="", default_family=""):
                return
        if _ENOBUFS.search(line):
            self.trace.enobufs = True  # only xtables-monitor dies from this
            self.status_tools.append(TOOL_XTABLES)
            return
        if _LOST_EVENTS.search(line):
            self.trace.lost_events = True
            self.status_tools.append(TOOL_NFT)
            return
        self.trace.unparsed.append(line)

    def finish(self) -> Trace:
        kinds = set(self.tools) or set(self.status_tools)
        if len(kinds) > 1:
            self.trace.tool = TOOL_MIXED
        elif kinds:
            self.trace.tool = kinds.pop()
        return self.trace

    def _saw(self, tool: str) -> None:
        if tool not in self.tools:
            self.tools.append(tool)

    def _key(self, trace_id: str) -> str:
        return self.key_of.get(trace_id, trace_id)

    def _packet_key(self, trace_id: str, ipid: str) -> str:
        key = self.key_of.get(trace_id)
        if key is None:
            key = trace_id
            self.reuses[trace_id] = 1
        elif ipid and self.ipid_of.get(key, ipid) != ipid:
            self.reuses[trace_id] += 1
            key = f"{trace_id}#{self.reuses[trace_id]}"
        self.key_of[trace_id] = key
        if ipid:
            self.ipid_of.setdefault(key, ipid)
        return key

    def _add(self, ev: TraceEvent) -> None:
        self.trace.events.append(ev)
        self.trace.packets.setdefault(ev.packet_id, []).append(ev)
        self._saw(ev.tool)

    # -- xtables-monitor ----------------------------------------------------------
    def _xt_packet(
        self, line: str, lineno: int, *, table: str, chain: str, default_family: str
    ) -> bool:
        m = _XT_PACKET.match(line)
        if not m:
            return False
        nfproto = int(m["nfproto"])
        # Older xtables-monitor printed "PACKET: 0 <id>" (its -4/-6 filter, unset).
        family = default_family if (nfproto == 0 and default_family) else nfproto_family(nfproto)
        fields: dict[str, str] = {}
        flags: set[str] = set()
        for tok in m["rest"].split():
            key, sep, value = tok.partition("=")
            if sep:
                fields[key.upper()] = value
            else:
                flags.add(tok.upper())
        proto = fields.get("PROTO", "").lower()
        if not proto and flags & _TCP_FLAGS:
            proto = "tcp"
        self.last_xt_id = m["id"]
        ipid = re.match(r"\d*", fields.get("ID", ""))
        self._add(
            TraceEvent(
                packet_id=self._packet_key(m["id"], ipid.group() if ipid else ""),
                family=family,
                table=table,
                chain=chain,
                kind="packet",
                iif=fields.get("IN", ""),
                oif=fields.get("OUT", ""),
                src=fields.get("SRC", ""),
                dst=fields.get("DST", ""),
                proto=proto,
                dport=fields.get("DPORT", fields.get("DPT", "")),
                tool=TOOL_XTABLES,
                lineno=lineno,
            )
        )
        return True

    def _xt_trace(self, line: str, lineno: int) -> bool:
        m = _XT_TRACE.match(line)
        if not m:
            return False
        family = nfproto_family(int(m["nfproto"]))
        parts = m["spec"].split(":")
        table, chain, fields = parts[0], parts[1], parts[2:]
        kind: EventKind = "rule"
        if fields and fields[0].lower() in _KINDS:
            kind = _KINDS[fields.pop(0).lower()]
        verdict = target = handle = ""
        if kind == "policy":
            verdict = normalize_verdict(fields[0]) if fields else ""
        elif kind == "return":
            verdict = "return"
            target = fields[0] if fields else ""
        else:
            if len(fields) >= 2 and _NUMBER.match(fields[0]):
                handle = fields.pop(0)
            verdict = normalize_verdict(fields[0]) if fields else ""
            target = fields[1] if len(fields) > 1 else ""

        rest = m["rest"]
        packet_part = ""
        inline = _XT_INLINE_PACKET.search(rest)
        if inline:
            rest, packet_part = rest[: inline.start()], rest[inline.end() :]
        if packet_part:
            self._xt_packet(
                packet_part.strip(), lineno, table=table, chain=chain, default_family=family
            )
        packet_id = self._key(m["id"] or self.last_xt_id or "?")
        self._add(
            TraceEvent(
                packet_id=packet_id,
                family=family,
                table=table,
                chain=chain,
                kind=kind,
                verdict=verdict,
                target=target,
                handle=handle,
                rule=rest.strip(),
                tool=TOOL_XTABLES,
                lineno=lineno,
            )
        )
        return True

    # -- nft monitor trace --------------------------------------------------------
    def _nft_line(self, line: str, lineno: int) -> bool:
        m = _NFT_LINE.match(line)
        if not m:
            return False
        body = m["body"].strip()

        if body.startswith("packet:"):
            found = _NFT_IPID.search(body)
            packet_id = self._packet_key(m["id"], found["v"] if found else "")
        else:
            packet_id = self._key(m["id"])

        def event(kind: EventKind, **extra: str) -> TraceEvent:
            return TraceEvent(
                packet_id=packet_id,
                family=m["family"],
                table=m["table"] or "",
                chain=m["chain"] or "",
                kind=kind,
                tool=TOOL_NFT,
                lineno=lineno,
                **extra,
            )

        if body.startswith("conntrack:"):
            self._saw(TOOL_NFT)  # recognised, but carries no verdict
        elif body.startswith("packet:"):
            self._add(event("packet", **_nft_packet_fields(body)))
        elif body.startswith("policy"):
            words = body.split()
            self._add(event("policy", verdict=words[1].lower() if len(words) > 1 else ""))
        elif body.startswith("verdict"):
            verdict, target = _nft_verdict(body[len("verdict") :])
            self._add(event("return", verdict=verdict, target=target))
        elif body.startswith("return"):
            self._add(event("return", verdict="return"))
        else:
            # "rule <text> (verdict <v>)" or "unknown rule handle <n> (verdict <v>)"
            text = body[len("rule") :].strip() if body.startswith("rule") else body
            verdict = target = handle = ""
            tail = _NFT_VERDICT_TAIL.search(text)
            if tail:
                verdict, target = _nft_verdict(tail["verdict"])
                text = text[: tail.start()].strip()
            unknown = _NFT_UNKNOWN_RULE.match(text)
            if unknown:
                handle, text = unknown["handle"], ""
            else:
                found = _NFT_HANDLE.search(text)
                handle = found["handle"] if found else ""
            self._add(event("rule", verdict=verdict, target=target, handle=handle, rule=text))
        return True


def _nft_verdict(text: str) -> tuple[str, str]:
    """``"jump DOCKER-USER"`` -> ``("jump", "DOCKER-USER")``; ``"accept"`` -> ``("accept", "")``."""
    words = text.split()
    if not words:
        return "", ""
    verdict = words[0].lower()
    target = words[1] if verdict in ("jump", "goto") and len(words) > 1 else ""
    return verdict, target


def _nft_packet_fields(body: str) -> dict[str, str]:
    def grab(rx: re.Pattern[str]) -> str:
        found = rx.search(body)
        return found["v"] if found else ""

    return {
        "iif": grab(_NFT_IIF),
        "oif": grab(_NFT_OIF),
        "src": grab(_NFT_SRC),
        "dst": grab(_NFT_DST),
        "proto": grab(_NFT_PROTO) or grab(_NFT_L4),
        "dport": grab(_NFT_DPORT),
    }
