"""harness.trace.parse: reading capture lines, one at a time, into events.

Every line here is in the exact shape the tools print (nft monitor trace, xtables-monitor
--trace of newer and older iptables, the kernel's TRACE and LOG lines in dmesg, dmesg -T,
syslog and journal form), then as it arrives when pasted from a web page or a chat.
"""

from __future__ import annotations

import pytest

from harness.trace.parse import (
    TOOL_KLOG,
    TOOL_KTRACE,
    TOOL_NFT,
    TOOL_XT,
    Event,
    clean,
    log_flow,
    normalize_mac,
    normalize_verdict,
    read,
)


def one(line: str) -> Event:
    """The single event a line gives."""
    lines = read(line)
    assert lines.unrecognised == 0, line
    assert len(lines.events) == 1, lines.events
    return lines.events[0]


# -- nft monitor trace -------------------------------------------------------------------
NFT_PACKET = (
    'trace id be722d32 ip raw PREROUTING packet: iif "docker0" ether saddr 02:42:ac:11:00:03 '
    "ether daddr 02:42:d7:a5:eb:79 ip saddr 172.17.0.3 ip daddr 203.0.113.10 ip dscp cs0 "
    "ip ecn not-ect ip ttl 64 ip id 22214 ip length 60 tcp sport 60254 tcp dport 80 "
    "tcp flags == syn tcp window 64240 "
)


def test_nft_packet_line() -> None:
    ev = one(NFT_PACKET)
    assert (ev.tool, ev.trace_id, ev.kind) == (TOOL_NFT, "be722d32", "packet")
    assert (ev.family, ev.table, ev.chain) == ("ip", "raw", "PREROUTING")
    assert ev.flow is not None
    flow = ev.flow
    assert (flow.iif, flow.oif, flow.mac) == ("docker0", "", "02:42:ac:11:00:03")
    assert (flow.src, flow.dst, flow.ipid) == ("172.17.0.3", "203.0.113.10", "22214")
    # No "ip protocol" word in a raw PREROUTING packet line: the L4 header says tcp.
    assert (flow.proto, flow.sport, flow.dport, flow.flags) == ("tcp", "60254", "80", "syn")


def test_nft_ipv6_packet_line_in_the_inet_family() -> None:
    ev = one(
        'trace id 0f500d9a inet fw4 raw_prerouting packet: iif "eth0.2" ether saddr '
        "00:00:5E:00:53:b8 ether daddr 00:00:5E:00:53:e0 ip6 saddr 2001:470:971f:99::6 "
        "ip6 daddr 2001:db8:1:2:3:4:5:6 ip6 dscp cs0 ip6 ecn not-ect ip6 hoplimit 54 "
        "ip6 flowlabel 653951 ip6 nexthdr tcp ip6 length 40 tcp sport 43274 tcp dport 113 "
        "tcp flags == syn tcp window 64660"
    )
    assert (ev.family, ev.table, ev.chain) == ("inet", "fw4", "raw_prerouting")
    assert ev.flow is not None
    assert (ev.flow.src, ev.flow.dst) == ("2001:470:971f:99::6", "2001:db8:1:2:3:4:5:6")
    assert (ev.flow.proto, ev.flow.sport, ev.flow.dport) == ("tcp", "43274", "113")
    assert ev.flow.flowlabel == "653951"
    assert ev.flow.mac == "00:00:5e:00:53:b8"


def test_nft_bridge_family_packet_line() -> None:
    ev = one(
        'trace id a0369369 bridge filter trace_chain packet: iif "veth89eeb77" oif "veth1cd76c2" '
        "ether saddr 02:42:ac:13:00:03 ether daddr 02:42:ac:13:00:02 ip saddr 172.19.0.3 "
        "ip daddr 172.19.0.2 ip dscp cs0 ip ecn not-ect ip ttl 64 ip id 11143 ip protocol tcp "
        "ip length 60 tcp sport 39771 tcp dport 80 tcp flags == syn tcp window 29200"
    )
    assert (ev.family, ev.table, ev.chain, ev.kind) == ("bridge", "filter", "trace_chain", "packet")
    assert ev.flow is not None
    assert (ev.flow.iif, ev.flow.oif) == ("veth89eeb77", "veth1cd76c2")
    assert (ev.flow.src, ev.flow.dst, ev.flow.ipid) == ("172.19.0.3", "172.19.0.2", "11143")


