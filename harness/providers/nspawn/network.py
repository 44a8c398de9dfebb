"""A lab's network: a stand-in for VirtualBox NAT, entirely in namespaces we create.

    root namespace            wan namespace (ours)                  lab namespace
    fwlab<slot> ------------- mgmt0  100.127.s.2/30
    100.127.s.1/30            wan0   10.0.2.2/24 (gateway)  ------- eth0 10.0.2.15/24
                                     10.0.2.3/24 (resolver)         default via 10.0.2.2
                              lo     203.0.113.10 (the "internet" web server)

* SSH reaches the lab the way `vagrant ssh` reaches a VirtualBox NAT guest: the
  gateway forwards port 22 to 10.0.2.15, so the guest sees it come from 10.0.2.2.
* The wan namespace forwards nothing else. The lab can reach its gateway's
  resolver and web server and nothing beyond: the wan namespace has no route to
  anything but its two links, and its forward chain drops (and counts) every new
  flow that is not host -> lab SSH. The host's own namespace gets one veth with a
  /30 route while the lab lives; its netfilter rules are never touched.
"""

from __future__ import annotations

import ipaddress
import json
import os
from dataclasses import dataclass
from pathlib import Path

from harness import internet
from harness.errors import FwlabError
from harness.util import run

LAB_ADDR = "10.0.2.15"
GATEWAY = "10.0.2.2"
RESOLVER = "10.0.2.3"
MGMT_RANGE = os.environ.get("FWLAB_MGMT_RANGE", "100.127.0.0/16")

WAN_RULES = """\
table inet fwlab {{
    counter escape {{ }}
    counter ssh_in {{ }}
    chain prerouting {{
        type nat hook prerouting priority dstnat; policy accept;
        iifname "mgmt0" tcp dport 22 counter name ssh_in dnat ip to {lab}:22
    }}
    chain postrouting {{
        type nat hook postrouting priority srcnat; policy accept;
        oifname "wan0" ip saddr {host} masquerade
    }}
    chain forward {{
        type filter hook forward priority filter; policy drop;
        ct state established,related accept
        iifname "mgmt0" oifname "wan0" ip daddr {lab} tcp dport 22 accept
        counter name escape reject with icmpx type admin-prohibited
    }}
    chain output {{
        type filter hook output priority filter; policy accept;
        oifname "mgmt0" ct state new counter name escape drop
    }}
}}
"""


@dataclass(frozen=True)
class LabNet:
    name: str
    slot: int

    @property
    def lab_ns(self) -> str:
        return f"fwlab-{self.name}"

    @property
    def wan_ns(self) -> str:
        return f"fwlab-{self.name}-wan"

    @property
    def host_veth(self) -> str:
        return f"fwlab{self.slot}"

    @property
    def subnet(self) -> ipaddress.IPv4Network:
        return mgmt_subnet(self.slot)

    @property
    def host_addr(self) -> str:
        return str(self.subnet.network_address + 1)

    @property
    def ssh_addr(self) -> str:
        """Where the host connects for SSH: the gateway's side of the management link."""
        return str(self.subnet.network_address + 2)


def mgmt_subnet(slot: int, mgmt_range: str = MGMT_RANGE) -> ipaddress.IPv4Network:
    pool = ipaddress.ip_network(mgmt_range)
    subnets = pool.subnets(new_prefix=30)
    for index, subnet in enumerate(subnets):
        if index == slot:
            return subnet
    raise FwlabError(f"slot {slot} is outside {mgmt_range}")


def host_prefixes() -> list[ipaddress.IPv4Network]:
    """Every IPv4 prefix the root namespace already routes (default route aside)."""
    out = run(["ip", "-j", "-4", "route", "show", "table", "all"]).stdout
    prefixes = []
    for route in json.loads(out or "[]"):
        dst = route.get("dst", "")
        if dst in ("", "default"):
            continue
        try:
            prefixes.append(ipaddress.ip_network(dst if "/" in dst else dst + "/32", False))
        except ValueError:
            continue
    return prefixes


