"""Parsing of xtables-monitor --trace and nft monitor trace output (harness.trace.parse)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from harness.trace import Trace, normalize_verdict, parse_file, parse_text

# Real captures, vendored from shared/fixtures/traces/ so that unit tests need nothing
# outside the repository.
DATA = Path(__file__).resolve().parent / "data" / "traces" / "debian11-firewalld-0.9.3"
XT_FILES = [
    "xt-nozone-egress.txt",
    "xt-nozone-c2c.txt",
    "xt-zonedocker.txt",
    "xt-broad-enobufs.txt",
]
NFT_FILES = ["nft-nozone-egress.txt", "nft-nozone-c2c.txt", "nft-zonedocker.txt"]
ALL_FILES = XT_FILES + NFT_FILES


def shared_traces_dir() -> Path:
    """shared/fixtures/traces: $FWLAB_SHARED if set, else the shared/ folder beside the repo."""
    env = os.environ.get("FWLAB_SHARED")
    shared = Path(env) if env else Path(__file__).resolve().parents[2].parent / "shared"
    return shared / "fixtures" / "traces"


def test_every_fixture_is_vendored() -> None:
    assert sorted(p.name for p in DATA.glob("*.txt")) == sorted(ALL_FILES)


@pytest.mark.parametrize("name", ALL_FILES)
def test_vendored_fixture_matches_shared_copy(name: str) -> None:
    shared = shared_traces_dir()
    if not shared.is_dir():
        pytest.skip(f"no shared fixtures at {shared} (set FWLAB_SHARED to compare)")
    original = shared / DATA.name / name
    assert original.read_bytes() == (DATA / name).read_bytes()


# -- every real capture ---------------------------------------------------------------


@pytest.mark.parametrize("name", ALL_FILES)
def test_fixture_parses_completely(name: str) -> None:
    trace = parse_file(DATA / name)
    assert trace.unparsed == []
    assert trace.events
    assert trace.tool == ("nft" if name.startswith("nft-") else "xtables-monitor")
    assert all(e.tool == trace.tool for e in trace.events)
    # packets keeps every event, grouped, in order of first appearance
    assert sum(len(evs) for evs in trace.packets.values()) == len(trace.events)
    first_seen = list(dict.fromkeys(e.packet_id for e in trace.events))
    assert list(trace.packets) == first_seen
    for ev in trace.events:
        assert ev.kind in ("packet", "rule", "policy", "return")
        assert ev.verdict == ev.verdict.lower()
        assert (ev.verdict == "") == (ev.kind == "packet")
        if ev.kind != "packet":
            assert ev.table and ev.chain
        assert ev.family in ("ip", "ip6", "inet", "bridge")


@pytest.mark.parametrize("name", ALL_FILES)
def test_fixture_flags(name: str) -> None:
    trace = parse_file(DATA / name)
    assert trace.enobufs is (name == "xt-broad-enobufs.txt")
    assert trace.lost_events is False


def test_parse_file_accepts_str_path() -> None:
    assert len(parse_file(str(DATA / "xt-zonedocker.txt")).events) == len(
        parse_file(DATA / "xt-zonedocker.txt").events
    )


# -- xtables-monitor ------------------------------------------------------------------


def test_xt_packet_lines() -> None:
    trace = parse_file(DATA / "xt-nozone-egress.txt")
    assert list(trace.packets) == ["be722d32", "c57faf6f", "b983d617", "64925536"]
    first = trace.events[0]
    assert (first.kind, first.family, first.table, first.chain) == ("packet", "ip", "", "")
    assert (first.iif, first.oif, first.src, first.dst) == (
        "docker0",
        "",
        "172.17.0.3",
        "203.0.113.10",
    )
    assert (first.proto, first.dport) == ("tcp", "80")
    info = trace.info("c57faf6f")
    assert (info.iif, info.oif, info.src, info.dst, info.proto, info.dport) == (
        "docker0",
        "eth0",
        "172.17.0.3",
        "203.0.113.10",
        "tcp",
        "80",
    )


def test_xt_firewalld_drop_event() -> None:
    trace = parse_file(DATA / "xt-nozone-egress.txt")
    drops = [e for e in trace.packets["c57faf6f"] if e.blocks]
    assert len(drops) == 1
    drop = drops[0]
    assert (drop.family, drop.table, drop.chain, drop.kind) == (
        "inet",
        "firewalld",
        "filter_FORWARD",
        "rule",
    )
    assert (drop.handle, drop.verdict, drop.rule, drop.target) == ("0x27", "drop", "", "")
    assert drop.is_reject is False  # xtables-monitor shows no rule text for the inet table
    assert drop.hop == "inet firewalld filter_FORWARD"


def test_xt_rule_text_jump_goto_and_numeric_return() -> None:
    trace = parse_file(DATA / "xt-nozone-egress.txt")
    evs = trace.packets["c57faf6f"]
    jump = next(e for e in evs if e.chain == "FORWARD" and e.verdict == "jump")
    assert (jump.family, jump.table, jump.handle, jump.target) == (
        "ip",
        "filter",
        "0x19d",
        "DOCKER-USER",
    )
    assert jump.rule == "-4 -t filter -A FORWARD -j DOCKER-USER"
    ret = next(e for e in evs if e.chain == "DOCKER-USER")
    assert (ret.kind, ret.handle, ret.verdict) == ("rule", "0x194", "return")  # 0xfffffffb
    accept = next(e for e in evs if e.chain == "FORWARD" and e.verdict == "accept")
    assert accept.rule == "-4 -t filter -A FORWARD -i docker0 ! -o docker0 -j ACCEPT"
    goto = next(e for e in evs if e.verdict == "goto")
    assert (goto.chain, goto.target) == ("filter_FORWARD_IN_ZONES", "filter_FWDI_public")


def test_xt_policy_lines() -> None:
    trace = parse_file(DATA / "xt-nozone-egress.txt")
    policy = trace.packets["be722d32"][2]
    assert (policy.kind, policy.table, policy.chain, policy.verdict, policy.handle) == (
        "policy",
        "raw",
        "PREROUTING",
        "accept",
        "",
    )


def test_xt_reused_trace_id_starts_a_new_packet() -> None:
    # bad64a10 is used for the SYN (IP ID 35998) and later for another packet (ID 36000)
    trace = parse_file(DATA / "xt-broad-enobufs.txt")
    assert "bad64a10" in trace.packets and "bad64a10#2" in trace.packets
    assert list(trace.packets).index("bad64a10") < list(trace.packets).index("bad64a10#2")
    assert all(e.packet_id == "bad64a10#2" for e in trace.packets["bad64a10#2"])


def test_xt_centos8_handle() -> None:
    text = (
        "PACKET: 1 5b2cf3a8 IN=docker0 OUT=enp0s3 NFPROTO=2 SRC=172.17.0.2 DST=93.184.216.34 "
        "LEN=60 TOS=0x0 TTL=63 ID=1DF SPORT=40000 DPORT=443 SYN \n"
        " TRACE: 1 5b2cf3a8 firewalld:filter_FORWARD:rule:0x93:DROP \n"
    )
    trace = parse_text(text)
    ev = trace.events[-1]
    assert (ev.packet_id, ev.family, ev.table, ev.chain) == (
        "5b2cf3a8",
        "inet",
        "firewalld",
        "filter_FORWARD",
    )
    assert (ev.handle, ev.verdict) == ("0x93", "drop")
    assert trace.info("5b2cf3a8").oif == "enp0s3"


def test_xt_older_format_with_fewer_fields() -> None:
    # Older xtables-monitor: no rule text, the packet printed on the TRACE line itself with
    # "PACKET: 0", a verdict without handle, a trace line without packet id.
    text = "\n".join(
        [
            " TRACE: 2 0000beef raw:PREROUTING:rule:0x2:CONTINUE PACKET: 0 0000beef IN=docker0 "
            "SRC=172.17.0.2 DST=1.1.1.1 LEN=60 TOS=0x0 TTL=64 ID=7DF SPORT=1 DPORT=53 SYN ",
            " TRACE: 2 0000beef raw:PREROUTING:policy:ACCEPT ",
            " TRACE: 2 0000beef filter:FORWARD:ACCEPT",
            " TRACE: 2 filter:DOCKER:return:",
            " TRACE: 1 0000beef firewalld:filter_FORWARD:rule:DROP",
        ]
    )
    trace = parse_text(text)
    assert trace.unparsed == []
    assert trace.tool == "xtables-monitor"
    assert list(trace.packets) == ["0000beef"]
    kinds = [(e.kind, e.table, e.chain, e.verdict, e.handle) for e in trace.events]
    assert kinds == [
        ("packet", "raw", "PREROUTING", "", ""),
        ("rule", "raw", "PREROUTING", "continue", "0x2"),
        ("policy", "raw", "PREROUTING", "accept", ""),
        ("rule", "filter", "FORWARD", "accept", ""),
        ("return", "filter", "DOCKER", "return", ""),
        ("rule", "firewalld", "filter_FORWARD", "drop", ""),
    ]
    packet = trace.events[0]
    assert (packet.family, packet.iif, packet.src, packet.dport) == (
        "ip",
        "docker0",
        "172.17.0.2",
        "53",
    )
    assert trace.events[1].rule == ""


@pytest.mark.parametrize(
    ("token", "expected"),
    [
        ("ACCEPT", "accept"),
        ("DROP", "drop"),
        ("CONTINUE", "continue"),
        ("JUMP", "jump"),
        ("0x0", "drop"),
        ("0x1", "accept"),
        ("0x10003", "queue"),  # NF_QUEUE with a queue number
        ("0xffffffff", "continue"),
        ("0xfffffffd", "jump"),
        ("0xfffffffc", "goto"),
        ("0xfffffffb", "return"),
        ("0xfffffff0", "0xfffffff0"),
    ],
)
def test_normalize_verdict(token: str, expected: str) -> None:
    assert normalize_verdict(token) == expected


def test_xt_enobufs_line() -> None:
    trace = parse_file(DATA / "xt-broad-enobufs.txt")
    assert trace.enobufs
    assert parse_text("Failed to received netlink message: No buffer space available\n").enobufs


# -- nft monitor trace ----------------------------------------------------------------


def test_nft_reject_is_a_drop_with_reject_rule() -> None:
    trace = parse_file(DATA / "nft-nozone-egress.txt")
    assert list(trace.packets) == ["be722d32", "c57faf6f", "b983d617", "64925536"]
    drop = next(e for e in trace.packets["64925536"] if e.blocks)
    assert (drop.family, drop.table, drop.chain, drop.kind) == (
        "inet",
        "firewalld",
        "filter_FORWARD",
        "rule",
    )
    assert drop.verdict == "drop"
    assert drop.rule == "reject with icmpx type admin-prohibited"
    assert drop.is_reject and drop.outcome == "reject"


def test_nft_packet_line() -> None:
    trace = parse_file(DATA / "nft-nozone-egress.txt")
    pkt = trace.events[0]
    assert (pkt.kind, pkt.family, pkt.table, pkt.chain) == ("packet", "ip", "raw", "PREROUTING")
    assert (pkt.iif, pkt.oif, pkt.src, pkt.dst, pkt.proto, pkt.dport) == (
        "docker0",
        "",
        "172.17.0.3",
        "203.0.113.10",
        "tcp",
        "80",
    )
    fwd = trace.packets["64925536"][0]
    assert (fwd.iif, fwd.oif) == ("docker0", "eth0")


def test_nft_rule_lines() -> None:
    trace = parse_file(DATA / "nft-zonedocker.txt")
    evs = trace.packets["3d40dc2c"]
    jump = evs[1]
    assert (jump.chain, jump.verdict, jump.target) == ("FORWARD", "jump", "DOCKER-USER")
    assert jump.rule == "counter packets 62 bytes 4758 jump DOCKER-USER"
    goto = next(e for e in evs if e.verdict == "goto")
    assert goto.rule == 'iifname "docker0" goto filter_FWDI_docker'
    assert goto.target == "filter_FWDI_docker"
    masq = evs[-1]
    assert (masq.table, masq.chain, masq.verdict) == ("nat", "POSTROUTING", "accept")
    assert masq.rule.endswith("masquerade")  # the double space before "(verdict" is gone
    first_rule = next(e for e in trace.events if e.kind == "rule")
    assert first_rule.rule.startswith(
        "meta l4proto tcp ip saddr 172.16.0.0/12 tcp flags & (fin|syn|rst|ack)"
    )
    assert first_rule.verdict == "continue"


def test_nft_other_line_kinds() -> None:
    text = "\n".join(
        [
            'trace id 1a2b3c4d ip filter FORWARD packet: iif "docker0" oif "eth0" ip saddr '
            "172.17.0.2 ip daddr 203.0.113.10 ip id 5 ip protocol udp udp sport 5353 udp dport 53 ",
            "trace id 1a2b3c4d ip filter FORWARD conntrack: ct direction original ct state new ",
            "trace id 1a2b3c4d ip filter FORWARD rule ip daddr 10.0.0.1 accept # handle 12 "
            "(verdict accept)",
            "trace id 1a2b3c4d ip filter FORWARD unknown rule handle 7 (verdict jump DOCKER)",
            "trace id 1a2b3c4d ip filter DOCKER verdict continue ",
            "trace id 1a2b3c4d ip filter DOCKER return",
            "trace id 1a2b3c4d ip filter FORWARD policy drop meta mark 0x00000001 ",
        ]
    )
    trace = parse_text(text)
    assert trace.unparsed == []
    assert trace.tool == "nft"
    got = [(e.kind, e.chain, e.verdict, e.target, e.handle) for e in trace.events]
    assert got == [
        ("packet", "FORWARD", "", "", ""),
        ("rule", "FORWARD", "accept", "", "12"),
        ("rule", "FORWARD", "jump", "DOCKER", "7"),
        ("return", "DOCKER", "continue", "", ""),
        ("return", "DOCKER", "return", "", ""),
        ("policy", "FORWARD", "drop", "", ""),
    ]
    assert trace.events[2].rule == ""
    info = trace.info("1a2b3c4d")
    assert (info.proto, info.dport, info.src) == ("udp", "53", "172.17.0.2")
    assert trace.events[-1].blocks and not trace.events[-1].is_reject


def test_nft_lost_events() -> None:
    text = (DATA / "nft-nozone-egress.txt").read_text()
    lines = text.splitlines()
    lines.insert(10, "# ERROR: We lost some netlink events!")
    trace = parse_text("\n".join(lines))
    assert trace.lost_events and not trace.enobufs
    assert trace.unparsed == []
    assert len(trace.events) == len(parse_text(text).events)


# -- edge cases -----------------------------------------------------------------------


def test_both_formats_in_one_text() -> None:
    xt = (DATA / "xt-zonedocker.txt").read_text()
    nft = (DATA / "nft-nozone-egress.txt").read_text()
    trace = parse_text(xt + "\n" + nft)
    assert trace.tool == "mixed"
    assert {e.tool for e in trace.events} == {"xtables-monitor", "nft"}
    assert len(trace.events) == len(parse_text(xt).events) + len(parse_text(nft).events)
    assert trace.unparsed == []


def test_interleaved_formats_line_by_line() -> None:
    text = "\n".join(
        [
            " TRACE: 1 aaaa0001 firewalld:filter_FORWARD:rule:0x27:DROP ",
            "trace id bbbb0002 inet firewalld filter_FORWARD rule reject (verdict drop)",
        ]
    )
    trace = parse_text(text)
    assert [(e.tool, e.packet_id, e.outcome) for e in trace.events] == [
        ("xtables-monitor", "aaaa0001", "drop"),
        ("nft", "bbbb0002", "reject"),
    ]


@pytest.mark.parametrize("text", ["", "\n\n   \n"])
def test_empty_input(text: str) -> None:
    trace = parse_text(text)
    assert trace == Trace()
    assert trace.tool == ""


def test_garbage_goes_to_unparsed() -> None:
    text = "\n".join(
        [
            "hello world",
            "PACKET: not really",
            " TRACE: nonsense",
            "trace id zz not a trace",
            " TRACE: 2 0badf00d filter:FORWARD:rule:0x1:ACCEPT ",
            "Segmentation fault",
        ]
    )
    trace = parse_text(text)
    assert trace.unparsed == [
        "hello world",
        "PACKET: not really",
        "TRACE: nonsense",
        "trace id zz not a trace",
        "Segmentation fault",
    ]
    assert len(trace.events) == 1 and trace.events[0].lineno == 5