@pytest.mark.parametrize(
    ("line", "kind", "verdict", "target", "handle"),
    [
        (
            "trace id be722d32 ip raw PREROUTING rule meta l4proto tcp ip saddr 172.16.0.0/12 "
            "tcp flags & (fin|syn|rst|ack) == syn counter packets 0 bytes 0 meta nftrace set 1 "
            "(verdict continue)",
            "rule", "continue", "", "",
        ),
        ("trace id be722d32 ip raw PREROUTING policy accept ", "policy", "accept", "", ""),
        ("trace id c57faf6f ip filter DOCKER-USER verdict continue", "return", "continue", "", ""),
        ("trace id c57faf6f ip filter DOCKER-USER verdict return", "return", "return", "", ""),
        (
            "trace id c57faf6f ip filter FORWARD rule counter packets 86 bytes 6445 jump "
            "DOCKER-USER (verdict jump DOCKER-USER)",
            "rule", "jump", "DOCKER-USER", "",
        ),
        (
            "trace id c57faf6f inet firewalld filter_FORWARD_IN_ZONES rule goto filter_FWDI_public "
            "(verdict goto filter_FWDI_public)",
            "rule", "goto", "filter_FWDI_public", "",
        ),
        (
            "trace id 64925536 ip filter FORWARD unknown rule handle 12 (verdict accept)",
            "rule", "accept", "", "12",
        ),
        (
            "trace id 64925536 inet firewalld filter_FORWARD rule reject with icmpx type "
            "admin-prohibited (verdict drop)",
            "rule", "reject", "", "",
        ),
        (
            "trace id 9c01f8 inet filter allowed_dnats rule drop (verdict drop)",
            "rule", "drop", "", "",
        ),
        (
            "trace id 2acc218b ip filter input_filter policy accept meta mark 0x00000001 ",
            "policy", "accept", "", "",
        ),
    ],
)  # fmt: skip
def test_nft_rule_policy_and_verdict_lines(
    line: str, kind: str, verdict: str, target: str, handle: str
) -> None:
    ev = one(line)
    assert ev.tool == TOOL_NFT
    assert (ev.kind, ev.verdict, ev.target, ev.handle) == (kind, verdict, target, handle)


def test_nft_reject_shown_as_drop_is_a_reject_and_keeps_its_rule() -> None:
    ev = one(
        "trace id 64925536 inet firewalld filter_FORWARD rule reject with icmpx type "
        "admin-prohibited (verdict drop)"
    )
    assert ev.verdict == "reject"
    assert ev.rule == "reject with icmpx type admin-prohibited"
    assert (ev.family, ev.table, ev.chain) == ("inet", "firewalld", "filter_FORWARD")


def test_nft_unknown_rule_handle() -> None:
    ev = one("trace id 64925536 ip filter FORWARD unknown rule handle 12 (verdict accept)")
    assert (ev.kind, ev.verdict, ev.handle) == ("rule", "accept", "12")
    assert ev.rule == "unknown rule handle 12"


def test_nft_line_without_the_family_word() -> None:
    ev = one('trace id 32 t PRE_RAW packet: iif "enp0s3" ether saddr 08:00:27:4a:1c:9e')
    assert (ev.trace_id, ev.family, ev.table, ev.chain, ev.kind) == (
        "32",
        "",
        "t",
        "PRE_RAW",
        "packet",
    )
    ev = one("trace id 32 t public_in rule tcp dport 443 accept (verdict accept)")
    assert (ev.family, ev.table, ev.chain, ev.verdict) == ("", "t", "public_in", "accept")


