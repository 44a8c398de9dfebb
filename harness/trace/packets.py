"""From events to packets, and from a packet's path to its fate.

**Packets.** Tools number what they trace, but a number is not a packet: the kernel
reuses trace ids for different packets (a new ``packet:`` line under a known id with
another IP id or other addresses starts a new packet), and one IP packet may get a new
id between hooks (same IP id, protocol and source port, seen at a later hook: the same
packet, even when NAT changed its destination). Kernel log lines carry no id; consecutive
lines about the same packet fields belong together.

**Fate.** A packet passes a hook only if every base chain at that hook lets it go, so:

- a drop or a reject anywhere is final, and the first one decides;
- an accept is final only where nothing later on the packet's way can still drop it: in a
  filter-stage chain (not raw, mangle or nat, and not the bridge family) at the forward,
  input, output or postrouting hook, and not by a NAT rule (``dnat to ...``, ``masquerade``:
  the kernel shows those as accept whatever table they are in); the last such accept decides;
- anything else (the capture ends in the raw table, a NAT rule's accept, a bridge-family
  policy accept) is *no final verdict in this capture*, and the packet's last hop says where
  it was last seen.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from harness.models import Hop, PacketTrace

from .parse import TOOL_KLOG, TOOL_KTRACE, Event, Flow, Lines

BLOCKING = ("drop", "reject")
FINAL_HOOKS = ("forward", "input", "output", "postrouting")
_STAGES = ("raw", "mangle", "nat", "security", "filter")
_HOOKS = (
    ("prerouting", ("prerouting", "pre")),
    ("postrouting", ("postrouting", "post")),
    ("forward", ("forward", "fwd", "fwdi", "fwdo")),
    ("input", ("input", "in")),
    ("output", ("output", "out")),
)
#: NAT statements: nft shows them as "(verdict accept)", xtables-monitor as ACCEPT.
_NAT_RULE = re.compile(
    r"(?:^|\s)(?:(?:dnat|snat)(?: ip6?)? to|masquerade|redirect to)\b|(?:^|\s)redirect$"
    r"|-j (?:DNAT|SNAT|MASQUERADE|REDIRECT)\b"
)


def stage_of(family: str, table: str, chain: str) -> str:
    """raw, mangle, nat, security, filter, bridge, or "" when the names don't say."""
    if family == "bridge":
        return "bridge"
    t, c = table.lower(), chain.lower()
    for stage in _STAGES:
        if t == stage or c.startswith(stage + "_") or c == stage:
            return stage
    if c in ("input", "forward", "output") or "filter" in t:
        return "filter"
    if t in ("firewalld", "docker") or c.startswith(("docker", "kube", "cali")):
        return "filter"  # the user chains of these tools live in their filter tables
    return ""


def hook_of(chain: str) -> str:
    """The hook a base chain's name gives: PREROUTING, filter_FORWARD, nat_POSTROUTING..."""
    words = chain.lower().replace("-", "_").split("_")
    for hook, names in _HOOKS:
        if any(w in names for w in words):
            return hook
    return ""


@dataclass
class Packet:
    """One packet, as the capture shows it."""

    key: str
    tool: str
    flow: Flow = field(default_factory=Flow)
    events: list[Event] = field(default_factory=list)
    ids: list[str] = field(default_factory=list)
    hooks: list[str] = field(default_factory=list)  # base-chain hooks, in order seen


def packets_of(lines: Lines) -> list[Packet]:
    """Group a capture's events into packets, in order of first appearance."""
    return _merge_continued(_by_trace_id(lines))


def _by_trace_id(lines: Lines) -> list[Packet]:
    packets: list[Packet] = []
    current: dict[tuple[str, str], Packet] = {}  # (tool, trace id) -> its packet now
    last_kernel: Packet | None = None
    for ev in lines.events:
        if ev.tool in (TOOL_KTRACE, TOOL_KLOG):
            flow = ev.flow or Flow()
            if last_kernel is None or not _same_packet(last_kernel.flow, flow, strict=True):
                last_kernel = Packet(f"k{len(packets) + 1}", ev.tool)
                packets.append(last_kernel)
            _add(last_kernel, ev)
            continue
        key = (ev.tool, ev.trace_id)
        pkt = current.get(key)
        if pkt is not None and ev.kind == "packet" and ev.flow is not None:
            if _reused(pkt, ev.flow, hook_of(ev.chain)):
                pkt = None  # the kernel reused the id for another packet
        if pkt is None:
            pkt = Packet(f"p{len(packets) + 1}", ev.tool)
            packets.append(pkt)
            current[key] = pkt
        _add(pkt, ev)
    return packets


def _add(pkt: Packet, ev: Event) -> None:
    pkt.events.append(ev)
    if ev.trace_id and ev.trace_id not in pkt.ids:
        pkt.ids.append(ev.trace_id)
    if ev.flow is not None:
        pkt.flow.merge(ev.flow)
    hook = hook_of(ev.chain)
    if hook and (not pkt.hooks or pkt.hooks[-1] != hook):
        pkt.hooks.append(hook)


def _reused(pkt: Packet, new: Flow, hook: str) -> bool:
    """Does a packet line under a known trace id describe another packet? The same packet
    shows a packet line at every base chain, NAT may rewrite one end of it, and the path
    only goes forward through the hooks."""
    old = pkt.flow
    if old.proto and new.proto and old.proto != new.proto:
        return True
    if old.ipid and new.ipid and "0" not in (old.ipid, new.ipid):
        return old.ipid != new.ipid
    if hook and pkt.hooks and _ORDER.get(hook, 9) < _ORDER.get(pkt.hooks[-1], -1):
        return True
    return all((old.src, new.src, old.dst, new.dst)) and old.src != new.src and old.dst != new.dst


