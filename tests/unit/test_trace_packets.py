"""harness.trace.packets and harness.trace.analyse: events grouped into packets, each
packet's path, and what decided it (only final verdicts are verdicts)."""

from __future__ import annotations

import pytest

from harness.models import Rule
from harness.trace import (
    ELIDED_WARNING,
    ENOBUFS_WARNING,
    LOST_EVENTS_WARNING,
    Capture,
    analyse,
)
from harness.trace.parse import TOOL_KLOG, TOOL_KTRACE, TOOL_NFT, TOOL_XT


def lines(*rows: str) -> str:
    return "\n".join(rows) + "\n"


def wheres(capture: Capture, n: int) -> list[str]:
    return [h.where for h in capture.packets[n].hops]


# Packet lines, as nft monitor trace prints them (the part after "packet: ").
SSH_SYN = (
    'iif "eth0" ether saddr 52:54:00:12:35:02 ether daddr 08:00:27:4a:1c:9e ip saddr 198.51.100.7 '
    "ip daddr 10.0.2.15 ip dscp cs0 ip ecn not-ect ip ttl 57 ip id 4711 ip protocol tcp "
    "ip length 60 tcp sport 51514 tcp dport 22 tcp flags == syn tcp window 64240"
)
SNMP = (
    'iif "eth0" ether saddr 52:54:00:12:35:02 ether daddr 08:00:27:4a:1c:9e ip saddr 198.51.100.7 '
    "ip daddr 10.0.2.15 ip dscp cs0 ip ecn not-ect ip ttl 57 ip id 4712 ip protocol udp "
    "ip length 78 udp sport 40000 udp dport 161 udp length 58 @th,64,96 0x302c020101040670"
)
PING = (
    'iif "eth0" ether saddr 52:54:00:12:35:02 ether daddr 08:00:27:4a:1c:9e ip saddr 198.51.100.7 '
    "ip daddr 10.0.2.15 ip dscp cs0 ip ecn not-ect ip ttl 57 ip id 4713 ip protocol icmp "
    "ip length 84 icmp type echo-request icmp code net-unreachable icmp id 3149 "
    "icmp sequence 1 @th,64,96 0x2a7d3e6500000000a5e10d00"
)
EGRESS_SYN = (
    'iif "docker0" oif "eth0" ether saddr 02:42:ac:11:00:03 ether daddr 02:42:d7:a5:eb:79 '
    "ip saddr 172.17.0.3 ip daddr 203.0.113.10 ip dscp cs0 ip ecn not-ect ip ttl 63 ip id 22214 "
    "ip protocol tcp ip length 60 tcp sport 60254 tcp dport 80 tcp flags == syn tcp window 64240"
)

# Three packets to a host with an inet filter table; the first two interleave.
HOST_INPUT = lines(
    f"trace id 7a1b2c3d inet filter trace_pre packet: {SSH_SYN}",
    "trace id 7a1b2c3d inet filter trace_pre rule meta nftrace set 1 (verdict continue)",
    f"trace id 8b2c3d4e inet filter trace_pre packet: {SNMP}",
    "trace id 7a1b2c3d inet filter trace_pre verdict continue",
    "trace id 8b2c3d4e inet filter trace_pre rule meta nftrace set 1 (verdict continue)",
    "trace id 7a1b2c3d inet filter trace_pre policy accept",
    "trace id 8b2c3d4e inet filter trace_pre verdict continue",
    f"trace id 7a1b2c3d inet filter input packet: {SSH_SYN}",
    "trace id 8b2c3d4e inet filter trace_pre policy accept",
    "trace id 7a1b2c3d inet filter input rule tcp dport 22 ct state new counter packets 1 "
    "bytes 60 accept (verdict accept)",
    f"trace id 8b2c3d4e inet filter input packet: {SNMP}",
    "trace id 8b2c3d4e inet filter input verdict continue",
    "trace id 8b2c3d4e inet filter input policy drop",
    f"trace id 9c3d4e5f inet filter trace_pre packet: {PING}",
    "trace id 9c3d4e5f inet filter trace_pre rule meta nftrace set 1 (verdict continue)",
    "trace id 9c3d4e5f inet filter trace_pre verdict continue",
    "trace id 9c3d4e5f inet filter trace_pre policy accept",
    f"trace id 9c3d4e5f inet filter input packet: {PING}",
    "trace id 9c3d4e5f inet filter input rule icmp type echo-request accept (verdict accept)",
)


# -- 1. per packet ----------------------------------------------------------------------------
def test_every_packet_with_its_addresses_path_and_decision() -> None:
    capture = analyse(HOST_INPUT)
    assert capture.tools == [TOOL_NFT] and capture.unrecognised == 0
    assert len(capture.packets) == 3
    ssh, snmp, ping = capture.packets
    assert (ssh.flow["src"], ssh.flow["dst"], ssh.flow["proto"]) == (
        "198.51.100.7", "10.0.2.15", "tcp"
    )  # fmt: skip
    assert (ssh.flow["sport"], ssh.flow["dport"], ssh.ids) == ("51514", "22", ["7a1b2c3d"])
    assert (snmp.flow["proto"], snmp.flow["sport"], snmp.flow["dport"]) == ("udp", "40000", "161")
    assert (ping.flow["proto"], ping.flow["ipid"]) == ("icmp", "4713")
    assert ssh.packet == "tcp 198.51.100.7:51514 -> 10.0.2.15:22 (eth0 -> -)"
    for n in range(3):
        assert wheres(capture, n) == ["inet filter trace_pre", "inet filter input"]
    assert ssh.rule == Rule("inet", "filter", "input", "accept") and ssh.final
    assert ssh.deciding is not None
    assert ssh.deciding.rule == "tcp dport 22 ct state new counter packets 1 bytes 60 accept"
    assert snmp.rule == Rule("inet", "filter", "input", "drop")
    assert snmp.deciding is not None and snmp.deciding.rule == "policy drop"
    assert ping.rule == Rule("inet", "filter", "input", "accept")


def test_headline_is_the_dropped_packet() -> None:
    capture = analyse(HOST_INPUT)
    assert capture.headline is capture.packets[1]
    assert capture.verdict == Rule("inet", "filter", "input", "drop")
    assert capture.as_dict()["headline"] == 1
    assert capture.as_dict()["verdict"] == {
        "family": "inet", "table": "filter", "chain": "input", "verdict": "drop",
        "rule": "policy drop",
    }  # fmt: skip