def test_nft_conntrack_lines_are_recognised_but_give_no_event() -> None:
    lines = read("trace id 32 t PRE_MANGLE conntrack: ct direction original ct state new ct id 26")
    assert lines.events == [] and lines.unrecognised == 0


# -- xtables-monitor --trace ---------------------------------------------------------------
def test_xtables_monitor_newer_packet_and_trace_lines() -> None:
    lines = read(
        "PACKET: 2 c57faf6f IN=docker0 OUT=eth0 MACSRC=2:42:ac:11:0:3 MACDST=2:42:d7:a5:eb:79 "
        "MACPROTO=0800 SRC=172.17.0.3 DST=203.0.113.10 LEN=60 TOS=0x0 TTL=63 ID=22214DF "
        "SPORT=60254 DPORT=80 SYN \n"
        " TRACE: 2 c57faf6f filter:FORWARD:rule:0x18d:ACCEPT  -4 -t filter -A FORWARD "
        "-i docker0 ! -o docker0 -j ACCEPT\n"
    )
    assert lines.unrecognised == 0 and lines.tools == [TOOL_XT]
    packet, rule = lines.events
    assert (packet.kind, packet.trace_id, packet.family) == ("packet", "c57faf6f", "ip")
    assert packet.flow is not None
    flow = packet.flow
    assert (flow.iif, flow.oif, flow.mac) == ("docker0", "eth0", "02:42:ac:11:00:03")
    assert (flow.src, flow.dst, flow.proto) == ("172.17.0.3", "203.0.113.10", "tcp")
    assert (flow.sport, flow.dport, flow.ipid, flow.flags) == ("60254", "80", "22214", "syn")
    assert (rule.kind, rule.trace_id, rule.family, rule.table, rule.chain) == (
        "rule",
        "c57faf6f",
        "ip",
        "filter",
        "FORWARD",
    )
    assert (rule.verdict, rule.handle) == ("accept", "0x18d")
    assert rule.rule == "-4 -t filter -A FORWARD -i docker0 ! -o docker0 -j ACCEPT"


@pytest.mark.parametrize(
    ("line", "family", "table", "chain", "kind", "verdict", "target"),
    [
        (" TRACE: 1 c57faf6f firewalld:filter_FORWARD:rule:0x27:DROP ",
         "inet", "firewalld", "filter_FORWARD", "rule", "drop", ""),
        (" TRACE: 2 be722d32 raw:PREROUTING:policy:ACCEPT ",
         "ip", "raw", "PREROUTING", "policy", "accept", ""),
        (" TRACE: 2 0427ffe5 raw:OUTPUT:return:", "ip", "raw", "OUTPUT", "return", "return", ""),
        (" TRACE: 2 c57faf6f filter:FORWARD:rule:0x19d:JUMP:DOCKER-USER  -4 -t filter -A "
         "FORWARD -j DOCKER-USER", "ip", "filter", "FORWARD", "rule", "jump", "DOCKER-USER"),
        (" TRACE: 1 be722d32 firewalld:mangle_PREROUTING_ZONES:rule:0x6b:GOTO:mangle_PRE_public  ",
         "inet", "firewalld", "mangle_PREROUTING_ZONES", "rule", "goto", "mangle_PRE_public"),
        # A numeric verdict: 0xfffffffb is NF_RETURN (-5).
        (" TRACE: 2 c57faf6f filter:DOCKER-USER:rule:0x194:0xfffffffb  -4 -t filter -A "
         "DOCKER-USER -j RETURN", "ip", "filter", "DOCKER-USER", "rule", "return", ""),
        # iptables-nft's REJECT: the kernel says DROP, the rule says REJECT.
        (" TRACE: 2 9d1e0a7c filter:INPUT:rule:0x9:DROP  -4 -t filter -A INPUT -p tcp -m tcp "
         "--dport 8080 -j REJECT --reject-with icmp-port-unreachable",
         "ip", "filter", "INPUT", "rule", "reject", ""),
        (" TRACE: 10 5e6f7a8b filter:INPUT:policy:DROP ",
         "ip6", "filter", "INPUT", "policy", "drop", ""),
    ],
)  # fmt: skip
def test_xtables_monitor_trace_lines(
    line: str, family: str, table: str, chain: str, kind: str, verdict: str, target: str
) -> None:
    ev = one(line)
    assert ev.tool == TOOL_XT
    assert (ev.family, ev.table, ev.chain) == (family, table, chain)
    assert (ev.kind, ev.verdict, ev.target) == (kind, verdict, target)