def pick_slot(
    taken: set[int],
    existing: list[ipaddress.IPv4Network],
    mgmt_range: str = MGMT_RANGE,
) -> int:
    """The first /30 in the range that no lab uses and no host route overlaps."""
    pool = ipaddress.ip_network(mgmt_range)
    if pool.prefixlen > 30:
        raise FwlabError(f"management range {mgmt_range} is smaller than a /30")
    for slot, subnet in enumerate(pool.subnets(new_prefix=30)):
        if slot in taken:
            continue
        if any(subnet.overlaps(p) for p in existing):
            continue
        return slot
    raise FwlabError(f"no free management subnet in {mgmt_range}")


def netns_exists(ns: str) -> bool:
    return Path("/run/netns", ns).exists()


def ns_run(ns: str, *cmd: str, check: bool = True, input: str | None = None) -> str:
    return run(["ip", "netns", "exec", ns, *cmd], check=check, input=input).stdout


def create(net: LabNet) -> None:
    """Create both namespaces, the links and the wan's rules. Caller cleans up on error."""
    for ns in (net.lab_ns, net.wan_ns):
        if netns_exists(ns):
            raise FwlabError(f"network namespace {ns} already exists")
        run(["ip", "netns", "add", ns])
    lab, wan = net.lab_ns, net.wan_ns
    run(["ip", "-n", lab, "link", "set", "lo", "up"])
    run(["ip", "-n", wan, "link", "set", "lo", "up"])
    run(["ip", "-n", wan, "addr", "add", f"{internet.ADDR}/32", "dev", "lo"])
    # The NAT link: lab eth0 <-> wan0.
    run(["ip", "-n", lab, "link", "add", "eth0", "type", "veth", "peer", "name", "wan0",
         "netns", wan])  # fmt: skip
    run(["ip", "-n", lab, "addr", "add", f"{LAB_ADDR}/24", "dev", "eth0"])
    run(["ip", "-n", lab, "link", "set", "eth0", "up"])
    run(["ip", "-n", lab, "route", "add", "default", "via", GATEWAY])
    for addr in (GATEWAY, RESOLVER):
        run(["ip", "-n", wan, "addr", "add", f"{addr}/24", "dev", "wan0"])
    run(["ip", "-n", wan, "link", "set", "wan0", "up"])
    # The management link: root namespace <-> wan namespace.
    run(["ip", "link", "add", net.host_veth, "type", "veth", "peer", "name", "mgmt0",
         "netns", wan])  # fmt: skip
    prefix = net.subnet.prefixlen
    run(["ip", "addr", "add", f"{net.host_addr}/{prefix}", "dev", net.host_veth])
    run(["ip", "link", "set", net.host_veth, "up"])
    run(["ip", "-n", wan, "addr", "add", f"{net.ssh_addr}/{prefix}", "dev", "mgmt0"])
    run(["ip", "-n", wan, "link", "set", "mgmt0", "up"])
    # Per-namespace sysctl: only the wan namespace forwards, and only what its rules allow.
    ns_run(wan, "sysctl", "-q", "-w", "net.ipv4.ip_forward=1")
    ns_run(wan, "nft", "-f", "-", input=WAN_RULES.format(lab=LAB_ADDR, host=net.host_addr))


def escape_count(net: LabNet) -> int:
    """Packets the wan namespace dropped because they tried to leave the lab."""
    out = ns_run(net.wan_ns, "nft", "-j", "list", "counter", "inet", "fwlab", "escape")
    for item in json.loads(out)["nftables"]:
        if "counter" in item:
            return int(item["counter"]["packets"])
    raise FwlabError("escape counter not found")


def destroy(net: LabNet) -> list[str]:
    """Remove what create() made; safe to call on a half-made network."""
    removed = []
    if Path("/sys/class/net", net.host_veth).exists():
        run(["ip", "link", "del", net.host_veth], check=False)
        removed.append(f"veth {net.host_veth}")
    for ns in (net.lab_ns, net.wan_ns):
        if netns_exists(ns):
            run(["ip", "netns", "del", ns], check=False)
            removed.append(f"netns {ns}")
    return removed