def test_headline_without_a_blocked_packet_is_the_first_decided_one() -> None:
    capture = analyse(
        lines(
            f"trace id 8b2c3d4e inet filter trace_pre packet: {SNMP}",
            "trace id 8b2c3d4e inet filter trace_pre policy accept",
            f"trace id 7a1b2c3d inet filter input packet: {SSH_SYN}",
            "trace id 7a1b2c3d inet filter input rule tcp dport 22 accept (verdict accept)",
        )
    )
    assert [p.final for p in capture.packets] == [False, True]
    assert capture.headline is capture.packets[1]


def test_many_xtables_monitor_packets_headline_is_the_dropped_one() -> None:
    capture = analyse(
        lines(
            "PACKET: 2 1a2b3c4d IN=docker0 OUT=eth0 MACSRC=2:42:ac:11:0:2 "
            "MACDST=2:42:d7:a5:eb:79 MACPROTO=0800 SRC=172.17.0.2 DST=203.0.113.10 LEN=60 "
            "TOS=0x0 TTL=63 ID=5120DF SPORT=43210 DPORT=443 SYN ",
            " TRACE: 2 1a2b3c4d filter:FORWARD:rule:0x19d:JUMP:DOCKER-USER  -4 -t filter -A "
            "FORWARD -j DOCKER-USER",
            "PACKET: 2 5e6f7a8b IN=docker0 OUT=eth0 MACSRC=2:42:ac:11:0:3 "
            "MACDST=2:42:d7:a5:eb:79 MACPROTO=0800 SRC=172.17.0.3 DST=203.0.113.10 LEN=60 "
            "TOS=0x0 TTL=63 ID=22214DF SPORT=60254 DPORT=80 SYN ",
            " TRACE: 2 1a2b3c4d filter:DOCKER-USER:rule:0x194:0xfffffffb  -4 -t filter -A "
            "DOCKER-USER -j RETURN",
            " TRACE: 2 5e6f7a8b filter:FORWARD:rule:0x19d:JUMP:DOCKER-USER  -4 -t filter -A "
            "FORWARD -j DOCKER-USER",
            " TRACE: 2 5e6f7a8b filter:DOCKER-USER:rule:0x195:DROP  -4 -t filter -A DOCKER-USER "
            "-s 172.17.0.3/32 -j DROP",
            " TRACE: 2 1a2b3c4d filter:FORWARD:rule:0x18d:ACCEPT  -4 -t filter -A FORWARD "
            "-i docker0 ! -o docker0 -j ACCEPT",
        )
    )
    assert capture.tools == [TOOL_XT]
    first, second = capture.packets
    assert (first.flow["src"], first.flow["dport"], first.flow["mac"]) == (
        "172.17.0.2", "443", "02:42:ac:11:00:02"
    )  # fmt: skip
    assert [h.verdict for h in first.hops] == ["jump", "return", "accept"]
    assert first.rule == Rule("ip", "filter", "FORWARD", "accept")
    assert second.flow["src"] == "172.17.0.3"
    assert second.rule == Rule("ip", "filter", "DOCKER-USER", "drop")
    assert capture.headline is second


# -- 2. only final verdicts are verdicts ---------------------------------------------------------
FINAL = {
    "drop in raw": (
        lines(
            f"trace id 3e4f5a6b ip raw PREROUTING packet: {SSH_SYN}",
            "trace id 3e4f5a6b ip raw PREROUTING rule ip saddr 198.51.100.0/24 counter packets 3 "
            "bytes 180 drop (verdict drop)",
        ),
        Rule("ip", "raw", "PREROUTING", "drop"),
    ),
    "drop in mangle": (
        lines(
            f"trace id 3e4f5a6b inet fw4 mangle_prerouting packet: {SSH_SYN}",
            "trace id 3e4f5a6b inet fw4 mangle_prerouting rule ct state invalid counter packets "
            "2 bytes 120 drop (verdict drop)",
        ),
        Rule("inet", "fw4", "mangle_prerouting", "drop"),
    ),
    "drop in the bridge family": (
        lines(
            'trace id 6d9a826f bridge filter FORWARD packet: iif "veth89eeb77" oif "veth1cd76c2" '
            "ether saddr 02:42:ac:13:00:03 ether daddr 02:42:ac:13:00:02 ip saddr 172.19.0.3 "
            "ip daddr 172.19.0.2 ip dscp cs0 ip ecn not-ect ip ttl 64 ip id 11144 ip protocol tcp "
            "ip length 60 tcp sport 39771 tcp dport 80 tcp flags == syn tcp window 29200",
            "trace id 6d9a826f bridge filter FORWARD rule ip saddr 172.19.0.3 drop (verdict drop)",
        ),
        Rule("bridge", "filter", "FORWARD", "drop"),
    ),
    "reject in input": (
        lines(
            f"trace id 4f5a6b7c inet filter input packet: {SSH_SYN}",
            "trace id 4f5a6b7c inet filter input rule tcp dport 22 reject with tcp reset "
            "(verdict drop)",
        ),
        Rule("inet", "filter", "input", "reject"),
    ),
    "accept in forward": (
        lines(
            f"trace id 5a6b7c8d inet filter forward packet: {EGRESS_SYN}",
            'trace id 5a6b7c8d inet filter forward rule iifname "docker0" accept (verdict accept)',
        ),
        Rule("inet", "filter", "forward", "accept"),
    ),
    "accept in input": (
        lines(
            f"trace id 6b7c8d9e ip filter INPUT packet: {SSH_SYN}",
            "trace id 6b7c8d9e ip filter INPUT policy accept ",
        ),
        Rule("ip", "filter", "INPUT", "accept"),
    ),
    "accept in output": (
        lines(
            'trace id 7c8d9e0f ip filter OUTPUT packet: oif "eth0" ip saddr 10.0.2.15 '
            "ip daddr 203.0.113.10 ip dscp cs0 ip ecn not-ect ip ttl 64 ip id 36001 ip length 60 "
            "tcp sport 46284 tcp dport 80 tcp flags == syn tcp window 64240",
            "trace id 7c8d9e0f ip filter OUTPUT policy accept",
        ),
        Rule("ip", "filter", "OUTPUT", "accept"),
    ),
    "accept in postrouting": (
        lines(
            'trace id 8d9e0f1a inet filter postrouting packet: oif "eth0" ip saddr 10.0.2.15 '
            "ip daddr 203.0.113.10 ip dscp cs0 ip ecn not-ect ip ttl 64 ip id 36001 "
            "ip protocol tcp ip length 60 tcp sport 46284 tcp dport 80 tcp flags == syn "
            "tcp window 64240",
            'trace id 8d9e0f1a inet filter postrouting rule oifname "eth0" accept (verdict accept)',
        ),
        Rule("inet", "filter", "postrouting", "accept"),
    ),
    "xtables-monitor accept in a firewalld zone chain": (
        lines(
            "PACKET: 1 3d40dc2c IN=docker0 OUT=eth0 NFPROTO=2 MACSRC=2:42:ac:11:0:3 "
            "MACDST=2:42:d7:a5:eb:79 MACPROTO=0800 SRC=172.17.0.3 DST=203.0.113.10 LEN=60 "
            "TOS=0x0 TTL=63 ID=38529DF SPORT=41048 DPORT=80 SYN ",
            " TRACE: 1 3d40dc2c firewalld:filter_FORWARD_IN_ZONES:rule:0x2d:GOTO:"
            "filter_FWDI_docker  ",
            " TRACE: 1 3d40dc2c firewalld:filter_FWDI_docker:rule:0xab:ACCEPT  ",
        ),
        Rule("inet", "firewalld", "filter_FWDI_docker", "accept"),
    ),
}