def test_xtables_monitor_older_empty_addresses_and_glued_fields() -> None:
    ev = one(
        "PACKET: 0 1f2e3d4c IN=eth0 OUT= MACSRC=52:54:0:12:35:2 MACDST=8:0:27:4a:1c:9e "
        "MACPROTO=0800 SRC= DST= LEN=60 TOS=0x0 TTL=64 ID=43007SPORT=80 DPORT=51514 SYN ACK "
    )
    assert (ev.kind, ev.trace_id, ev.family) == ("packet", "1f2e3d4c", "")
    assert ev.flow is not None
    flow = ev.flow
    assert (flow.src, flow.dst, flow.oif) == ("", "", "")
    assert (flow.ipid, flow.sport, flow.dport) == ("43007", "80", "51514")
    assert flow.mac == "52:54:00:12:35:02"
    assert flow.proto == "tcp" and flow.flags == "syn|ack"
    assert not flow.ip_known


def test_xtables_monitor_older_packet_on_the_trace_line() -> None:
    lines = read(
        " TRACE: 2 fc475095 raw:PREROUTING:rule:0x3:CONTINUE -4 -t raw -A PREROUTING -p icmp "
        "-j TRACE PACKET: 0 fc475095 IN=lo LL=0x304 0000000000000000000000000800 "
        "SRC=127.0.0.1 DST=127.0.0.1 LEN=84 TOS=0x0 TTL=64 ID=38349DF "
    )
    assert lines.unrecognised == 0
    packet, rule = lines.events
    assert (packet.kind, packet.trace_id, packet.family) == ("packet", "fc475095", "ip")
    assert packet.flow is not None
    assert (packet.flow.iif, packet.flow.src, packet.flow.dst) == ("lo", "127.0.0.1", "127.0.0.1")
    assert packet.flow.ipid == "38349"
    assert (rule.kind, rule.table, rule.chain, rule.verdict) == (
        "rule",
        "raw",
        "PREROUTING",
        "continue",
    )
    assert rule.rule == "-4 -t raw -A PREROUTING -p icmp -j TRACE"


@pytest.mark.parametrize(
    ("token", "verdict"),
    [
        ("ACCEPT", "accept"),
        ("DROP", "drop"),
        ("CONTINUE", "continue"),
        ("0xfffffffb", "return"),  # NF_RETURN = -5
        ("0xfffffffd", "jump"),  # NFT_JUMP = -3
        ("0xffffffff", "continue"),  # NFT_CONTINUE = -1
        ("0x1", "accept"),
        ("0", "drop"),
        ("0x00010003", "queue"),  # NF_QUEUE to queue 1: the number rides in the upper bits
        ("Queue", "queue"),
    ],
)
def test_normalize_verdict(token: str, verdict: str) -> None:
    assert normalize_verdict(token) == verdict


