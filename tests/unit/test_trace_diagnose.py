"""Deciding and diagnosing traced packets (harness.trace.diagnose / render)."""

from __future__ import annotations

from pathlib import Path

import pytest
from rich.console import Console

from harness.models import TraceVerdict
from harness.trace import (
    analyse,
    choose_packet,
    decide,
    diagnose,
    parse_file,
    parse_text,
    render_analysis,
    render_path,
    verdict_line,
)

DATA = Path(__file__).resolve().parent / "data" / "traces" / "debian11-firewalld-0.9.3"

NOZONE = {
    # file: (bridge, tool)
    "xt-nozone-egress.txt": ("docker0", "xtables-monitor"),
    "xt-nozone-c2c.txt": ("br-e98fb4abe544", "xtables-monitor"),
    "nft-nozone-egress.txt": ("docker0", "nft"),
    "nft-nozone-c2c.txt": ("br-e98fb4abe544", "nft"),
}
ZONEDOCKER = {"xt-zonedocker.txt": "xtables-monitor", "nft-zonedocker.txt": "nft"}


def load(name: str) -> str:
    return (DATA / name).read_text()


def record() -> Console:
    return Console(record=True, width=200, color_system=None)


# -- the real captures ----------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(NOZONE))
def test_nozone_is_decided_by_firewalld_filter_forward(name: str) -> None:
    bridge, tool = NOZONE[name]
    result = analyse(load(name))
    v = result.verdict
    assert v is not None
    assert (v.family, v.table, v.chain, v.verdict, v.tool) == (
        "inet",
        "firewalld",
        "filter_FORWARD",
        "drop",
        tool,
    )
    if tool == "nft":
        assert v.rule == "reject with icmpx type admin-prohibited"
    else:
        assert v.rule == "handle 0x27"
    assert v.warnings == [] and result.warnings == []
    # the packet went through Docker's FORWARD, then firewalld's default zone
    assert "ip filter FORWARD" in v.path
    assert "inet firewalld filter_FWDI_public" in v.path
    assert v.path[-1] == "inet firewalld filter_FORWARD"
    assert all(a != b for a, b in zip(v.path, v.path[1:]))


@pytest.mark.parametrize("name", sorted(NOZONE))
def test_nozone_diagnosis(name: str) -> None:
    bridge, tool = NOZONE[name]
    d = analyse(load(name)).diagnosis
    assert "no firewalld zone" in d
    assert f"from {bridge}" in d
    assert "`public`" in d
    assert "filter_FORWARD" in d
    assert "ip filter FORWARD" in d  # Docker's ACCEPT does not save it
    assert "every base chain" in d
    assert "20.10" in d and "zone `docker`" in d
    assert f"firewall-cmd --permanent --zone=trusted --add-interface={bridge}" in d
    assert "--reload" in d
    assert "restarting docker" in d
    assert ("rejected" in d) is (tool == "nft")


@pytest.mark.parametrize("name", sorted(ZONEDOCKER))
def test_zonedocker_is_accepted_in_filter_fwdi_docker(name: str) -> None:
    v = analyse(load(name)).verdict
    assert v is not None
    assert (v.family, v.table, v.chain, v.verdict, v.tool) == (
        "inet",
        "firewalld",
        "filter_FWDI_docker",
        "accept",
        ZONEDOCKER[name],
    )
    # not Docker's accept in ip filter FORWARD, nor the later nat POSTROUTING masquerade
    assert v.path[-1] == "ip nat POSTROUTING"
    assert "zone `docker`" in v.diagnosis
    assert "20.10" in v.diagnosis
    assert "no firewalld zone" not in v.diagnosis


def test_enobufs_warning() -> None:
    result = analyse(load("xt-broad-enobufs.txt"))
    assert result.trace.enobufs
    assert len(result.warnings) == 1
    warning = result.warnings[0]
    assert "No buffer space available" in warning
    assert "narrow" in warning.lower()
    assert "-s 172.17.0.0/16 -p tcp --syn" in warning
    assert result.verdict is not None
    assert result.verdict.warnings == result.warnings
    # only host traffic was traced: no container packet, so the first packet is chosen
    assert choose_packet(result.trace) == "bad64a10"


def test_enobufs_warning_without_any_packet() -> None:
    result = analyse("cannot receive from nfnetlink socket: No buffer space available\n")
    assert result.verdict is None
    assert result.diagnosis == ""
    assert any("No buffer space available" in w for w in result.warnings)