@pytest.mark.parametrize("text,rule", list(FINAL.values()), ids=list(FINAL))
def test_final_verdicts(text: str, rule: Rule) -> None:
    (packet,) = analyse(text).packets
    assert packet.final
    assert packet.rule == rule
    assert packet.note == ""


NOT_FINAL = {
    "policy accept in raw": (
        lines(
            f"trace id 0a1b2c3d ip raw PREROUTING packet: {SSH_SYN}",
            "trace id 0a1b2c3d ip raw PREROUTING policy accept ",
        ),
        "ip raw PREROUTING",
    ),
    "rule accept in raw": (
        lines(
            f"trace id 0a1b2c3d ip raw PREROUTING packet: {SSH_SYN}",
            "trace id 0a1b2c3d ip raw PREROUTING rule ip saddr 198.51.100.7 notrack accept "
            "(verdict accept)",
        ),
        "ip raw PREROUTING",
    ),
    "xtables-monitor policy accept in raw": (
        lines(
            "PACKET: 2 be722d32 IN=docker0 MACSRC=2:42:ac:11:0:3 MACDST=2:42:d7:a5:eb:79 "
            "MACPROTO=0800 SRC=172.17.0.3 DST=203.0.113.10 LEN=60 TOS=0x0 TTL=64 ID=22214DF "
            "SPORT=60254 DPORT=80 SYN ",
            " TRACE: 2 be722d32 raw:PREROUTING:rule:0xd:CONTINUE  -4 -t raw -A PREROUTING "
            "-s 172.16.0.0/12 -p tcp -m tcp --tcp-flags FIN,SYN,RST,ACK SYN -j TRACE",
            " TRACE: 2 be722d32 raw:PREROUTING:policy:ACCEPT ",
        ),
        "ip raw PREROUTING",
    ),
    "mangle accept at the forward hook": (
        lines(
            f"trace id 1b2c3d4e ip mangle FORWARD packet: {EGRESS_SYN}",
            "trace id 1b2c3d4e ip mangle FORWARD verdict continue",
            "trace id 1b2c3d4e ip mangle FORWARD policy accept",
        ),
        "ip mangle FORWARD",
    ),
    "fw4 mangle_forward policy accept": (
        lines(
            "trace id 9c07fc2b inet fw4 prerouting policy accept ",
            f"trace id 9c07fc2b inet fw4 mangle_forward packet: {EGRESS_SYN}",
            "trace id 9c07fc2b inet fw4 mangle_forward policy accept ",
        ),
        "inet fw4 mangle_forward",
    ),
    "dnat shown as accept": (
        lines(
            'trace id 9c01f8 inet nat prerouting packet: iif "enp0" ether saddr .. '
            "ip saddr 10.2.1.2 ip daddr 10.1.2.3 ip protocol tcp tcp dport 1222 tcp flags == syn",
            "trace id 9c01f8 inet nat prerouting rule ip daddr 10.1.2.3 tcp dport 1222 "
            "dnat ip to 192.168.70.10:22 (verdict accept)",
        ),
        "inet nat prerouting",
    ),
    "masquerade shown as accept at postrouting": (
        lines(
            'trace id 2c3d4e5f ip nat POSTROUTING packet: oif "eth0" ip saddr 172.17.0.3 '
            "ip daddr 203.0.113.10 ip dscp cs0 ip ecn not-ect ip ttl 63 ip id 22214 ip length 60 "
            "tcp sport 60254 tcp dport 80 tcp flags == syn tcp window 64240",
            'trace id 2c3d4e5f ip nat POSTROUTING rule oifname != "docker0" ip saddr '
            "172.17.0.0/16 counter packets 1 bytes 60 masquerade (verdict accept)",
        ),
        "ip nat POSTROUTING",
    ),
    "kube-proxy dnat in a chain that does not say nat": (
        lines(
            'trace id 8a9b3c4d ip kube-proxy nat-output packet: oif "eth0" ip saddr 10.0.0.5 '
            "ip daddr 172.30.0.41 ip dscp cs0 ip ecn not-ect ip ttl 64 ip id 40321 "
            "ip protocol tcp ip length 60 tcp sport 40000 tcp dport 80 tcp flags == syn "
            "tcp window 64240",
            "trace id 8a9b3c4d ip kube-proxy nat-output rule jump services (verdict jump services)",
            "trace id 8a9b3c4d ip kube-proxy services rule ip daddr . meta l4proto . th dport "
            "vmap @service-ips (verdict goto service-ULMVA6XW-ns1/svc1/tcp/p80)",
            "trace id 8a9b3c4d ip kube-proxy service-ULMVA6XW-ns1/svc1/tcp/p80 rule numgen random "
            "mod 1 vmap { 0 : goto endpoint-5OJB2KTY-ns1/svc1/tcp/p80__10.180.0.1/80 } "
            "(verdict goto endpoint-5OJB2KTY-ns1/svc1/tcp/p80__10.180.0.1/80)",
            "trace id 8a9b3c4d ip kube-proxy endpoint-5OJB2KTY-ns1/svc1/tcp/p80__10.180.0.1/80 "
            "rule meta l4proto tcp dnat to 10.180.0.1:80 (verdict accept)",
        ),
        "ip kube-proxy endpoint-5OJB2KTY-ns1/svc1/tcp/p80__10.180.0.1/80",
    ),
    "docker nftables masquerade in a chain that does not say nat": (
        lines(
            'trace id 1f0e2d3c ip docker-bridges nat-postrouting-out__docker0 packet: oif "eth0" '
            "ip saddr 172.17.0.3 ip daddr 203.0.113.10 ip dscp cs0 ip ecn not-ect ip ttl 63 "
            "ip id 22214 ip protocol tcp ip length 60 tcp sport 60254 tcp dport 80 "
            "tcp flags == syn tcp window 64240",
            "trace id 1f0e2d3c ip docker-bridges nat-postrouting-out__docker0 rule oifname != "
            '"docker0" ip saddr 172.17.0.0/16 counter packets 3 bytes 180 masquerade '
            "(verdict accept)",
        ),
        "ip docker-bridges nat-postrouting-out__docker0",
    ),
    "xtables-monitor DNAT shown as ACCEPT": (
        lines(
            "PACKET: 2 0427ffe5 OUT=enp3s0 SRC=192.168.1.88 DST=10.43.156.98 LEN=60 TOS=0x0 "
            "TTL=64 ID=45471DF SPORT=49058 DPORT=9898 SYN",
            " TRACE: 2 0427ffe5 nat:KUBE-SEP-OYNVDBAPYJ623W6H:rule:0x4721:ACCEPT  -4 -t nat -A "
            'KUBE-SEP-OYNVDBAPYJ623W6H -p tcp -m comment --comment "podinfo/frontend-podinfo:http"'
            " -m tcp -j DNAT --to-destination 10.42.54.194:9898",
        ),
        "ip nat KUBE-SEP-OYNVDBAPYJ623W6H",
    ),
    "bridge family policy accept": (
        lines(
            'trace id 13ca8ca9 bridge filter trace_chain packet: iif "veth1cd76c2" '
            'oif "veth89eeb77" ether saddr 02:42:ac:13:00:02 ether daddr 02:42:ac:13:00:03 '
            "ip saddr 172.19.0.2 ip daddr 172.19.0.3 ip dscp cs0 ip ecn not-ect ip ttl 64 "
            "ip id 0 ip protocol tcp ip length 60 tcp sport 80 tcp dport 39771 "
            "tcp flags == syn|ack tcp window 28960",
            "trace id 13ca8ca9 bridge filter trace_chain rule meta nftrace set 1 "
            "(verdict continue)",
            "trace id 13ca8ca9 bridge filter trace_chain verdict continue",
            "trace id 13ca8ca9 bridge filter trace_chain policy accept",
            "trace id 13ca8ca9 bridge filter FORWARD verdict continue",
            "trace id 13ca8ca9 bridge filter FORWARD policy accept",
        ),
        "bridge filter FORWARD",
    ),
    "cut after a jump": (
        lines(
            f"trace id 5a6b7c8d ip filter FORWARD packet: {EGRESS_SYN}",
            "trace id 5a6b7c8d ip filter FORWARD rule counter packets 86 bytes 6445 jump "
            "DOCKER-USER (verdict jump DOCKER-USER)",
        ),
        "ip filter FORWARD",
    ),
}