# -- log_flow and normalize_mac -----------------------------------------------------------
def test_log_flow_glued_and_empty_fields() -> None:
    flow = log_flow(
        "IN=docker0 OUT= MACSRC=2:42:ac:11:0:3 MACDST=2:42:d7:a5:eb:79 MACPROTO=0800 "
        "SRC=172.17.0.3 DST=203.0.113.10 LEN=60 TOS=0x0 TTL=64 ID=22214DF SPORT=60254 DPORT=80 SYN"
    )
    assert (flow.iif, flow.oif, flow.mac) == ("docker0", "", "02:42:ac:11:00:03")
    assert (flow.ipid, flow.sport, flow.dport, flow.proto) == ("22214", "60254", "80", "tcp")
    glued = log_flow("IN=eth0 OUT= SRC= DST= LEN=60 TOS=0x0 TTL=64 ID=43007SPORT=80 DPORT=51514")
    assert (glued.src, glued.dst, glued.ipid, glued.sport, glued.dport) == (
        "",
        "",
        "43007",
        "80",
        "51514",
    )


def test_log_flow_of_a_kernel_log_line() -> None:
    flow = log_flow(
        "IN=docker0 OUT=eth0 PHYSIN=veth3c6f7e1 MAC=02:42:d7:a5:eb:79:02:42:ac:11:00:03:08:00 "
        "SRC=172.17.0.3 DST=203.0.113.10 LEN=60 TOS=0x00 PREC=0x00 TTL=63 ID=22214 DF "
        "PROTO=TCP SPT=60254 DPT=80 WINDOW=64240 RES=0x00 SYN URGP=0 "
    )
    # MAC= is destination, source, ethertype: the source is the middle part.
    assert flow.mac == "02:42:ac:11:00:03"
    assert (flow.src, flow.dst, flow.proto, flow.sport, flow.dport) == (
        "172.17.0.3",
        "203.0.113.10",
        "tcp",
        "60254",
        "80",
    )
    assert (flow.ipid, flow.length, flow.flags) == ("22214", "60", "syn")
    v6 = log_flow(
        "IN=lo OUT= MAC=00:00:00:00:00:00:00:00:00:00:00:00:86:dd "
        "SRC=0000:0000:0000:0000:0000:0000:0000:0001 DST=0000:0000:0000:0000:0000:0000:0000:0001 "
        "LEN=76 TC=0 HOPLIMIT=64 FLOWLBL=948204 PROTO=TCP SPT=59909 DPT=59909 WINDOW=512 "
        "RES=0x00 ACK PSH URGP=0 "
    )
    assert (v6.flowlabel, v6.proto, v6.sport) == ("948204", "tcp", "59909")


@pytest.mark.parametrize(
    ("mac", "normal"),
    [
        ("2:42:ac:11:0:3", "02:42:ac:11:00:03"),
        ("02:42:AC:11:00:03", "02:42:ac:11:00:03"),
        ("0:d:b9:4a:49:3d", "00:0d:b9:4a:49:3d"),
        ("<filtered>", "<filtered>"),
        ("", ""),
    ],
)
def test_normalize_mac(mac: str, normal: str) -> None:
    assert normalize_mac(mac) == normal


# -- the kernel log: legacy TRACE and LOG --------------------------------------------------
KTRACE_BODY = (
    "TRACE: raw:PREROUTING:policy:2 IN=docker0 OUT= PHYSIN=veth3c6f7e1 "
    "MAC=02:42:d7:a5:eb:79:02:42:ac:11:00:03:08:00 SRC=172.17.0.3 DST=203.0.113.10 LEN=60 "
    "TOS=0x00 PREC=0x00 TTL=64 ID=22214 DF PROTO=TCP SPT=60254 DPT=80 SEQ=3641254389 ACK=0 "
    "WINDOW=64240 RES=0x00 SYN URGP=0 OPT (020405B40402080A8D4A0B3D0000000001030307)"
)
KERNEL_PREFIXES = {
    "dmesg": "[ 1234.567890] ",
    "dmesg-big-uptime": "[248369.783562] ",
    "dmesg -T": "[Thu Nov 26 15:43:24 2026] ",
    "dmesg -T, day 6": "[Fri Nov  6 09:03:24 2026] ",
    "syslog": "Nov 26 10:00:00 host kernel: ",
    "syslog, day 6": "Nov  6 10:00:00 host kernel: ",
    "syslog with a dmesg stamp": "Nov 26 10:00:00 host kernel: [ 123.4] ",
    "journal": "2026-11-26T10:00:00+0000 host kernel: ",
    "journal, short-precise": "2026-11-26T10:00:00.123456+01:00 host kernel: ",
    "kmsg priority": "<4>[ 1234.567890] ",
}


