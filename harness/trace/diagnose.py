"""Find the rule that decided a traced packet's fate, and explain it in plain English.

Netfilter rule: a packet passes a hook only if *every* base chain registered at that hook
accepts it; one drop anywhere is final. So:

* if any event of the packet drops or rejects it (a rule, or a chain policy), the first
  such event decides;
* otherwise the packet was accepted, and the deciding accept is the *last* accept in a
  filter-stage chain (table ``filter``, or a firewalld chain named ``filter_*``, e.g.
  ``filter_FWDI_docker``), not a later ``nat POSTROUTING`` masquerade.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field

from harness.models import TraceVerdict

from .parse import PacketInfo, Trace, TraceEvent, parse_text

#: Docker's default address pools live in 172.16.0.0/12.
CONTAINER_NETWORK = ipaddress.ip_network("172.16.0.0/12")

ENOBUFS_WARNING = (
    'xtables-monitor stopped with "No buffer space available" (ENOBUFS): the TRACE rule '
    "matched too much traffic and the monitor could not keep up, so this trace is "
    "incomplete. Narrow the TRACE rule to the traffic under study, e.g. "
    "`iptables -t raw -A PREROUTING -s 172.17.0.0/16 -p tcp --syn -j TRACE`, "
    "as the seed article learned."
)
LOST_EVENTS_WARNING = (
    'nft monitor trace reported "We lost some netlink events!": some trace events are '
    "missing, so the path shown may be incomplete. Narrow the rule that sets "
    "`meta nftrace set 1` (e.g. `ip saddr 172.17.0.0/16 tcp flags syn`)."
)

_ZONE_CHAIN = re.compile(r"^filter_FWDI_(?P<zone>.+?)(?:_(?:pre|log|deny|allow|post))?$")


@dataclass
class Analysis:
    """The result of :func:`analyse`: the parsed trace, the verdict (None when the trace
    holds no decided packet) and the warnings, which are useful even without a verdict."""

    trace: Trace
    verdict: TraceVerdict | None
    warnings: list[str] = field(default_factory=list)

    @property
    def diagnosis(self) -> str:
        return self.verdict.diagnosis if self.verdict else ""


def analyse(text: str) -> Analysis:
    """Parse trace output, pick the most relevant packet, decide and diagnose it."""
    trace = parse_text(text)
    return Analysis(trace=trace, verdict=decide(trace), warnings=trace_warnings(trace))


def trace_warnings(trace: Trace) -> list[str]:
    """Warnings about the capture itself (ENOBUFS, lost netlink events)."""
    warnings = []
    if trace.enobufs:
        warnings.append(ENOBUFS_WARNING)
    if trace.lost_events:
        warnings.append(LOST_EVENTS_WARNING)
    return warnings


def is_docker_bridge(ifname: str) -> bool:
    return ifname == "docker0" or ifname.startswith("br-")


def is_container_packet(info: PacketInfo) -> bool:
    """Source address in 172.16.0.0/12, or arriving on a Docker bridge."""
    if is_docker_bridge(info.iif):
        return True
    try:
        return ipaddress.ip_address(info.src) in CONTAINER_NETWORK
    except ValueError:
        return False


def is_forwarded(events: list[TraceEvent], info: PacketInfo) -> bool:
    """The packet was routed through the host (has both interfaces, or hit a forward chain)."""
    if info.iif and info.oif:
        return True
    return any("FORWARD" in e.chain.upper() or "FWD" in e.chain.upper() for e in events)


def choose_packet(trace: Trace) -> str | None:
    """The most relevant packet id: a dropped container packet, else the first forwarded
    container packet, else the first packet."""
    if not trace.packets:
        return None
    container = [pid for pid in trace.packets if is_container_packet(trace.info(pid))]
    for pid in container:
        if any(e.blocks for e in trace.packets[pid]):
            return pid
    for pid in container:
        if is_forwarded(trace.packets[pid], trace.info(pid)):
            return pid
    return next(iter(trace.packets))


def is_filter_stage(event: TraceEvent) -> bool:
    return event.table == "filter" or event.chain.startswith("filter_")


def deciding_event(events: list[TraceEvent]) -> TraceEvent | None:
    """The event that decided the packet's fate (see the module docstring)."""
    verdicts = [e for e in events if e.kind != "packet"]
    for ev in verdicts:
        if ev.blocks:
            return ev
    accepts = [e for e in verdicts if e.verdict == "accept"]
    filter_accepts = [e for e in accepts if is_filter_stage(e)]
    if filter_accepts:
        return filter_accepts[-1]
    if accepts:
        return accepts[-1]
    return verdicts[-1] if verdicts else None


def packet_path(events: list[TraceEvent]) -> list[str]:
    """``"family table chain"`` hops in order, consecutive duplicates removed."""
    path: list[str] = []
    for ev in events:
        if not ev.chain:
            continue  # xtables-monitor PACKET lines name no chain
        if not path or path[-1] != ev.hop:
            path.append(ev.hop)
    return path


def rule_label(event: TraceEvent) -> str:
    """Rule text if printed, else ``"policy drop"`` / ``"handle 0x27"``."""
    if event.rule:
        return event.rule
    if event.kind == "policy":
        return f"policy {event.verdict}"
    if event.handle:
        return f"handle {event.handle}"
    return ""