@pytest.mark.parametrize("text,last", list(NOT_FINAL.values()), ids=list(NOT_FINAL))
def test_no_final_verdict(text: str, last: str) -> None:
    capture = analyse(text)
    (packet,) = capture.packets
    assert packet.final is False
    assert packet.rule is None
    assert packet.last_seen == last
    assert packet.note.startswith(f"no final verdict in this capture: last seen in {last}")
    assert packet.diagnosis.startswith("No final verdict in this capture")
    assert capture.verdict is None
    assert capture.as_dict()["verdict"] is None


def test_a_reject_after_an_accept_is_final() -> None:
    """Docker's accept in ip filter FORWARD does not save a packet firewalld rejects."""
    capture = analyse(
        lines(
            f"trace id 64925536 ip filter FORWARD packet: {EGRESS_SYN}",
            'trace id 64925536 ip filter FORWARD rule iifname "docker0" oifname != "docker0" '
            "counter packets 15 bytes 962 accept (verdict accept)",
            f"trace id 64925536 inet firewalld filter_FORWARD packet: {EGRESS_SYN}",
            "trace id 64925536 inet firewalld filter_FORWARD rule jump filter_FORWARD_IN_ZONES "
            "(verdict jump filter_FORWARD_IN_ZONES)",
            "trace id 64925536 inet firewalld filter_FORWARD_IN_ZONES rule goto filter_FWDI_public "
            "(verdict goto filter_FWDI_public)",
            "trace id 64925536 inet firewalld filter_FWDI_public rule jump filter_FWDI_public_post "
            "(verdict jump filter_FWDI_public_post)",
            "trace id 64925536 inet firewalld filter_FORWARD rule reject with icmpx type "
            "admin-prohibited (verdict drop)",
        )
    )
    (packet,) = capture.packets
    assert packet.rule == Rule("inet", "firewalld", "filter_FORWARD", "reject")
    assert packet.decision == len(packet.hops) - 1
    assert packet.hops[0].verdict == "accept"
    assert "no firewalld zone" in packet.diagnosis and "docker0" in packet.diagnosis


def test_the_last_filter_accept_decides() -> None:
    capture = analyse(
        lines(
            f"trace id 3d40dc2c ip filter FORWARD packet: {EGRESS_SYN}",
            'trace id 3d40dc2c ip filter FORWARD rule iifname "docker0" oifname != "docker0" '
            "counter packets 6 bytes 395 accept (verdict accept)",
            f"trace id 3d40dc2c inet firewalld filter_FORWARD packet: {EGRESS_SYN}",
            "trace id 3d40dc2c inet firewalld filter_FORWARD rule jump filter_FORWARD_IN_ZONES "
            "(verdict jump filter_FORWARD_IN_ZONES)",
            'trace id 3d40dc2c inet firewalld filter_FORWARD_IN_ZONES rule iifname "docker0" '
            "goto filter_FWDI_docker (verdict goto filter_FWDI_docker)",
            "trace id 3d40dc2c inet firewalld filter_FWDI_docker rule accept (verdict accept)",
            'trace id 3d40dc2c ip nat POSTROUTING packet: oif "eth0" ip saddr 172.17.0.3 '
            "ip daddr 203.0.113.10 ip dscp cs0 ip ecn not-ect ip ttl 63 ip id 22214 ip length 60 "
            "tcp sport 60254 tcp dport 80 tcp flags == syn tcp window 64240",
            'trace id 3d40dc2c ip nat POSTROUTING rule oifname != "docker0" ip saddr '
            "172.17.0.0/16 counter packets 1 bytes 60 masquerade (verdict accept)",
        )
    )
    (packet,) = capture.packets
    assert packet.rule == Rule("inet", "firewalld", "filter_FWDI_docker", "accept")
    assert packet.last_seen == "ip nat POSTROUTING"
    assert "zone `docker`" in packet.diagnosis