@pytest.mark.parametrize("prefix", list(KERNEL_PREFIXES.values()), ids=list(KERNEL_PREFIXES))
def test_kernel_log_prefixes_are_cut(prefix: str) -> None:
    assert clean(prefix + KTRACE_BODY) == KTRACE_BODY


@pytest.mark.parametrize("prefix", list(KERNEL_PREFIXES.values()), ids=list(KERNEL_PREFIXES))
def test_legacy_trace_line_carries_no_verdict(prefix: str) -> None:
    ev = one(prefix + KTRACE_BODY)
    assert (ev.tool, ev.trace_id, ev.kind) == (TOOL_KTRACE, "", "policy")
    assert (ev.family, ev.table, ev.chain) == ("ip", "raw", "PREROUTING")
    assert ev.verdict == ""
    assert ev.rule == "raw:PREROUTING:policy:2"
    assert ev.flow is not None
    assert (ev.flow.src, ev.flow.dst, ev.flow.sport, ev.flow.ipid) == (
        "172.17.0.3",
        "203.0.113.10",
        "60254",
        "22214",
    )


@pytest.mark.parametrize(
    ("line", "kind", "table", "chain"),
    [
        ("[ 1234.567901] TRACE: nat:DOCKER:return:3 IN=docker0 OUT= SRC=172.17.0.3 "
         "DST=203.0.113.10 LEN=60 TOS=0x00 PREC=0x00 TTL=64 ID=22214 DF PROTO=TCP SPT=60254 "
         "DPT=80 SEQ=3641254389 ACK=0 WINDOW=64240 RES=0x00 SYN URGP=0", "return", "nat", "DOCKER"),
        ("[ 1234.567950] TRACE: filter:FORWARD:rule:4 IN=docker0 OUT=eth0 SRC=172.17.0.3 "
         "DST=203.0.113.10 LEN=60 TOS=0x00 PREC=0x00 TTL=63 ID=22214 DF PROTO=TCP SPT=60254 "
         "DPT=80 SEQ=3641254389 ACK=0 WINDOW=64240 RES=0x00 SYN URGP=0",
         "rule", "filter", "FORWARD"),
    ],
)  # fmt: skip
def test_legacy_trace_rule_and_return_lines(line: str, kind: str, table: str, chain: str) -> None:
    ev = one(line)
    assert (ev.tool, ev.kind, ev.table, ev.chain, ev.verdict) == (
        TOOL_KTRACE,
        kind,
        table,
        chain,
        "",
    )