def test_lost_events_warning() -> None:
    text = load("nft-nozone-egress.txt") + "# ERROR: We lost some netlink events!\n"
    result = analyse(text)
    assert result.verdict is not None and result.verdict.chain == "filter_FORWARD"
    assert len(result.warnings) == 1
    assert "lost some netlink events" in result.warnings[0]
    assert result.verdict.warnings == result.warnings


@pytest.mark.parametrize("name", sorted(NOZONE) + sorted(ZONEDOCKER) + ["xt-broad-enobufs.txt"])
def test_diagnose_standalone_matches_decide(name: str) -> None:
    trace = parse_file(DATA / name)
    v = decide(trace)
    assert v is not None
    assert diagnose(v, trace) == v.diagnosis


# -- choosing and deciding ------------------------------------------------------------


def test_decide_explicit_packet_id() -> None:
    trace = parse_file(DATA / "xt-nozone-egress.txt")
    assert choose_packet(trace) == "c57faf6f"
    pre = decide(trace, "be722d32")  # the PREROUTING half of the same SYN
    assert pre is not None
    assert pre.verdict == "accept"
    assert (pre.table, pre.chain) == ("firewalld", "nat_PREROUTING")  # no filter stage seen
    assert decide(trace, "nope") is None


def test_prefers_dropped_container_packet() -> None:
    text = "\n".join(
        [
            "PACKET: 2 00000001 OUT=eth0 SRC=10.0.2.15 DST=203.0.113.10 ID=1 SPORT=1 DPORT=80 SYN ",
            " TRACE: 2 00000001 filter:OUTPUT:policy:DROP ",
            "PACKET: 2 00000002 IN=docker0 OUT=eth0 SRC=172.17.0.2 DST=203.0.113.10 "
            "ID=2 DPORT=80 SYN ",
            " TRACE: 2 00000002 filter:FORWARD:rule:0x10:ACCEPT  -4 -t filter -A FORWARD -j ACCEPT",
            "PACKET: 2 00000003 IN=docker0 OUT=eth0 SRC=172.17.0.3 DST=203.0.113.10 "
            "ID=3 DPORT=80 SYN ",
            " TRACE: 2 00000003 filter:FORWARD:rule:0x11:DROP  -4 -t filter -A FORWARD -j DROP",
        ]
    )
    trace = parse_text(text)
    assert choose_packet(trace) == "00000003"
    v = decide(trace)
    assert v is not None and (v.chain, v.verdict) == ("FORWARD", "drop")
    assert v.rule == "-4 -t filter -A FORWARD -j DROP"
    # without the dropped container packet: the first forwarded container packet
    trace2 = parse_text("\n".join(text.splitlines()[:4]))
    assert choose_packet(trace2) == "00000002"
    # without container packets: the first packet, decided by its chain policy
    trace3 = parse_text("\n".join(text.splitlines()[:2]))
    v3 = decide(trace3)
    assert v3 is not None
    assert (v3.chain, v3.verdict, v3.rule) == ("OUTPUT", "drop", "policy drop")


def test_first_drop_decides_even_after_accepts() -> None:
    text = "\n".join(
        [
            'trace id 0000000a ip filter FORWARD packet: iif "br-1" oif "eth0" '
            "ip saddr 172.18.0.2 ip daddr 1.1.1.1",
            "trace id 0000000a ip filter FORWARD rule accept (verdict accept)",
            "trace id 0000000a inet custom fwd rule drop (verdict drop)",
            "trace id 0000000a inet other fwd policy drop",
        ]
    )
    v = decide(parse_text(text))
    assert v is not None
    assert (v.family, v.table, v.chain, v.verdict, v.rule) == (
        "inet",
        "custom",
        "fwd",
        "drop",
        "drop",
    )
    assert "inet custom fwd" in v.diagnosis and "drop" in v.diagnosis


def test_centos8_handle_diagnosis() -> None:
    # The seed article's CentOS 8 line, with a different handle
    text = (
        "PACKET: 1 5b2cf3a8 IN=docker0 OUT=enp0s3 NFPROTO=2 SRC=172.17.0.2 DST=93.184.216.34 "
        "LEN=60 TOS=0x0 TTL=63 ID=1DF SPORT=40000 DPORT=443 SYN \n"
        " TRACE: 1 5b2cf3a8 firewalld:filter_FORWARD:rule:0x93:DROP \n"
    )
    v = analyse(text).verdict
    assert v is not None
    assert verdict_line(v) == "inet firewalld filter_FORWARD: drop (handle 0x93)"
    assert "no firewalld zone" in v.diagnosis
    assert "(`public` unless changed)" in v.diagnosis  # no FWDI hop in this short trace
    assert "Even an ACCEPT in Docker's" in v.diagnosis