def _merge_continued(packets: list[Packet]) -> list[Packet]:
    """One IP packet that got a new trace id at a later hook is one packet again."""
    merged: list[Packet] = []
    for pkt in packets:
        earlier = next(
            (
                e
                for e in reversed(merged)
                if e.tool == pkt.tool
                and e.tool not in (TOOL_KTRACE, TOOL_KLOG)
                and e.flow.ip_known
                and pkt.flow.ip_known
                and _same_packet(e.flow, pkt.flow, strict=False)
                and pkt.hooks
                and _later(e.hooks, pkt.hooks[0])
            ),
            None,
        )
        if earlier is None:
            merged.append(pkt)
            continue
        for ev in pkt.events:
            _add(earlier, ev)
    return merged


_ORDER = {"prerouting": 0, "input": 1, "forward": 1, "output": 0, "postrouting": 2}


def _later(seen: list[str], hook: str) -> bool:
    return bool(seen and hook) and _ORDER.get(hook, -1) > _ORDER.get(seen[-1], 9)


def _same_packet(a: Flow, b: Flow, strict: bool) -> bool:
    """Same IP packet? strict: at the same hook (nothing rewritten); otherwise NAT may have
    changed one of the addresses and ports, but not the IP id and the source port."""
    if a.proto and b.proto and a.proto != b.proto:
        return False
    if a.ipid and b.ipid and a.ipid != "0":
        same_id = a.ipid == b.ipid
        if strict:
            return same_id and a.src == b.src and a.dst == b.dst
        return (
            same_id
            and (a.src == b.src or a.dst == b.dst)
            and (not (a.sport and b.sport) or a.sport == b.sport)
        )
    same = (a.src, a.dst, a.sport, a.dport) == (b.src, b.dst, b.sport, b.dport)
    for extra in ("flowlabel", "length"):
        if getattr(a, extra) and getattr(b, extra):
            same = same and getattr(a, extra) == getattr(b, extra)
    return same


# -- paths and decisions -------------------------------------------------------------
def hops_of(pkt: Packet) -> list[Hop]:
    """The packet's path: one hop per chain visit, in order, each with what it did."""
    hops: list[Hop] = []
    hook = ""
    for ev in pkt.events:
        if ev.kind == "packet":
            hook = hook_of(ev.chain) or hook
            if ev.chain and (not hops or hops[-1].where != ev.where or hops[-1].verdict):
                hops.append(_hop(ev, hook))
            continue
        if ev.tool in (TOOL_KTRACE, TOOL_KLOG):
            hook = hook_of(ev.chain) or hook
        if not hops or hops[-1].where != ev.where or hops[-1].verdict in (*BLOCKING, "accept"):
            hops.append(_hop(ev, hook))
        hop = hops[-1]
        if ev.verdict or ev.kind == "log" or ev.tool == TOOL_KTRACE:
            hop.verdict = ev.verdict
            hop.rule = _label(ev)
    return [h for h in hops if h.chain or h.rule]


def _hop(ev: Event, hook: str) -> Hop:
    stage = stage_of(ev.family, ev.table, ev.chain)
    return Hop(ev.family, ev.table, ev.chain, stage=stage, hook=hook_of(ev.chain) or hook)


def _label(ev: Event) -> str:
    if ev.kind == "policy" and ev.verdict:
        return f"policy {ev.verdict}"
    if ev.rule:
        return ev.rule
    if ev.target:
        return f"{ev.verdict} {ev.target}"
    return f"handle {ev.handle}" if ev.handle else ""


def decide(hops: list[Hop]) -> tuple[int | None, bool]:
    """(index of the deciding hop, whether it is final). Not final: the index of nothing."""
    for i, hop in enumerate(hops):
        if hop.verdict in BLOCKING:
            return i, True
    final_accepts = [
        i
        for i, hop in enumerate(hops)
        if hop.verdict == "accept"
        and hop.stage in ("filter", "security", "")
        and not _NAT_RULE.search(hop.rule)
        and (hop.hook in FINAL_HOOKS or (not hop.hook and hop.stage == "filter"))
    ]
    if final_accepts:
        return final_accepts[-1], True
    return None, False


def trace_of(pkt: Packet) -> PacketTrace:
    hops = hops_of(pkt)
    decision, final = decide(hops)
    note = ""
    if pkt.tool in (TOOL_KTRACE, TOOL_KLOG):
        what = "TRACE" if pkt.tool == TOOL_KTRACE else "LOG"
        note = (
            f"iptables {what} lines from the kernel log name the rules a packet met, not what "
            "they did: the verdict cannot be read from such a capture alone"
        )
        if hops:
            note += f" (last rule seen: {hops[-1].rule or hops[-1].where})"
    elif not final and hops:
        note = f"no final verdict in this capture: last seen in {hops[-1].where}"
        if hops[-1].verdict:
            note += f" ({hops[-1].rule or hops[-1].verdict})"
    flow = pkt.flow
    return PacketTrace(
        packet=flow.describe(),
        hops=hops,
        decision=decision,
        final=final,
        tool=pkt.tool,
        ids=list(pkt.ids),
        note=note,
        flow={k: v for k, v in vars(flow).items() if v},
    )