@pytest.mark.parametrize(
    ("line", "prefix"),
    [
        ("Nov 26 10:00:00 host kernel: filter_FWD_public_REJECT: IN=docker0 OUT=eth0 "
         "MAC=02:42:d7:a5:eb:79:02:42:ac:11:00:03:08:00 SRC=172.17.0.3 DST=203.0.113.10 LEN=60 "
         "TOS=0x00 PREC=0x00 TTL=63 ID=22214 DF PROTO=TCP SPT=60254 DPT=80 WINDOW=64240 "
         "RES=0x00 SYN URGP=0 ", "filter_FWD_public_REJECT:"),
        ("[  252.190652] output endIN= OUT=pppoe-wan SRC=180.112.50.137 DST=173.242.119.141 "
         "LEN=988 TOS=0x00 PREC=0x00 TTL=64 ID=29878 PROTO=UDP SPT=53766 DPT=51888 LEN=968 "
         "MARK=0x3f00 ", "output end"),
        ("2026-11-26T10:00:00+0000 host kernel: IN=eth0 OUT=br-d65ccc79fc1d "
         "MAC=52:54:00:12:35:02:08:00:27:4a:1c:9e:08:00 SRC=198.51.100.7 DST=172.20.0.2 LEN=64 "
         "TOS=0x00 PREC=0x00 TTL=50 ID=0 DF PROTO=TCP SPT=54694 DPT=9115 WINDOW=65535 RES=0x00 "
         "SYN URGP=0 MARK=0xdf ", ""),
    ],
)  # fmt: skip
def test_log_lines_carry_no_verdict_and_keep_their_prefix(line: str, prefix: str) -> None:
    ev = one(line)
    assert (ev.tool, ev.kind, ev.verdict, ev.trace_id) == (TOOL_KLOG, "log", "", "")
    assert ev.rule == f"LOG {prefix!r}"
    assert ev.flow is not None and ev.flow.iif in ("docker0", "", "eth0")


def test_glued_log_prefix_does_not_eat_the_in_field() -> None:
    ev = one(
        "[  252.206209] postroute startIN= OUT=wana SRC=180.112.50.137 DST=173.242.119.141 "
        "LEN=988 TOS=0x00 PREC=0x00 TTL=64 ID=29878 PROTO=UDP SPT=53766 DPT=51888 LEN=968 "
        "MARK=0x3f00 "
    )
    assert ev.flow is not None
    assert (ev.flow.iif, ev.flow.oif, ev.flow.proto) == ("", "wana", "udp")
    assert (ev.flow.ipid, ev.flow.length) == ("29878", "988")  # the IP length, not the UDP one


# -- lines pasted from web pages and chats ----------------------------------------------------
XT_LINE = " TRACE: 2 fc475095 raw:PREROUTING:return:"
NFT_LINE = "trace id 64925536 ip filter FORWARD rule counter packets 86 bytes 6445 accept"


@pytest.mark.parametrize(
    ("raw", "line"),
    [
        ("    " + NFT_LINE, NFT_LINE),  # markdown indentation
        ("> " + NFT_LINE, NFT_LINE),  # a quote
        ("> > " + NFT_LINE, NFT_LINE),  # a quote of a quote
        (">> " + NFT_LINE, NFT_LINE),
        (NFT_LINE.replace(" ", "\u00a0"), NFT_LINE),  # non-breaking spaces
        (NFT_LINE.replace(" ", "\t"), NFT_LINE),  # tabs
        (NFT_LINE + "\r", NFT_LINE),  # CRLF
        (NFT_LINE.replace(" ", "  "), NFT_LINE),  # double spaces
        ("\ufeff" + NFT_LINE, NFT_LINE),  # a byte order mark
        ("  1  TRACE:  2  fc475095 raw:PREROUTING:return:", XT_LINE.strip()),  # man page
        ("17 " + NFT_LINE, NFT_LINE),  # a line number
        ("    3 PACKET: 0 fc475095  IN=lo  LL=0x304", "PACKET: 0 fc475095 IN=lo LL=0x304"),
    ],
)
def test_clean_pasted_lines(raw: str, line: str) -> None:
    assert clean(raw) == line