# -- 4. trace ids, families, verdict words ---------------------------------------------------------
DNAT_PRE = (
    'iif "eth0" ether saddr 52:54:00:12:35:02 ether daddr 08:00:27:4a:1c:9e ip saddr 198.51.100.7 '
    "ip daddr 10.0.2.15 ip dscp cs0 ip ecn not-ect ip ttl 57 ip id 31337 ip length 60 "
    "tcp sport 51514 tcp dport 8080 tcp flags == syn tcp window 64240"
)
DNAT_FWD = (
    'iif "eth0" oif "docker0" ether saddr 52:54:00:12:35:02 ether daddr 08:00:27:4a:1c:9e '
    "ip saddr 198.51.100.7 ip daddr 172.17.0.2 ip dscp cs0 ip ecn not-ect ip ttl 56 ip id 31337 "
    "ip length 60 tcp sport 51514 tcp dport 80 tcp flags == syn tcp window 64240"
)


def test_new_trace_id_at_a_later_hook_is_the_same_packet_even_after_dnat() -> None:
    capture = analyse(
        lines(
            f"trace id 5a1b2c3d ip raw PREROUTING packet: {DNAT_PRE}",
            "trace id 5a1b2c3d ip raw PREROUTING policy accept",
            f"trace id 5a1b2c3d ip nat PREROUTING packet: {DNAT_PRE}",
            "trace id 5a1b2c3d ip nat PREROUTING rule fib daddr type local counter packets 4 "
            "bytes 240 jump DOCKER (verdict jump DOCKER)",
            'trace id 5a1b2c3d ip nat DOCKER rule iifname != "docker0" meta l4proto tcp '
            "tcp dport 8080 counter packets 1 bytes 60 dnat to 172.17.0.2:80 (verdict accept)",
            f"trace id 9e8d7c6b ip filter FORWARD packet: {DNAT_FWD}",
            "trace id 9e8d7c6b ip filter FORWARD rule counter packets 9 bytes 540 jump "
            "DOCKER-USER (verdict jump DOCKER-USER)",
            "trace id 9e8d7c6b ip filter DOCKER-USER verdict return",
            'trace id 9e8d7c6b ip filter FORWARD rule oifname "docker0" counter packets 1 '
            "bytes 60 jump DOCKER (verdict jump DOCKER)",
            'trace id 9e8d7c6b ip filter DOCKER rule ip daddr 172.17.0.2 iifname != "docker0" '
            'oifname "docker0" meta l4proto tcp tcp dport 80 counter packets 1 bytes 60 accept '
            "(verdict accept)",
        )
    )
    (packet,) = capture.packets
    assert packet.ids == ["5a1b2c3d", "9e8d7c6b"]
    assert [h.where for h in packet.hops] == [
        "ip raw PREROUTING", "ip nat PREROUTING", "ip nat DOCKER", "ip filter FORWARD",
        "ip filter DOCKER-USER", "ip filter FORWARD", "ip filter DOCKER",
    ]  # fmt: skip
    assert packet.rule == Rule("ip", "filter", "DOCKER", "accept")
    assert packet.hops[2].verdict == "accept"  # the DNAT: shown as accept, not the fate


def test_xtables_monitor_new_trace_id_at_a_later_hook_is_the_same_packet() -> None:
    capture = analyse(
        lines(
            "PACKET: 2 be722d32 IN=docker0 MACSRC=2:42:ac:11:0:3 MACDST=2:42:d7:a5:eb:79 "
            "MACPROTO=0800 SRC=172.17.0.3 DST=203.0.113.10 LEN=60 TOS=0x0 TTL=64 ID=22214DF "
            "SPORT=60254 DPORT=80 SYN ",
            " TRACE: 2 be722d32 raw:PREROUTING:policy:ACCEPT ",
            "PACKET: 2 be722d32 IN=docker0 MACSRC=2:42:ac:11:0:3 MACDST=2:42:d7:a5:eb:79 "
            "MACPROTO=0800 SRC=172.17.0.3 DST=203.0.113.10 LEN=60 TOS=0x0 TTL=64 ID=22214DF "
            "SPORT=60254 DPORT=80 SYN ",
            " TRACE: 2 be722d32 nat:PREROUTING:policy:ACCEPT ",
            "PACKET: 2 c57faf6f IN=docker0 OUT=eth0 MACSRC=2:42:ac:11:0:3 "
            "MACDST=2:42:d7:a5:eb:79 MACPROTO=0800 SRC=172.17.0.3 DST=203.0.113.10 LEN=60 "
            "TOS=0x0 TTL=63 ID=22214DF SPORT=60254 DPORT=80 SYN ",
            " TRACE: 2 c57faf6f filter:FORWARD:rule:0x18d:ACCEPT  -4 -t filter -A FORWARD "
            "-i docker0 ! -o docker0 -j ACCEPT",
            "PACKET: 1 c57faf6f IN=docker0 OUT=eth0 NFPROTO=2 MACSRC=2:42:ac:11:0:3 "
            "MACDST=2:42:d7:a5:eb:79 MACPROTO=0800 SRC=172.17.0.3 DST=203.0.113.10 LEN=60 "
            "TOS=0x0 TTL=63 ID=22214DF SPORT=60254 DPORT=80 SYN ",
            " TRACE: 1 c57faf6f firewalld:filter_FORWARD:rule:0x27:DROP ",
        )
    )
    (packet,) = capture.packets
    assert packet.ids == ["be722d32", "c57faf6f"]
    assert packet.rule == Rule("inet", "firewalld", "filter_FORWARD", "drop")
    assert packet.hops[0].where == "ip raw PREROUTING"


def test_another_packet_under_a_new_id_is_not_merged() -> None:
    other = DNAT_FWD.replace("ip id 31337", "ip id 31338").replace("sport 51514", "sport 51516")
    capture = analyse(
        lines(
            f"trace id 5a1b2c3d ip raw PREROUTING packet: {DNAT_PRE}",
            "trace id 5a1b2c3d ip raw PREROUTING policy accept",
            f"trace id 9e8d7c6b ip filter FORWARD packet: {other}",
            "trace id 9e8d7c6b ip filter FORWARD policy drop",
        )
    )
    assert [p.ids for p in capture.packets] == [["5a1b2c3d"], ["9e8d7c6b"]]