def test_bridge_in_a_zone_that_rejects() -> None:
    text = "\n".join(
        [
            'trace id 0000000b inet firewalld filter_FORWARD packet: iif "docker0" oif "eth0" '
            "ip saddr 172.17.0.2 ip daddr 203.0.113.10 ip protocol tcp tcp dport 80",
            'trace id 0000000b inet firewalld filter_FORWARD_IN_ZONES rule iifname "docker0" '
            "goto filter_FWDI_block (verdict goto filter_FWDI_block)",
            "trace id 0000000b inet firewalld filter_FORWARD rule reject with icmpx type "
            "admin-prohibited (verdict drop)",
        ]
    )
    d = analyse(text).diagnosis
    assert "docker0 is in firewalld zone `block`" in d
    assert "no firewalld zone" not in d


def test_firewalld_drop_from_non_bridge_is_generic() -> None:
    text = "\n".join(
        [
            'trace id 0000000c inet firewalld filter_FORWARD packet: iif "eth1" oif "eth0" '
            "ip saddr 192.168.1.5 ip daddr 203.0.113.10",
            "trace id 0000000c inet firewalld filter_FORWARD rule reject with icmpx type "
            "admin-prohibited (verdict drop)",
        ]
    )
    d = analyse(text).diagnosis
    assert d.startswith("The packet (192.168.1.5 -> 203.0.113.10) was decided in inet firewalld")
    assert "reject" in d
    assert "no firewalld zone" not in d


@pytest.mark.parametrize("text", ["", "garbage\nmore garbage\n"])
def test_no_packets(text: str) -> None:
    result = analyse(text)
    assert result.verdict is None
    assert result.warnings == []
    assert decide(result.trace) is None


def test_packet_lines_only() -> None:
    result = analyse("PACKET: 2 0000abcd IN=docker0 SRC=172.17.0.2 DST=1.1.1.1 \n")
    assert list(result.trace.packets) == ["0000abcd"]
    assert result.verdict is None


# -- rendering ------------------------------------------------------------------------


def test_verdict_line() -> None:
    nft = analyse(load("nft-nozone-egress.txt")).verdict
    xt = analyse(load("xt-nozone-egress.txt")).verdict
    assert nft is not None and xt is not None
    assert (
        verdict_line(nft)
        == "inet firewalld filter_FORWARD: drop (reject with icmpx type admin-prohibited)"
    )
    assert verdict_line(xt) == "inet firewalld filter_FORWARD: drop (handle 0x27)"
    assert (
        verdict_line(TraceVerdict("ip", "filter", "FORWARD", "accept"))
        == "ip filter FORWARD: accept"
    )


def test_render_path() -> None:
    result = analyse(load("nft-nozone-egress.txt") + "# ERROR: We lost some netlink events!\n")
    assert result.verdict is not None
    console = record()
    render_path(result.verdict, console)
    out = console.export_text()
    lines = out.splitlines()
    for hop in result.verdict.path:
        assert hop in out
    marked = [line for line in lines if "=>" in line]
    assert len(marked) == 1
    assert "inet firewalld filter_FORWARD" in marked[0] and "drop" in marked[0]
    assert lines.index(marked[0]) == len(result.verdict.path)  # the last hop, after the title
    assert "Verdict: inet firewalld filter_FORWARD: drop (reject with icmpx" in out
    assert "no firewalld zone" in out
    assert "Warning:" in out and "lost some netlink events" in out


def test_render_path_colours() -> None:
    drop = analyse(load("xt-nozone-egress.txt")).verdict
    accept = analyse(load("xt-zonedocker.txt")).verdict
    assert drop is not None and accept is not None
    red = Console(record=True, width=200, force_terminal=True, color_system="standard")
    render_path(drop, red)
    assert "\x1b[31m" in red.export_text(styles=True)  # red
    green = Console(record=True, width=200, force_terminal=True, color_system="standard")
    render_path(accept, green)
    assert "\x1b[32m" in green.export_text(styles=True)  # green


def test_render_escapes_markup() -> None:
    v = TraceVerdict("ip", "filter", "FORWARD", "drop", rule="-m comment --comment [bold]x[/bold]")
    console = record()
    render_path(v, console)
    assert "[bold]x[/bold]" in console.export_text()


def test_render_analysis_without_verdict() -> None:
    console = record()
    render_analysis(
        analyse("cannot receive from nfnetlink socket: No buffer space available\n"), console
    )
    out = console.export_text()
    assert "No traced packets" in out
    assert "No buffer space available" in out