def decide(trace: Trace, packet_id: str | None = None) -> TraceVerdict | None:
    """The rule that decided a packet's fate, with path, diagnosis and warnings.

    With ``packet_id=None`` the most relevant packet is chosen (:func:`choose_packet`).
    Returns None if the trace has no such packet or the packet has no verdict events.
    """
    pid = choose_packet(trace) if packet_id is None else packet_id
    if pid is None or pid not in trace.packets:
        return None
    events = trace.packets[pid]
    ev = deciding_event(events)
    if ev is None:
        return None
    verdict = TraceVerdict(
        family=ev.family,
        table=ev.table,
        chain=ev.chain,
        verdict=ev.verdict,
        rule=rule_label(ev),
        tool=ev.tool,
        path=packet_path(events),
        warnings=trace_warnings(trace),
        packet_id=pid,
    )
    verdict.diagnosis = _diagnose(verdict, trace, pid, ev)
    return verdict


def diagnose(verdict: TraceVerdict, trace: Trace) -> str:
    """Plain-English diagnosis of ``verdict`` (as made by :func:`decide` from ``trace``)."""
    pid = verdict.packet_id if verdict.packet_id in trace.packets else None
    ev = deciding_event(trace.packets[pid]) if pid is not None else None
    return _diagnose(verdict, trace, pid, ev)


def _zone_of(events: list[TraceEvent], path: list[str]) -> str:
    """The firewalld zone whose forward-in chain (``filter_FWDI_<zone>``) the packet took."""
    for ev in events:
        if ev.verdict in ("goto", "jump") and ev.target:
            m = _ZONE_CHAIN.match(ev.target)
            if m:
                return m["zone"]
    for hop in path:
        m = _ZONE_CHAIN.match(hop.split(" ")[-1])
        if m:
            return m["zone"]
    return ""


def _bridge_bound_to_zone(events: list[TraceEvent], bridge: str) -> bool:
    """True if the rule that sent the packet to its zone matched on the bridge's name
    (``iifname "docker0" goto filter_FWDI_docker``), i.e. the bridge is in that zone."""
    for ev in events:
        if ev.chain == "filter_FORWARD_IN_ZONES" and ev.verdict in ("goto", "jump"):
            if f'"{bridge}"' in ev.rule or re.search(rf"-i\s+{re.escape(bridge)}\b", ev.rule):
                return True
    return False


def _diagnose(verdict: TraceVerdict, trace: Trace, pid: str | None, ev: TraceEvent | None) -> str:
    events = trace.packets.get(pid, []) if pid is not None else []
    info = trace.info(pid) if pid is not None else PacketInfo()
    bridge = info.iif if is_docker_bridge(info.iif) else ""
    zone = _zone_of(events, verdict.path)
    blocked = verdict.verdict in ("drop", "reject")
    rejected = verdict.verdict == "reject" or (ev is not None and ev.is_reject)
    flow = _flow(info)

    if blocked and bridge and verdict.table == "firewalld" and verdict.chain == "filter_FORWARD":
        action = "rejected" if rejected else "dropped"
        if not rejected and verdict.tool == "xtables-monitor":
            action += " (xtables-monitor prints a reject as DROP, too)"
        docker_accept = any(
            e.table == "filter" and e.chain == "FORWARD" and e.verdict == "accept" for e in events
        )
        saved = (
            "Docker's ACCEPT in `ip filter FORWARD` (seen earlier in this trace) does not save it"
            if docker_accept
            else "Even an ACCEPT in Docker's `ip filter FORWARD` would not save it"
        )
        if zone and _bridge_bound_to_zone(events, bridge):
            why = (
                f"{bridge} is in firewalld zone `{zone}`, and that zone does not accept "
                "forwarded traffic"
            )
        else:
            fallback = f"`{zone}`" if zone else "(`public` unless changed)"
            why = (
                f"{bridge} is in no firewalld zone, so its traffic falls through to the "
                f"default zone {fallback}, which does not accept forwarded traffic"
            )
        return (
            f"firewalld's filter_FORWARD chain (inet firewalld) {action} traffic from "
            f"{bridge}{flow}: {why}. {saved}: a packet must be accepted by every base chain "
            "on the forward hook, and one drop is final. "
            "Fix: use Docker >= 20.10, which puts its bridges in the firewalld zone `docker` "
            f"(target ACCEPT); or run `firewall-cmd --permanent --zone=trusted "
            f"--add-interface={bridge}` (or use another zone with target ACCEPT), then "
            "`firewall-cmd --reload`. Don't stop firewalld without restarting docker "
            "afterwards: stopping firewalld flushes Docker's rules."
        )

    if verdict.verdict == "accept" and verdict.chain.startswith("filter_FWDI_"):
        m = _ZONE_CHAIN.match(verdict.chain)
        accept_zone = m["zone"] if m else zone
        who = bridge or info.iif or "the interface"
        if accept_zone == "docker":
            return (
                f"Accepted by inet firewalld filter_FWDI_docker{flow}: {who} is in firewalld "
                "zone `docker` (target ACCEPT), so firewalld's forward chain accepts it as "
                "well as Docker's. Docker 20.10's fix is in place."
            )
        return (
            f"Accepted by inet firewalld {verdict.chain}{flow}: {who} is in firewalld zone "
            f"`{accept_zone}`, whose forward rules accept it."
        )

    outcome = "reject" if rejected else verdict.verdict
    rule = f" ({verdict.rule})" if verdict.rule else ""
    return (
        f"The packet{flow} was decided in {verdict.family} {verdict.table} {verdict.chain}: "
        f"{outcome or 'no verdict'}{rule}."
    )


def _flow(info: PacketInfo) -> str:
    if not (info.src and info.dst):
        return ""
    port = f":{info.dport}" if info.dport else ""
    proto = f"{info.proto} " if info.proto else ""
    return f" ({proto}{info.src} -> {info.dst}{port})"