def test_a_reused_trace_id_with_another_ip_id_is_another_packet() -> None:
    second = SSH_SYN.replace("ip id 4711", "ip id 4790").replace("sport 51514", "sport 51530")
    capture = analyse(
        lines(
            f"trace id 0b1c2d3e ip filter INPUT packet: {SSH_SYN}",
            "trace id 0b1c2d3e ip filter INPUT rule tcp dport 22 accept (verdict accept)",
            f"trace id 0b1c2d3e ip filter INPUT packet: {second}",
            "trace id 0b1c2d3e ip filter INPUT rule ip saddr 198.51.100.7 tcp dport 22 ct count "
            "over 1 drop (verdict drop)",
        )
    )
    first, other = capture.packets
    assert first.ids == other.ids == ["0b1c2d3e"]
    assert (first.flow["ipid"], other.flow["ipid"]) == ("4711", "4790")
    assert first.rule == Rule("ip", "filter", "INPUT", "accept")
    assert other.rule == Rule("ip", "filter", "INPUT", "drop")
    assert capture.headline is other


def test_the_same_packet_line_at_the_next_base_chain_is_not_a_new_packet() -> None:
    capture = analyse(
        lines(
            f"trace id 7a1b2c3d inet filter trace_pre packet: {SSH_SYN}",
            "trace id 7a1b2c3d inet filter trace_pre policy accept",
            f"trace id 7a1b2c3d inet filter input packet: {SSH_SYN}",
            "trace id 7a1b2c3d inet filter input policy accept",
        )
    )
    assert len(capture.packets) == 1


def test_interleaved_nft_lines_of_two_packets() -> None:
    capture = analyse(HOST_INPUT)
    ssh, snmp = capture.packets[:2]
    assert [h.verdict for h in ssh.hops] == ["accept", "accept"]
    assert [h.rule for h in snmp.hops] == ["policy accept", "policy drop"]


def test_unknown_rule_handle_verdict() -> None:
    capture = analyse(
        lines(
            f"trace id 7d3e9a01 ip filter INPUT packet: {SSH_SYN}",
            "trace id 7d3e9a01 ip filter INPUT unknown rule handle 7 (verdict accept)",
        )
    )
    (packet,) = capture.packets
    assert packet.rule == Rule("ip", "filter", "INPUT", "accept")
    assert packet.deciding is not None and packet.deciding.rule == "unknown rule handle 7"


def test_verdict_continue_and_return_are_not_fates() -> None:
    capture = analyse(
        lines(
            f"trace id 5a6b7c8d ip filter FORWARD packet: {EGRESS_SYN}",
            "trace id 5a6b7c8d ip filter FORWARD rule counter packets 86 bytes 6445 jump "
            "DOCKER-USER (verdict jump DOCKER-USER)",
            "trace id 5a6b7c8d ip filter DOCKER-USER verdict return",
            "trace id 5a6b7c8d ip filter FORWARD verdict continue",
        )
    )
    (packet,) = capture.packets
    assert [(h.chain, h.verdict) for h in packet.hops] == [
        ("FORWARD", "jump"), ("DOCKER-USER", "return"), ("FORWARD", "continue"),
    ]  # fmt: skip
    assert not packet.final and packet.rule is None


def test_reject_shown_as_drop_is_a_reject() -> None:
    capture = analyse(
        lines(
            f"trace id 64925536 inet firewalld filter_FORWARD packet: {EGRESS_SYN}",
            "trace id 64925536 inet firewalld filter_FORWARD rule reject with icmpx type "
            "admin-prohibited (verdict drop)",
        )
    )
    assert capture.verdict == Rule("inet", "firewalld", "filter_FORWARD", "reject")
    assert capture.as_dict()["verdict"]["rule"] == "reject with icmpx type admin-prohibited"


def test_ipv6_in_the_inet_family() -> None:
    v6 = (
        'iif "eth0" ether saddr 52:54:00:12:35:02 ether daddr 08:00:27:4a:1c:9e '
        "ip6 saddr 2001:db8::7 ip6 daddr 2001:db8::15 ip6 dscp cs0 ip6 ecn not-ect "
        "ip6 hoplimit 64 ip6 flowlabel 720896 ip6 nexthdr tcp ip6 length 40 tcp sport 50022 "
        "tcp dport 22 tcp flags == syn tcp window 64800"
    )
    capture = analyse(
        lines(
            f"trace id 7d3e9a01 inet filter input packet: {v6}",
            "trace id 7d3e9a01 inet filter input rule ip6 saddr 2001:db8::/32 tcp dport 22 "
            "reject with icmpv6 type admin-prohibited (verdict drop)",
        )
    )
    (packet,) = capture.packets
    assert (packet.flow["src"], packet.flow["dst"], packet.flow["proto"]) == (
        "2001:db8::7", "2001:db8::15", "tcp"
    )  # fmt: skip
    assert packet.packet == "tcp [2001:db8::7]:50022 -> [2001:db8::15]:22 (eth0 -> -)"
    assert packet.rule == Rule("inet", "filter", "input", "reject")


def test_ip6_family() -> None:
    capture = analyse(
        lines(
            'trace id 2e3f4a5b ip6 filter INPUT packet: iif "eth0" '
            "ip6 saddr fe80::5054:ff:fe12:3502 ip6 daddr ff02::1 ip6 dscp cs0 ip6 ecn not-ect "
            "ip6 hoplimit 255 ip6 flowlabel 0 "
            "ip6 nexthdr ipv6-icmp ip6 length 64 icmpv6 type nd-router-advert icmpv6 code 0",
            "trace id 2e3f4a5b ip6 filter INPUT policy drop",
        )
    )
    (packet,) = capture.packets
    assert packet.flow["src"] == "fe80::5054:ff:fe12:3502"
    assert packet.rule == Rule("ip6", "filter", "INPUT", "drop")


def test_bridge_family_then_ip_family() -> None:
    """A bridged packet is seen by the bridge family, then (br_netfilter) by the ip family:
    the bridge's accepts are not its fate."""
    syn = EGRESS_SYN.replace('iif "docker0" oif "eth0"', 'iif "veth89eeb77" oif "veth1cd76c2"')
    capture = analyse(
        lines(
            f"trace id 6d9a826f bridge filter trace_chain packet: {syn}",
            "trace id 6d9a826f bridge filter trace_chain rule meta nftrace set 1 "
            "(verdict continue)",
            "trace id 6d9a826f bridge filter trace_chain policy accept",
            "trace id 6d9a826f bridge filter FORWARD policy accept",
            "trace id 6d9a826f ip mangle FORWARD verdict continue",
        )
    )
    (packet,) = capture.packets
    assert [h.stage for h in packet.hops] == ["bridge", "bridge", "mangle"]
    assert not packet.final
    assert packet.note.startswith(
        "no final verdict in this capture: last seen in ip mangle FORWARD"
    )


