"""Read packet-trace lines as they exist in the wild, one line at a time, into events.

Formats, recognised line by line (a capture may mix them):

``nft monitor trace``::

    trace id 64925536 inet firewalld filter_FORWARD packet: iif "docker0" oif "eth0" ...
    trace id 64925536 inet firewalld filter_FORWARD rule reject with icmpx ... (verdict drop)
    trace id 64925536 ip raw PREROUTING policy accept
    trace id 64925536 ip filter DOCKER-USER verdict continue
    trace id 64925536 ip filter FORWARD unknown rule handle 12 (verdict accept)

``xtables-monitor --trace`` (iptables-nft), newer and older versions::

    PACKET: 2 c57faf6f IN=docker0 OUT=eth0 ... SRC=172.17.0.3 DST=203.0.113.10 ... SYN
     TRACE: 2 c57faf6f filter:FORWARD:rule:0x18d:ACCEPT  -4 -t filter -A FORWARD -i docker0 ...
     TRACE: 1 c57faf6f firewalld:filter_FORWARD:rule:0x27:DROP
    PACKET: 0 1f2e3d4c IN=eth0 OUT= SRC= DST= ... ID=43007SPORT=80 ...   (older: glued)

The legacy ``TRACE`` target of iptables, and the ``LOG`` target, from the kernel log
(``dmesg``, ``dmesg -T``, syslog, the journal)::

    [ 1234.567890] TRACE: raw:PREROUTING:policy:2 IN=docker0 OUT= MAC=... SRC=172.17.0.2 ...
    Nov 26 10:00:00 host kernel: filter_FWD_public_REJECT: IN=docker0 OUT=eth0 ... SRC=...

Those name the rule a packet matched but not what it did: their events carry no verdict.

Lines pasted from web pages and chats are cleaned first: quote prefixes (``> ``),
leading indentation, non-breaking spaces, tabs, CRLF; ``...`` elisions are noted.
Status lines are recognised only in the tools' own words: xtables-monitor's
``cannot receive from nfnetlink socket: No buffer space available`` and nft's
``# ERROR: We lost some netlink events!``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

TOOL_NFT = "nft monitor trace"
TOOL_XT = "xtables-monitor --trace"
TOOL_KTRACE = "kernel log: iptables TRACE"
TOOL_KLOG = "kernel log: iptables LOG"

EventKind = Literal["packet", "rule", "policy", "return", "log"]

#: nfproto numbers as xtables-monitor prints them, as nft family names.
NFPROTO_FAMILIES = {0: "", 1: "inet", 2: "ip", 3: "arp", 5: "netdev", 7: "bridge", 10: "ip6"}
# Kernel verdict codes, as xtables-monitor prints them in hex when it has no name.
_NUMERIC_VERDICTS = {
    0: "drop", 1: "accept", 2: "stolen", 3: "queue", 4: "repeat", 5: "stop",
    -1: "continue", -2: "break", -3: "jump", -4: "goto", -5: "return",
}  # fmt: skip
_NUMBER = re.compile(r"^(?:0[xX][0-9a-fA-F]+|\d+)$")


@dataclass
class Flow:
    """What a packet line (or a kernel log line) says about the packet."""

    iif: str = ""
    oif: str = ""
    mac: str = ""  # source MAC, normalised to 02:42:ac:11:00:03
    src: str = ""
    dst: str = ""
    proto: str = ""  # tcp, udp, icmp, icmpv6, ...
    sport: str = ""
    dport: str = ""
    ipid: str = ""  # IPv4 identification
    flowlabel: str = ""  # IPv6
    flags: str = ""  # TCP flags, e.g. "syn"
    length: str = ""  # IP length (tells apart kernel log lines of otherwise alike packets)

    def merge(self, other: Flow) -> None:
        """Fill what this one lacks from other (the first value seen wins)."""
        for name in self.__dataclass_fields__:
            if not getattr(self, name) and getattr(other, name):
                setattr(self, name, getattr(other, name))

    @property
    def ip_known(self) -> bool:
        return bool(self.src or self.dst)

    def describe(self) -> str:
        if not self.ip_known:
            return f"({self.iif or '?'} -> {self.oif or '?'})" if self.iif or self.oif else "?"
        src = _endpoint(self.src, self.sport)
        dst = _endpoint(self.dst, self.dport)
        text = f"{self.proto + ' ' if self.proto else ''}{src} -> {dst}"
        if self.iif or self.oif:
            text += f" ({self.iif or '?'} -> {self.oif or '-'})"
        return text


def _endpoint(addr: str, port: str) -> str:
    if not port:
        return addr
    return f"[{addr}]:{port}" if ":" in addr else f"{addr}:{port}"


@dataclass
class Event:
    """One recognised line."""

    tool: str
    trace_id: str  # the tool's trace id ("" for kernel log lines)
    kind: EventKind
    family: str = ""
    table: str = ""
    chain: str = ""
    verdict: str = ""  # accept, drop, reject, jump, goto, return, continue, queue; "" unknown
    target: str = ""  # jump/goto target
    rule: str = ""  # rule text as printed (or a LOG prefix)
    handle: str = ""
    flow: Flow | None = None  # packet lines and kernel log lines
    lineno: int = 0

    @property
    def where(self) -> str:
        return f"{self.family} {self.table} {self.chain}".strip()


@dataclass
class Lines:
    """A capture read line by line: its events and what else it held."""

    events: list[Event] = field(default_factory=list)
    enobufs: bool = False
    lost_events: bool = False
    elided: bool = False
    unrecognised: int = 0
    tools: list[str] = field(default_factory=list)

    def add(self, event: Event) -> None:
        self.events.append(event)
        if event.tool not in self.tools:
            self.tools.append(event.tool)


# -- cleaning pasted text --------------------------------------------------------
_INVISIBLE = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff"), None)
_SPACES = dict.fromkeys(map(ord, "\t\u00a0\u2007\u202f\u2002\u2003\u2009"), " ")
_QUOTE = re.compile(r"^\s*(?:>\s?)+")
_KERNEL_PREFIXES = (
    re.compile(r"^<\d+>"),  # raw kmsg priority
    # syslog / journal: "Nov 26 10:00:00 host kernel: ", "2026-11-26T10:00:00+0000 host kernel: "
    re.compile(r"^(?:\S+\s+){1,4}?\S+\s+kernel:\s*(?=\S)"),
    re.compile(r"^kernel:\s*"),
    re.compile(r"^\[\s*\d+\.\d+\]\s*"),  # dmesg
    re.compile(r"^\[[A-Z][a-z]{2} [A-Z][a-z]{2} {1,2}\d{1,2} [\d:]{8} \d{4}\]\s*"),  # dmesg -T
)
_LINE_NUMBER = re.compile(r"^\d+\s+(?=TRACE:|PACKET:|trace id )")
_ELISION = re.compile(r"^(?:\.{3,}|…|\[\.{3}\]|\[…\]|\(\.{3}\)|\(snip\)|\[snip\])$", re.I)


def clean(raw: str) -> str:
    """A line as the tool printed it: no quote markers, indentation, odd spaces or CR."""
    line = raw.replace("\r", "").translate(_INVISIBLE).translate(_SPACES)
    line = _QUOTE.sub("", line).strip()
    line = _LINE_NUMBER.sub("", re.sub(" {2,}", " ", line))
    for _ in range(3):  # a syslog line may carry a dmesg timestamp after its own prefix
        before = line
        for prefix in _KERNEL_PREFIXES:
            line = prefix.sub("", line, count=1)
        if line == before:
            break
    return line.strip()


# -- the tools' own status lines -------------------------------------------------
_ENOBUFS = re.compile(
    r"^(?:xtables-monitor:\s*)?cannot receive from nfnetlink socket: No buffer space available$"
)
_LOST = re.compile(r"^#?\s*ERROR: We lost some netlink events!?$")

# -- nft monitor trace -----------------------------------------------------------
_NFT = re.compile(
    r"^trace id (?P<id>[0-9a-fA-F]+) (?:(?P<family>ip6?|inet|bridge|arp|netdev) )?"
    r"(?:(?P<table>\S+) (?P<chain>\S+) )?(?P<body>(?:packet:|rule |policy |verdict |return"
    r"|conntrack:|unknown rule handle ).*)$"
)
_NFT_VERDICT_TAIL = re.compile(r"\(verdict (?P<v>[^()]*)\)\s*$")
_NFT_HANDLE = re.compile(r"#\s*handle (?P<h>\d+)")
_NFT_UNKNOWN = re.compile(r"^unknown rule handle (?P<h>\d+)")
_NFT_FIELDS = {
    "iif": re.compile(r'(?:^|\s)iif "?(?P<v>[^"\s]+)"?'),
    "oif": re.compile(r'(?:^|\s)oif "?(?P<v>[^"\s]+)"?'),
    "mac": re.compile(r"(?:^|\s)ether saddr (?P<v>[0-9a-fA-F:]+)"),
    "src": re.compile(r"(?:^|\s)ip6? saddr (?P<v>[0-9a-fA-F.:]+)"),
    "dst": re.compile(r"(?:^|\s)ip6? daddr (?P<v>[0-9a-fA-F.:]+)"),
    "proto": re.compile(r"(?:^|\s)(?:ip protocol|ip6 nexthdr|meta l4proto) (?P<v>[a-z0-9-]+)"),
    "sport": re.compile(r"(?:^|\s)(?:tcp|udp|udplite|sctp|dccp|th) sport (?P<v>\d+)"),
    "dport": re.compile(r"(?:^|\s)(?:tcp|udp|udplite|sctp|dccp|th) dport (?P<v>\d+)"),
    "ipid": re.compile(r"(?:^|\s)ip id (?P<v>\d+)"),
    "flowlabel": re.compile(r"(?:^|\s)ip6 flowlabel (?P<v>\d+)"),
    "flags": re.compile(r"(?:^|\s)tcp flags == (?P<v>[a-z|()]+)"),
}
_NFT_L4 = re.compile(
    r"(?:^|\s)(?P<v>tcp|udp|udplite|sctp|dccp|icmpv6|icmp) "
    r"(?:sport|dport|type|code|flags|length|checksum|window)\b"
)

# -- xtables-monitor -------------------------------------------------------------
_XT_PACKET = re.compile(r"^PACKET: (?P<nfproto>\d+) (?P<id>[0-9a-fA-F]+)(?P<rest>(?:\s.*)?)$")
_XT_TRACE = re.compile(
    r"^TRACE: (?P<nfproto>\d+) (?:(?P<id>[0-9a-fA-F]{4,}) )?(?P<spec>[^\s:]+:[^\s]+)(?P<rest>.*)$"
)
_XT_INLINE_PACKET = re.compile(r"\s(?=PACKET: \d+ [0-9a-fA-F]+)")

# -- kernel log: legacy TRACE and LOG ----------------------------------------------
_KTRACE = re.compile(
    r"^TRACE: (?P<table>[a-z_]+):(?P<chain>[^:\s]+):(?P<kind>rule|return|policy):(?P<num>\d+)"
    r"\s*(?P<rest>.*)$"
)
_KLOG = re.compile(r"^(?P<prefix>.*?)IN=(?P<rest>\S*\s+OUT=.*)$")
_LOG_KEYS = (
    "IN", "OUT", "PHYSIN", "PHYSOUT", "MACSRC", "MACDST", "MACPROTO", "MAC", "SRC", "DST",
    "LEN", "TOS", "PREC", "TTL", "ID", "PROTO", "SPT", "DPT", "SPORT", "DPORT", "SEQ", "ACK",
    "WINDOW", "RES", "URGP", "TC", "HOPLIMIT", "FLOWLBL", "TYPE", "CODE", "NFPROTO", "MARK",
    "UID", "GID", "OPT", "INCOMPLETE",
)  # fmt: skip
_LOG_KEY = re.compile(r"(?<![A-Za-z])(" + "|".join(_LOG_KEYS) + r")=")
_TCP_FLAG_WORDS = ("SYN", "ACK", "FIN", "RST", "PSH", "URG", "ECE", "CWR")


def read(text: str) -> Lines:
    """Every recognised line of a capture, as events."""
    lines = Lines()
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = clean(raw)
        if not line or line.startswith("```"):
            continue
        if _ELISION.match(line):
            lines.elided = True
            continue
        if _ENOBUFS.match(line):
            lines.enobufs = True
            continue
        if _LOST.match(line):
            lines.lost_events = True
            continue
        if not _read_line(line, lineno, lines):
            lines.unrecognised += 1
    return lines


def _read_line(line: str, lineno: int, lines: Lines) -> bool:
    if line.startswith("trace id "):
        return _nft(line, lineno, lines)
    if line.startswith("PACKET: "):
        return _xt_packet(line, lineno, lines, default_family="")
    if line.startswith("TRACE: "):
        return _xt_trace(line, lineno, lines) or _ktrace(line, lineno, lines)
    return _klog(line, lineno, lines)


def normalize_verdict(token: str) -> str:
    """``ACCEPT`` -> ``accept``; ``0xfffffffb`` -> ``return``; unknown words stay."""
    tok = token.strip()
    if _NUMBER.match(tok):
        value = int(tok, 16) if tok.lower().startswith("0x") else int(tok)
        if value >= 0x80000000:
            value -= 1 << 32
        if value >= 0:
            value &= 0xFF  # NF_QUEUE_NR / NF_DROP_ERR keep extra data in the upper bits
        return _NUMERIC_VERDICTS.get(value, tok.lower())
    return tok.lower()


def _is_reject(rule: str) -> bool:
    return bool(re.search(r"(?<![\w-])reject(?![\w-])|-j REJECT\b", rule, re.IGNORECASE))


def _nft(line: str, lineno: int, lines: Lines) -> bool:
    m = _NFT.match(line)
    if not m:
        return False
    body = m["body"].strip()

    def event(kind: EventKind, **extra: object) -> Event:
        return Event(
            TOOL_NFT, m["id"].lower(), kind, m["family"] or "", m["table"] or "", m["chain"] or "",
            lineno=lineno, **extra,  # type: ignore[arg-type]
        )  # fmt: skip

    if body.startswith("packet:"):
        lines.add(event("packet", flow=_nft_flow(body)))
    elif body.startswith("conntrack:"):
        return True  # recognised; carries no verdict
    elif body.startswith("policy"):
        words = body.split()
        lines.add(event("policy", verdict=words[1].lower() if len(words) > 1 else "", rule=body))
    elif body.startswith("verdict"):
        verdict, target = _nft_verdict(body[len("verdict") :])
        lines.add(event("return", verdict=verdict, target=target, rule=body))
    elif body.startswith("return"):
        lines.add(event("return", verdict="return", rule=body))
    elif body.startswith(("rule", "unknown rule handle")):
        text = body[len("rule") :].strip() if body.startswith("rule ") else body
        verdict = target = handle = ""
        tail = _NFT_VERDICT_TAIL.search(text)
        if tail:
            verdict, target = _nft_verdict(tail["v"])
            text = text[: tail.start()].strip()
        unknown = _NFT_UNKNOWN.match(text)
        if unknown:
            handle = unknown["h"]
        else:
            found = _NFT_HANDLE.search(text)
            handle = found["h"] if found else ""
        if verdict == "drop" and _is_reject(text):
            verdict = "reject"  # the kernel reports a reject as a drop; the rule says reject
        lines.add(event("rule", verdict=verdict, target=target, handle=handle, rule=text))
    else:
        return False
    return True


def _nft_verdict(text: str) -> tuple[str, str]:
    words = text.split()
    if not words:
        return "", ""
    verdict = words[0].lower()
    return verdict, words[1] if verdict in ("jump", "goto") and len(words) > 1 else ""


def _nft_flow(body: str) -> Flow:
    flow = Flow()
    for name, rx in _NFT_FIELDS.items():
        found = rx.search(body)
        if found:
            setattr(flow, name, found["v"].lower() if name in ("mac", "flags") else found["v"])
    if not flow.proto:
        found = _NFT_L4.search(body)
        flow.proto = found["v"] if found else ""
    return flow


def _xt_packet(line: str, lineno: int, lines: Lines, default_family: str) -> bool:
    m = _XT_PACKET.match(line)
    if not m:
        return False
    family = NFPROTO_FAMILIES.get(int(m["nfproto"]), m["nfproto"]) or default_family
    lines.add(
        Event(TOOL_XT, m["id"].lower(), "packet", family, flow=log_flow(m["rest"]), lineno=lineno)
    )
    return True


def _xt_trace(line: str, lineno: int, lines: Lines) -> bool:
    m = _XT_TRACE.match(line)
    if not m or m["id"] is None and not lines.events:
        return False
    family = NFPROTO_FAMILIES.get(int(m["nfproto"]), m["nfproto"])
    parts = m["spec"].split(":")
    if len(parts) < 3:
        return False
    table, chain, fields = parts[0], parts[1], parts[2:]
    kind: EventKind = "rule"
    if fields[0].lower() in ("rule", "policy", "return"):
        kind = fields.pop(0).lower()  # type: ignore[assignment]
    verdict = target = handle = ""
    if kind == "return":
        verdict = "return"
    elif fields:
        if len(fields) >= 2 and _NUMBER.match(fields[0]):
            handle = fields.pop(0)
        verdict = normalize_verdict(fields[0])
        target = fields[1] if len(fields) > 1 else ""
    rest = m["rest"]
    inline = _XT_INLINE_PACKET.search(rest)
    packet = ""
    if inline:  # older versions printed the packet on the TRACE line itself
        rest, packet = rest[: inline.start()], rest[inline.end() :]
    trace_id = (m["id"] or _last_xt_id(lines)).lower()
    if packet:
        _xt_packet(packet.strip(), lineno, lines, default_family=family)
    rule = rest.strip()
    if verdict == "drop" and _is_reject(rule):
        verdict = "reject"
    lines.add(
        Event(
            TOOL_XT,
            trace_id,
            kind,
            family,
            table,
            chain,
            verdict,
            target,
            rule,
            handle,
            lineno=lineno,
        )  # fmt: skip
    )
    return True


def _last_xt_id(lines: Lines) -> str:
    return next((e.trace_id for e in reversed(lines.events) if e.tool == TOOL_XT), "?")


def _ktrace(line: str, lineno: int, lines: Lines) -> bool:
    m = _KTRACE.match(line)
    if not m:
        return False
    flow = log_flow(m["rest"])
    family = "ip6" if ":" in flow.src else "ip"
    kind: EventKind = m["kind"] if m["kind"] != "return" else "return"  # type: ignore[assignment]
    lines.add(
        Event(
            TOOL_KTRACE,
            "",
            kind,
            family,
            m["table"],
            m["chain"],
            rule=f"{m['table']}:{m['chain']}:{m['kind']}:{m['num']}",
            flow=flow,
            lineno=lineno,
        )  # fmt: skip
    )
    return True


def _klog(line: str, lineno: int, lines: Lines) -> bool:
    m = _KLOG.match(line)
    if not m or "SRC=" not in line and "MAC=" not in line:
        return False
    flow = log_flow("IN=" + m["rest"])
    family = "ip6" if ":" in flow.src else "ip"
    lines.add(
        Event(
            TOOL_KLOG,
            "",
            "log",
            family,
            "",
            "LOG",
            rule=f"LOG {m['prefix'].strip()!r}",
            flow=flow,
            lineno=lineno,
        )  # fmt: skip
    )
    return True


def log_flow(text: str) -> Flow:
    """KEY=VALUE fields as xtables-monitor and the kernel's LOG/TRACE print them; copes with
    glued fields (``ID=43007SPORT=80``, ``ID=22214DF``) and empty values (``OUT= ``)."""
    values: dict[str, str] = {}
    keys = list(_LOG_KEY.finditer(text))
    for i, key in enumerate(keys):
        end = keys[i + 1].start() if i + 1 < len(keys) else len(text)
        raw = text[key.end() : end]
        value = raw.split()[0] if raw[:1].strip() else ""
        values.setdefault(key.group(1), value)
    tail_words = set(re.findall(r"\b[A-Z]{2,3}\b", text))
    ipid = re.match(r"\d*", values.get("ID", ""))
    proto = values.get("PROTO", "").lower()
    flags = [w.lower() for w in _TCP_FLAG_WORDS if w in tail_words]
    if not proto and (set(_TCP_FLAG_WORDS) & tail_words or "SPORT" in values):
        proto = "tcp" if set(_TCP_FLAG_WORDS) & tail_words else ""
    mac = values.get("MACSRC", "")
    if not mac and len(values.get("MAC", "")) >= 35:  # LOG: dst(6):src(6):type(2)
        mac = values["MAC"][18:35]
    return Flow(
        iif=values.get("IN", ""),
        oif=values.get("OUT", ""),
        mac=normalize_mac(mac),
        src=values.get("SRC", ""),
        dst=values.get("DST", ""),
        proto=proto,
        sport=values.get("SPORT") or values.get("SPT", ""),
        dport=values.get("DPORT") or values.get("DPT", ""),
        ipid=ipid.group() if ipid else "",
        flowlabel=values.get("FLOWLBL", ""),
        flags="|".join(flags),
        length=values.get("LEN", ""),
    )


def normalize_mac(mac: str) -> str:
    """``2:42:ac:11:0:3`` (xtables-monitor) -> ``02:42:ac:11:00:03``."""
    parts = mac.split(":")
    if len(parts) != 6 or not all(re.fullmatch(r"[0-9a-fA-F]{1,2}", p) for p in parts):
        return mac.lower()
    return ":".join(p.lower().zfill(2) for p in parts)
