"""Say in plain words what decided a packet, for the cases fwlab's labs are about."""

from __future__ import annotations

import re

from harness.models import PacketTrace

_ZONE_CHAIN = re.compile(r"^filter_FW(?:DI|D)_(?P<zone>.+?)(?:_(?:pre|log|deny|allow|post))?$")


def is_docker_bridge(ifname: str) -> bool:
    return ifname == "docker0" or ifname.startswith("br-")


def zone_of(trace: PacketTrace) -> str:
    """The firewalld zone whose forward chain (filter_FWDI_<zone>, filter_FWD_<zone>) the
    packet took."""
    for hop in trace.hops:
        m = _ZONE_CHAIN.match(hop.chain)
        if m and hop.table == "firewalld":
            return m["zone"]
    return ""


def diagnose(trace: PacketTrace) -> str:
    if trace.note and not trace.final:
        return trace.note[0].upper() + trace.note[1:] + "."
    hop = trace.deciding
    if hop is None:
        return ""
    bridge = trace.flow.get("iif", "")
    bridge = bridge if is_docker_bridge(bridge) else ""
    zone = zone_of(trace)
    flow = f" ({trace.packet})" if trace.packet and trace.packet != "?" else ""
    blocked = hop.verdict in ("drop", "reject")

    if (
        blocked
        and hop.table == "firewalld"
        and bridge
        and hop.chain.startswith(("filter_FORWARD", "filter_FWD"))
    ):
        action = "rejected" if hop.verdict == "reject" else "dropped"
        docker_accept = any(
            h.table == "filter" and h.chain == "FORWARD" and h.verdict == "accept"
            for h in trace.hops
        )
        saved = (
            "Docker's own ACCEPT in `ip filter FORWARD` (earlier in this trace) does not save it"
            if docker_accept
            else "An ACCEPT in Docker's `ip filter FORWARD` would not save it"
        )
        where = f"`{zone}`" if zone else "(`public` unless changed)"
        return (
            f"firewalld's {hop.chain} (inet firewalld) {action} traffic from {bridge}{flow}: "
            f"{bridge} is in no firewalld zone that accepts forwarded traffic, so it falls to "
            f"the zone {where}. {saved}: a packet must be accepted by every base chain on the "
            "forward hook, and one drop is final. Fix: Docker >= 20.10 puts its bridges in the "
            "firewalld zone `docker` (target ACCEPT); or `firewall-cmd --permanent "
            f"--zone=trusted --add-interface={bridge}` and `firewall-cmd --reload`. Stopping "
            "firewalld without restarting docker afterwards flushes Docker's rules."
        )
    if blocked and hop.table == "filter" and hop.chain == "FORWARD" and hop.rule == "policy drop":
        return (
            f"Dropped by the DROP policy of `ip filter FORWARD`{flow}: no rule accepted it. "
            "Docker sets that policy and adds its own ACCEPT rules; when they are gone (e.g. "
            "firewalld was stopped, which flushes them, and docker was not restarted) "
            "everything forwarded falls to the policy. Restart docker to put its rules back."
        )
    if hop.verdict == "accept" and hop.table == "firewalld" and zone:
        if zone == "docker":
            return (
                f"Accepted by inet firewalld {hop.chain}{flow}: the interface is in firewalld "
                "zone `docker` (target ACCEPT), so firewalld's forward chain accepts it as "
                "well as Docker's: Docker 20.10's fix is in place."
            )
        return f"Accepted by inet firewalld {hop.chain}{flow}: zone `{zone}` accepts it."
    rule = f" ({hop.rule})" if hop.rule else ""
    return f"The packet{flow} was decided in {hop.where}: {hop.verdict}{rule}."