def test_missing_family_word() -> None:
    capture = analyse(
        lines(
            'trace id 32 t PRE_RAW packet: iif "enp0s3" ether saddr 08:00:27:4a:1c:9e '
            "ether daddr 52:54:00:12:35:02 ip saddr 192.0.2.10 ip daddr 192.0.2.1 ip dscp cs0 "
            "ip ecn not-ect ip ttl 64 ip id 4242 ip length 60 tcp sport 41000 tcp dport 443 "
            "tcp flags == syn tcp window 64240",
            "trace id 32 t PRE_RAW rule tcp flags syn meta nftrace set 1 (verdict continue)",
            "trace id 32 t PRE_RAW policy accept",
            'trace id 32 t INPUT packet: iif "enp0s3" ether saddr 08:00:27:4a:1c:9e ether daddr '
            "52:54:00:12:35:02 ip saddr 192.0.2.10 ip daddr 192.0.2.1 ip dscp cs0 ip ecn not-ect "
            "ip ttl 64 ip id 4242 ip length 60 tcp sport 41000 tcp dport 443 tcp flags == syn "
            "tcp window 64240",
            "trace id 32 t INPUT rule jump public_in (verdict jump public_in)",
            "trace id 32 t public_in rule tcp dport 443 accept (verdict accept)",
        )
    )
    (packet,) = capture.packets
    assert packet.rule == Rule("", "t", "public_in", "accept")
    assert packet.hops[0].where == "t PRE_RAW"


# -- 5. the kernel log: legacy TRACE and LOG lines -----------------------------------------------
KTRACE = [
    "TRACE: raw:PREROUTING:policy:2 IN=docker0 OUT= PHYSIN=veth3c6f7e1 "
    "MAC=02:42:d7:a5:eb:79:02:42:ac:11:00:03:08:00 SRC=172.17.0.3 DST=203.0.113.10 LEN=60 "
    "TOS=0x00 PREC=0x00 TTL=64 ID=22214 DF PROTO=TCP SPT=60254 DPT=80 SEQ=3641254389 ACK=0 "
    "WINDOW=64240 RES=0x00 SYN URGP=0 OPT (020405B40402080A8D4A0B3D0000000001030307) ",
    "TRACE: nat:PREROUTING:rule:1 IN=docker0 OUT= PHYSIN=veth3c6f7e1 "
    "MAC=02:42:d7:a5:eb:79:02:42:ac:11:00:03:08:00 SRC=172.17.0.3 DST=203.0.113.10 LEN=60 "
    "TOS=0x00 PREC=0x00 TTL=64 ID=22214 DF PROTO=TCP SPT=60254 DPT=80 SEQ=3641254389 ACK=0 "
    "WINDOW=64240 RES=0x00 SYN URGP=0 OPT (020405B40402080A8D4A0B3D0000000001030307) ",
    "TRACE: filter:FORWARD:rule:4 IN=docker0 OUT=eth0 PHYSIN=veth3c6f7e1 "
    "MAC=02:42:d7:a5:eb:79:02:42:ac:11:00:03:08:00 SRC=172.17.0.3 DST=203.0.113.10 LEN=60 "
    "TOS=0x00 PREC=0x00 TTL=63 ID=22214 DF PROTO=TCP SPT=60254 DPT=80 SEQ=3641254389 ACK=0 "
    "WINDOW=64240 RES=0x00 SYN URGP=0 OPT (020405B40402080A8D4A0B3D0000000001030307) ",
]
KERNEL_PREFIXES = {
    "dmesg": "[ 1234.567890] ",
    "dmesg -T": "[Thu Nov 26 15:43:24 2026] ",
    "dmesg -T, day 6": "[Fri Nov  6 09:03:24 2026] ",
    "syslog": "Nov 26 10:00:00 host kernel: ",
    "syslog with a dmesg stamp": "Nov 26 10:00:00 host kernel: [ 123.4] ",
    "journal": "2026-11-26T10:00:00+0000 host kernel: ",
    "indented dmesg": "    [248369.783562] ",
}
CANNOT_READ = "the verdict cannot be read from such a capture alone"


@pytest.mark.parametrize("prefix", list(KERNEL_PREFIXES.values()), ids=list(KERNEL_PREFIXES))
def test_legacy_trace_lines_give_a_path_but_no_verdict(prefix: str) -> None:
    capture = analyse(lines(*(prefix + line for line in KTRACE)))
    assert capture.tools == [TOOL_KTRACE] and capture.unrecognised == 0
    (packet,) = capture.packets
    assert [h.where for h in packet.hops] == [
        "ip raw PREROUTING", "ip nat PREROUTING", "ip filter FORWARD",
    ]  # fmt: skip
    assert [h.verdict for h in packet.hops] == ["", "", ""]
    assert packet.packet == "tcp 172.17.0.3:60254 -> 203.0.113.10:80 (docker0 -> eth0)"
    assert packet.final is False and packet.rule is None and capture.verdict is None
    assert CANNOT_READ in packet.note
    assert "last rule seen: filter:FORWARD:rule:4" in packet.note
    assert CANNOT_READ in packet.diagnosis


def test_legacy_trace_ending_at_a_policy_names_that_policy() -> None:
    last = KTRACE[2].replace("filter:FORWARD:rule:4", "filter:FORWARD:policy:9")
    capture = analyse(lines(*("[ 1234.567890] " + line for line in [*KTRACE[:2], last])))
    (packet,) = capture.packets
    assert not packet.final and packet.rule is None
    assert CANNOT_READ in packet.note
    assert "last rule seen: filter:FORWARD:policy:9" in packet.note


def test_log_lines_give_no_verdict_and_name_the_last_rule() -> None:
    capture = analyse(
        lines(
            "Nov 26 10:00:00 host kernel: filter_FWD_public_REJECT: IN=docker0 OUT=eth0 "
            "MAC=02:42:d7:a5:eb:79:02:42:ac:11:00:03:08:00 SRC=172.17.0.3 DST=203.0.113.10 LEN=60 "
            "TOS=0x00 PREC=0x00 TTL=63 ID=22214 DF PROTO=TCP SPT=60254 DPT=80 WINDOW=64240 "
            "RES=0x00 SYN URGP=0 ",
        )
    )
    assert capture.tools == [TOOL_KLOG]
    (packet,) = capture.packets
    assert packet.final is False and packet.rule is None
    assert CANNOT_READ in packet.note
    assert "filter_FWD_public_REJECT" in packet.note
    assert packet.flow["src"] == "172.17.0.3" and packet.flow["dport"] == "80"