def test_pasted_capture_reads_like_the_original() -> None:
    original = (
        'trace id 64925536 ip filter FORWARD packet: iif "docker0" oif "eth0" ether saddr '
        "02:42:ac:11:00:03 ether daddr 02:42:d7:a5:eb:79 ip saddr 172.17.0.3 ip daddr "
        "203.0.113.10 ip dscp cs0 ip ecn not-ect ip ttl 63 ip id 22214 ip length 60 tcp sport "
        "60254 tcp dport 80 tcp flags == syn tcp window 64240\n"
        "trace id 64925536 ip filter FORWARD rule counter packets 86 bytes 6445 jump DOCKER-USER "
        "(verdict jump DOCKER-USER)\n"
        "trace id 64925536 ip filter DOCKER-USER rule counter packets 86 bytes 6445 return "
        "(verdict return)\n"
        'trace id 64925536 ip filter FORWARD rule iifname "docker0" oifname != "docker0" '
        "counter packets 15 bytes 962 accept (verdict accept)\n"
    )
    rows = original.splitlines()
    pasted = "\r\n".join(
        [
            "Here is what I get:",
            "```",
            "> " + rows[0].replace(" ", "\u00a0", 5),
            ">  " + rows[1].replace(" ", "  "),
            "> > \t" + rows[2],
            "    " + rows[3],
            "```",
        ]
    )
    a, b = read(original), read(pasted)
    assert [(e.kind, e.chain, e.verdict, e.rule) for e in a.events] == [
        (e.kind, e.chain, e.verdict, e.rule) for e in b.events
    ]
    assert a.events[0].flow == b.events[0].flow
    assert b.unrecognised == 1  # the prose line; code fences are not counted
    assert not b.elided


@pytest.mark.parametrize("elision", ["...", "  ...", "> ...", "…", "[...]", "(snip)", "....."])
def test_elisions_are_noted(elision: str) -> None:
    lines = read(f"{NFT_LINE}\n{elision}\n{NFT_LINE}\n")
    assert lines.elided
    assert len(lines.events) == 2 and lines.unrecognised == 0


def test_no_elision_in_a_complete_capture() -> None:
    assert not read(f"{NFT_LINE}\n{NFT_LINE}\n").elided


# -- the tools' own status lines ---------------------------------------------------------------
@pytest.mark.parametrize(
    "line",
    [
        "cannot receive from nfnetlink socket: No buffer space available",
        "> cannot receive from nfnetlink socket: No buffer space available",
        "    cannot receive from nfnetlink socket: No buffer space available\r",
    ],
)
def test_enobufs_from_xtables_monitors_own_line(line: str) -> None:
    lines = read(f"{XT_LINE}\n{line}\n")
    assert lines.enobufs
    assert lines.unrecognised == 0


@pytest.mark.parametrize(
    "line",
    [
        "# the monitor said No buffer space available",
        "After a minute xtables-monitor fails with cannot receive from nfnetlink socket: No buffer"
        " space available, any idea?",
        'I get "cannot receive from nfnetlink socket: No buffer space available" too',
        "No buffer space available",
        "ping: sendmsg: No buffer space available",
    ],
)
def test_enobufs_not_from_other_text(line: str) -> None:
    assert not read(f"{XT_LINE}\n{line}\n").enobufs


@pytest.mark.parametrize(
    ("line", "lost"),
    [
        ("# ERROR: We lost some netlink events!", True),
        ("> # ERROR: We lost some netlink events!", True),
        ("nft printed # ERROR: We lost some netlink events! twice, then nothing", False),
        ("# we lost some netlink events here, I think", False),
        ("# ERROR: We lost some netlink events! <- what does this mean?", False),
    ],
)
def test_lost_events_only_from_nfts_own_line(line: str, lost: bool) -> None:
    assert read(f"{NFT_LINE}\n{line}\n").lost_events is lost


# -- not trace lines -------------------------------------------------------------------------
@pytest.mark.parametrize(
    "line",
    [
        "root:x:0:0:root:/root:/bin/bash",
        "daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin",
        "$ nft monitor trace",
        "Nov 26 10:00:00 host systemd[1]: Started firewalld - dynamic firewall daemon.",
        "[ 1234.567890] docker0: port 1(veth3c6f7e1) entered forwarding state",
        "trace id",
    ],
)
def test_other_lines_are_not_recognised(line: str) -> None:
    lines = read(line)
    assert lines.events == [] and lines.unrecognised == 1