def test_glued_log_prefixes_one_packet_per_ip_id() -> None:
    capture = analyse(
        lines(
            "[  252.190652] output endIN= OUT=pppoe-wan SRC=180.112.50.137 DST=173.242.119.141 "
            "LEN=988 TOS=0x00 PREC=0x00 TTL=64 ID=29878 PROTO=UDP SPT=53766 DPT=51888 LEN=968 "
            "MARK=0x3f00 ",
            "[  252.206209] postroute startIN= OUT=wana SRC=180.112.50.137 DST=173.242.119.141 "
            "LEN=988 TOS=0x00 PREC=0x00 TTL=64 ID=29878 PROTO=UDP SPT=53766 DPT=51888 LEN=968 "
            "MARK=0x3f00 ",
            "[  252.221724] postroute endIN= OUT=wana SRC=180.112.50.137 DST=173.242.119.141 "
            "LEN=988 TOS=0x00 PREC=0x00 TTL=64 ID=29878 PROTO=UDP SPT=53766 DPT=51888 LEN=968 "
            "MARK=0x3f00 ",
            "[  252.239147] output startIN= OUT=pppoe-wan SRC=180.112.50.137 DST=173.242.119.141 "
            "LEN=1052 TOS=0x00 PREC=0x00 TTL=64 ID=29882 PROTO=UDP SPT=53766 DPT=51888 LEN=1032 ",
        )
    )
    first, second = capture.packets
    assert [h.rule for h in first.hops] == [
        "LOG 'output end'", "LOG 'postroute start'", "LOG 'postroute end'",
    ]  # fmt: skip
    assert (first.flow["ipid"], second.flow["ipid"]) == ("29878", "29882")
    assert "last rule seen: LOG 'postroute end'" in first.note
    assert not first.final and not second.final


# -- 6. pasted captures -------------------------------------------------------------------------
def test_a_pasted_capture_reads_like_the_original() -> None:
    rows = HOST_INPUT.splitlines()
    pasted = ["Hi, I ran `nft monitor trace` and got this:", "", "```text"]
    for i, row in enumerate(rows):
        artefact = [
            lambda r: "> " + r,
            lambda r: "> > " + r,
            lambda r: "    " + r,
            lambda r: r.replace(" ", "\u00a0"),
            lambda r: r.replace(" ", "\t", 3),
            lambda r: r.replace(" ", "  "),
        ][i % 6]
        pasted.append(artefact(row))
    pasted += ["```", "", "Any idea why SNMP is dropped?"]
    original, copy = analyse(HOST_INPUT), analyse("\r\n".join(pasted))
    assert [p.as_dict() for p in copy.packets] == [p.as_dict() for p in original.packets]
    assert copy.warnings == [] and copy.unrecognised == 2


def test_an_elided_capture_gets_the_warning() -> None:
    rows = HOST_INPUT.splitlines()
    capture = analyse(lines(*rows[:5], "...", *rows[9:]))
    assert ELIDED_WARNING in capture.warnings
    assert all(ELIDED_WARNING in p.warnings for p in capture.packets)
    assert ELIDED_WARNING not in analyse(HOST_INPUT).warnings


def test_line_numbers_and_wrapped_man_page_lines() -> None:
    capture = analyse(
        lines(
            "               1  TRACE:  2  fc475095 raw:PREROUTING:rule:0x3:CONTINUE -4 -t raw -A "
            "PREROUTING -p",
            "              icmp -j TRACE",
            "               2 PACKET: 0 fc475095  IN=lo  LL=0x304  "
            "0000000000000000000000000800  SRC=",
            "              DST= LEN=84 TOS=0x0 TTL=64 ID=38349DF",
            "               3 TRACE: 2 fc475095 raw:PREROUTING:return:",
            "               4 TRACE: 2 fc475095 raw:PREROUTING:policy:ACCEPT",
            "               5 TRACE: 2 fc475095 filter:INPUT:return:",
            "               6 TRACE: 2 fc475095 filter:INPUT:policy:DROP",
        )
    )
    (packet,) = capture.packets
    assert packet.flow["iif"] == "lo"
    assert packet.rule == Rule("ip", "filter", "INPUT", "drop")


# -- 7. the tools' own status lines -------------------------------------------------------------
XT_ROWS = (
    "PACKET: 1 bf884e37 IN=eth0 NFPROTO=2 MACSRC=66:66:71:60:a5:4d MACDST=12:92:75:d4:8e:12 "
    "MACPROTO=0800 SRC=203.0.113.10 DST=10.0.2.15 LEN=52 TOS=0x0 TTL=64 ID=6331DF SPORT=80 "
    "DPORT=46284 ACK FIN ",
    " TRACE: 1 bf884e37 firewalld:filter_INPUT:rule:0xd:ACCEPT  ",
)


def test_enobufs_warning_from_the_monitors_own_line() -> None:
    capture = analyse(
        lines(*XT_ROWS, "cannot receive from nfnetlink socket: No buffer space available")
    )
    assert capture.warnings == [ENOBUFS_WARNING]
    assert capture.packets[0].warnings == [ENOBUFS_WARNING]


@pytest.mark.parametrize(
    "text",
    [
        "# the monitor said No buffer space available",
        "xtables-monitor died with 'cannot receive from nfnetlink socket: No buffer space "
        "available', so I narrowed the rule",
    ],
)
def test_no_enobufs_warning_from_other_text(text: str) -> None:
    assert analyse(lines(*XT_ROWS, text)).warnings == []


def test_lost_events_warning() -> None:
    rows = HOST_INPUT.splitlines()
    capture = analyse(lines(*rows, "# ERROR: We lost some netlink events!"))
    assert capture.warnings == [LOST_EVENTS_WARNING]
    assert analyse(lines(*rows, "nft said: We lost some netlink events!")).warnings == []


def test_a_status_line_alone_is_a_capture() -> None:
    capture = analyse("cannot receive from nfnetlink socket: No buffer space available\n")
    assert capture.is_capture and capture.packets == [] and capture.headline is None
    assert not analyse("# the monitor said No buffer space available\n").is_capture


# -- selecting packets ---------------------------------------------------------------------------
def test_select_by_flow_fields() -> None:
    capture = analyse(HOST_INPUT)
    assert [p.flow["proto"] for p in capture.select(dport="161").packets] == ["udp"]
    assert len(capture.select(dst="10.0.2.15").packets) == 3
    assert capture.select(mac="52:54:00:12:35:02").packets == capture.packets
    assert capture.select(mac="02:42:ac:11:00:03").packets == []
    assert capture.select(mac="", dst="10.0.2.15").packets == capture.packets  # "" matches all
