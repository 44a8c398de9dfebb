"""harness.trace.capture: the TRACE rules for each probe, the monitors on a lab machine
(with a fake host that records commands), and which traced packet tells a probe's story."""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from harness.models import Rule
from harness.trace.capture import (
    COMMENT,
    READY_SECONDS,
    WORKDIR,
    Captured,
    Monitors,
    Selector,
    cleanup_command,
)
from harness.trace.parse import TOOL_NFT, TOOL_XT
from tests.unit.factories import Out

MAC_A = "02:42:ac:11:00:03"  # a probe on docker0, which is in no firewalld zone
MAC_B = "02:42:ac:12:00:02"  # a probe on a bridge in firewalld's zone docker


# -- Selector ---------------------------------------------------------------------------------
def test_selector_by_mac_traces_new_tcp_connections_and_all_else() -> None:
    assert Selector(mac=MAC_A).rules() == [
        f"-p tcp --syn -m mac --mac-source {MAC_A}",
        f"! -p tcp -m mac --mac-source {MAC_A}",
    ]
    assert Selector(mac=MAC_A).flow() == {"mac": MAC_A}


def test_selector_by_destination() -> None:
    assert Selector(dst="203.0.113.10", dport="80").rules() == [
        "-d 203.0.113.10 -p tcp --syn --dport 80",
        "-d 203.0.113.10 ! -p tcp",
    ]
    assert Selector(dst="203.0.113.10").rules() == [
        "-d 203.0.113.10 -p tcp --syn",
        "-d 203.0.113.10 ! -p tcp",
    ]
    assert Selector(dst="203.0.113.10", dport="80").flow() == {
        "dst": "203.0.113.10",
        "dport": "80",
    }


# -- Monitors, with a fake host -------------------------------------------------------------------
@dataclass
class FakeHost:
    """Records every command (printing nothing); fails on request."""

    fail_start: bool = False
    stop_raises: bool = False
    commands: list[str] = field(default_factory=list)

    def run(self, cmd: str) -> Out:
        self.commands.append(cmd)
        if self.stop_raises and "kill $(cat" in cmd:
            raise ConnectionError("connection lost")
        if self.fail_start and "xtables-monitor --trace" in cmd:
            return Out(rc=1, stderr="iptables v1.8.7 (nf_tables): Couldn't load target `TRACE'\n")
        return Out()


def script_of(cmd: str) -> str:
    argv = shlex.split(cmd)
    assert argv[:2] == ["sh", "-c"] and len(argv) == 3, argv
    return argv[2]


def test_start_is_one_command_rules_first_then_monitors_until_they_listen() -> None:
    host = FakeHost()
    selectors = [Selector(mac=MAC_A), Selector(dst="203.0.113.10", dport="80")]
    Monitors(host, seconds=45).start(selectors)
    (cmd,) = host.commands
    script = script_of(cmd)
    assert f"timeout 45 stdbuf -oL xtables-monitor --trace > {WORKDIR}/xt.txt" in script
    assert f"timeout 45 stdbuf -oL nft monitor trace > {WORKDIR}/nft.txt" in script
    rules = [line for line in script.splitlines() if line.startswith("iptables ")]
    prefix = "iptables -w -t raw -I PREROUTING 1"
    suffix = f"-m comment --comment {COMMENT} -j TRACE"
    canary = re.fullmatch(rf"{prefix} -i lo -p udp --dport (\d+) {suffix}", rules[0])
    assert canary, rules[0]
    port = canary[1]
    assert rules[1:] == [
        f"{prefix} -p tcp --syn -m mac --mac-source {MAC_A} {suffix}",
        f"{prefix} ! -p tcp -m mac --mac-source {MAC_A} {suffix}",
        f"{prefix} -d 203.0.113.10 -p tcp --syn --dport 80 {suffix}",
        f"{prefix} -d 203.0.113.10 ! -p tcp {suffix}",
    ]
    # The ruleset is complete before nft loads its cache; the canary is awaited after.
    assert script.index("-j TRACE") < script.index("xtables-monitor")
    assert f"/dev/udp/127.0.0.1/{port}" in script
    assert script.index("xtables-monitor") < script.index("nft monitor") < script.index("/dev/udp")
    assert f'seen xt "DPORT={port} "' in script and f'seen nft "dport {port} "' in script
    assert f"while [ $i -lt {READY_SECONDS * 10} ]" in script  # bounded
    assert script.startswith("set -e\n")


def test_start_waits_for_the_canary_in_a_real_shell(tmp_path: Path) -> None:
    """The readiness loop, run by sh with stand-ins for the tools: a monitor that shows the
    canary's packet on its first line ends the wait; one that never does is an error."""
    host = FakeHost()
    Monitors(host, seconds=5).start([Selector(mac=MAC_A)])
    script = script_of(host.commands[0]).replace(WORKDIR, str(tmp_path / "w"))
    port = re.search(r"/dev/udp/127.0.0.1/(\d+)", script)[1]  # type: ignore[index]
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    tools = {
        "iptables": "exit 0",
        "xtables-monitor": f'echo "PACKET: 2 ab IN=lo SRC=127.0.0.1 DPORT={port} "; exec sleep 5',
        "nft": f'echo "trace id ab ip raw PREROUTING packet: udp dport {port} "; exec sleep 5',
    }
    for name, body in tools.items():
        (bin_dir / name).write_text(f"#!/bin/sh\n{body}\n")
        (bin_dir / name).chmod(0o755)
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin"}
    started = time.monotonic()
    ok = subprocess.run(["sh", "-c", script], env=env, capture_output=True, text=True, timeout=60)
    assert ok.returncode == 0, ok.stderr
    assert time.monotonic() - started < READY_SECONDS / 2
    (bin_dir / "xtables-monitor").write_text("#!/bin/sh\nexit 1\n")  # gone at once
    (bin_dir / "nft").write_text("#!/bin/sh\necho 'trace id cd ...'; exec sleep 5\n")
    deaf = subprocess.run(["sh", "-c", script.replace(f"-lt {READY_SECONDS * 10}", "-lt 5")],
                          env=env, capture_output=True, text=True, timeout=60)  # fmt: skip
    assert deaf.returncode == 1 and "no trace monitor was listening" in deaf.stderr
    for pid_file in (tmp_path / "w").glob("*.pid"):  # end the stand-ins this test started
        try:
            os.kill(int(pid_file.read_text()), signal.SIGTERM)
        except ProcessLookupError:
            pass


def test_start_script_is_valid_sh() -> None:
    host = FakeHost()
    Monitors(host, seconds=30).start([Selector(mac=MAC_A)])
    result = subprocess.run(["sh", "-n", "-c", script_of(host.commands[0])], capture_output=True)
    assert result.returncode == 0, result.stderr


def test_failed_start_cleans_up_and_says_why() -> None:
    host = FakeHost(fail_start=True)
    with pytest.raises(RuntimeError, match="could not start tracing: .*Couldn't load target"):
        Monitors(host, seconds=30).start([Selector(mac=MAC_A)])
    stop = script_of(host.commands[-1])  # the monitors stop and every rule goes
    assert "kill $(cat" in stop and cleanup_command() in stop
    assert stop.rstrip().endswith(f"rm -rf {WORKDIR}")


def test_stop_returns_both_captures_and_cleans_up_in_one_command(tmp_path: Path) -> None:
    host = FakeHost()
    monitors = Monitors(host, seconds=30)
    monitors.start([Selector(mac=MAC_A)])
    assert monitors.stop() == ("", "")  # FakeHost prints nothing
    (stop,) = host.commands[1:]
    script = script_of(stop)
    assert "kill $(cat" in script and cleanup_command() in script
    assert script.index("kill $(cat") < script.index(f"cat {WORKDIR}/xt.txt") < script.index(
        f"cat {WORKDIR}/nft.txt") < script.index(cleanup_command())  # fmt: skip
    assert script.rstrip().endswith(f"rm -rf {WORKDIR}")
    # What the script prints splits back into the two captures, whatever their last line.
    work = tmp_path / "w"
    work.mkdir()
    (work / "xt.txt").write_text("PACKET: 2 ab IN=docker0\n TRACE: 2 ab raw:PREROUTING")
    (work / "nft.txt").write_text("trace id ab ip raw PREROUTING packet: iif docker0\n")
    printed = subprocess.run(
        ["sh", "-c", script.replace(WORKDIR, str(work)).replace(cleanup_command(), "true")],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    monitors.host = FakeHost()
    monitors.host.run = lambda cmd: Out(stdout=printed)  # type: ignore[method-assign]
    xt, nft = monitors.stop()
    assert xt.strip() == "PACKET: 2 ab IN=docker0\n TRACE: 2 ab raw:PREROUTING"
    assert nft == "trace id ab ip raw PREROUTING packet: iif docker0\n"


def test_stop_cleans_up_even_when_the_connection_fails() -> None:
    host = FakeHost(stop_raises=True)
    with pytest.raises(ConnectionError):
        Monitors(host, seconds=30).stop()
    assert host.commands[-2:] == [cleanup_command(), f"rm -rf {WORKDIR}"]


LISTED = (
    "-P PREROUTING ACCEPT\n"
    f"-A PREROUTING -p tcp -m tcp --tcp-flags FIN,SYN,RST,ACK SYN -m mac --mac-source {MAC_A} "
    f"-m comment --comment {COMMENT} -j TRACE\n"
    "-A PREROUTING -s 172.16.0.0/12 -p tcp -j TRACE\n"
    f"-A PREROUTING -d 203.0.113.10/32 ! -p tcp -m comment --comment {COMMENT} -j TRACE\n"
)
DELETED = [
    f"-D PREROUTING -p tcp -m tcp --tcp-flags FIN,SYN,RST,ACK SYN -m mac "
    f"--mac-source {MAC_A} -m comment --comment {COMMENT} -j TRACE",
    f"-D PREROUTING -d 203.0.113.10/32 ! -p tcp -m comment --comment {COMMENT} -j TRACE",
]


def run_cleanup(tmp_path: Path, restore_works: bool) -> tuple[list[str], list[str]]:
    """The cleanup, run by sh with stand-ins for iptables (it lists raw PREROUTING and
    logs deletions) and iptables-restore (it logs its input, or fails): never the host's
    own tools. Returns (what iptables-restore read, what iptables deleted)."""
    restored, deleted = tmp_path / "restored", tmp_path / "deleted"
    tools = {
        "iptables": f'case "$*" in *" -S PREROUTING") printf %s {shlex.quote(LISTED)} ;; '
        f'*) echo "$*" >> {deleted} ;; esac',
        "iptables-restore": f"cat >> {restored}; exit 0" if restore_works else "exit 1",
    }
    for name, body in tools.items():
        (tmp_path / name).write_text(f"#!/bin/sh\n{body}\n")
        (tmp_path / name).chmod(0o755)
    env = {**os.environ, "PATH": f"{tmp_path}:{os.environ['PATH']}"}
    result = subprocess.run(["sh", "-c", cleanup_command()], env=env, capture_output=True)
    assert result.returncode == 0, result.stderr

    def lines(path: Path) -> list[str]:
        return path.read_text().splitlines() if path.exists() else []

    return lines(restored), lines(deleted)


def test_cleanup_deletes_only_fwlab_trace_rules_in_one_restore(tmp_path: Path) -> None:
    restored, deleted = run_cleanup(tmp_path, restore_works=True)
    assert restored == ["*raw", *DELETED, "COMMIT"]
    assert deleted == []


def test_cleanup_falls_back_to_one_rule_at_a_time(tmp_path: Path) -> None:
    _restored, deleted = run_cleanup(tmp_path, restore_works=False)
    assert deleted == [f"-w -t raw {rule}" for rule in DELETED]


# -- Captured.for_probe ----------------------------------------------------------------------------
SYN_A = (
    f'iif "docker0" oif "eth0" ether saddr {MAC_A} ether daddr 02:42:d7:a5:eb:79 '
    "ip saddr 172.17.0.3 ip daddr 203.0.113.10 ip dscp cs0 ip ecn not-ect ip ttl 63 ip id 22214 "
    "ip protocol tcp ip length 60 tcp sport 60254 tcp dport 80 tcp flags == syn tcp window 64240"
)
PING_A = (
    f'iif "docker0" ether saddr {MAC_A} ether daddr 02:42:d7:a5:eb:79 ip saddr 172.17.0.3 '
    "ip daddr 172.17.0.1 ip dscp cs0 ip ecn not-ect ip ttl 64 ip id 40111 ip protocol icmp "
    "ip length 84 icmp type echo-request icmp code net-unreachable icmp id 7 icmp sequence 1 "
    "@th,64,96 0x4f1d7c6500000000a5e10d00"
)
DNS_B = (
    f'iif "br-5d1c9e0a7b3f" oif "eth0" ether saddr {MAC_B} ether daddr 02:42:3b:8e:11:c0 '
    "ip saddr 172.18.0.2 ip daddr 10.0.2.3 ip dscp cs0 ip ecn not-ect ip ttl 63 ip id 51234 "
    "ip protocol udp ip length 56 udp sport 45678 udp dport 53 udp length 36 "
    "@th,64,96 0x1a2b01000001000000000000"
)
SYN_B = (
    f'iif "br-5d1c9e0a7b3f" oif "eth0" ether saddr {MAC_B} ether daddr 02:42:3b:8e:11:c0 '
    "ip saddr 172.18.0.2 ip daddr 203.0.113.10 ip dscp cs0 ip ecn not-ect ip ttl 63 ip id 8802 "
    "ip protocol tcp ip length 60 tcp sport 38114 tcp dport 80 tcp flags == syn tcp window 64240"
)


def nft_lines(*rows: str) -> str:
    return "\n".join(rows) + "\n"


NFT_A_SYN = (
    f"trace id 64925536 inet firewalld filter_FORWARD packet: {SYN_A}",
    "trace id 64925536 inet firewalld filter_FORWARD rule jump filter_FORWARD_IN_ZONES "
    "(verdict jump filter_FORWARD_IN_ZONES)",
    "trace id 64925536 inet firewalld filter_FORWARD_IN_ZONES rule goto filter_FWDI_public "
    "(verdict goto filter_FWDI_public)",
    "trace id 64925536 inet firewalld filter_FWDI_public rule jump filter_FWDI_public_post "
    "(verdict jump filter_FWDI_public_post)",
    "trace id 64925536 inet firewalld filter_FORWARD rule reject with icmpx type "
    "admin-prohibited (verdict drop)",
)
NFT_A_PING = (
    f"trace id 1c2d3e4f inet firewalld filter_INPUT packet: {PING_A}",
    "trace id 1c2d3e4f inet firewalld filter_INPUT rule jump filter_INPUT_ZONES "
    "(verdict jump filter_INPUT_ZONES)",
    "trace id 1c2d3e4f inet firewalld filter_INPUT_ZONES rule goto filter_IN_public "
    "(verdict goto filter_IN_public)",
    "trace id 1c2d3e4f inet firewalld filter_IN_public rule meta l4proto { icmp, ipv6-icmp } "
    "accept (verdict accept)",
)
NFT_B = (
    f"trace id 2a3b4c5d inet firewalld filter_FORWARD packet: {DNS_B}",
    "trace id 2a3b4c5d inet firewalld filter_FORWARD_IN_ZONES rule iifname "
    '"br-5d1c9e0a7b3f" goto filter_FWDI_docker (verdict goto filter_FWDI_docker)',
    "trace id 2a3b4c5d inet firewalld filter_FWDI_docker rule accept (verdict accept)",
    f"trace id 3b4c5d6e inet firewalld filter_FORWARD packet: {SYN_B}",
    "trace id 3b4c5d6e inet firewalld filter_FORWARD_IN_ZONES rule iifname "
    '"br-5d1c9e0a7b3f" goto filter_FWDI_docker (verdict goto filter_FWDI_docker)',
    "trace id 3b4c5d6e inet firewalld filter_FWDI_docker rule accept (verdict accept)",
)
XT_A_SYN = (
    "PACKET: 1 64925536 IN=docker0 OUT=eth0 NFPROTO=2 MACSRC=2:42:ac:11:0:3 "
    "MACDST=2:42:d7:a5:eb:79 MACPROTO=0800 SRC=172.17.0.3 DST=203.0.113.10 LEN=60 TOS=0x0 "
    "TTL=63 ID=22214DF SPORT=60254 DPORT=80 SYN ",
    " TRACE: 1 64925536 firewalld:filter_FORWARD:rule:0x1e:JUMP:filter_FORWARD_IN_ZONES  ",
    " TRACE: 1 64925536 firewalld:filter_FORWARD_IN_ZONES:rule:0x2c:GOTO:filter_FWDI_public  ",
    " TRACE: 1 64925536 firewalld:filter_FWDI_public:rule:0x9a:JUMP:filter_FWDI_public_post  ",
    " TRACE: 1 64925536 firewalld:filter_FORWARD:rule:0x27:DROP ",
)
XT_B_SYN = (
    "PACKET: 1 3b4c5d6e IN=br-5d1c9e0a7b3f OUT=eth0 NFPROTO=2 MACSRC=2:42:ac:12:0:2 "
    "MACDST=2:42:3b:8e:11:c0 MACPROTO=0800 SRC=172.18.0.2 DST=203.0.113.10 LEN=60 TOS=0x0 "
    "TTL=63 ID=8802DF SPORT=38114 DPORT=80 SYN ",
    " TRACE: 1 3b4c5d6e firewalld:filter_FORWARD_IN_ZONES:rule:0x2d:GOTO:filter_FWDI_docker  ",
    " TRACE: 1 3b4c5d6e firewalld:filter_FWDI_docker:rule:0xab:ACCEPT  ",
)
NFT_ALL = nft_lines(*NFT_A_SYN, *NFT_B, *NFT_A_PING)
XT_ALL = nft_lines(*XT_A_SYN, *XT_B_SYN)


def test_failed_probe_gets_its_blocked_packet_from_nft() -> None:
    captured = Captured.of(XT_ALL, NFT_ALL)
    trace = captured.for_probe(Selector(mac=MAC_A), passed=False)
    assert trace is not None
    assert trace.tool == TOOL_NFT  # nft shows the reject as a reject; xtables-monitor as DROP
    assert trace.rule == Rule("inet", "firewalld", "filter_FORWARD", "reject")
    assert trace.flow["dport"] == "80"


def test_passed_probe_gets_its_last_decided_packet() -> None:
    captured = Captured.of(XT_ALL, NFT_ALL)
    trace = captured.for_probe(Selector(mac=MAC_B), passed=True)
    assert trace is not None
    assert trace.tool == TOOL_NFT
    assert (trace.flow["proto"], trace.flow["dport"]) == ("tcp", "80")  # not the DNS query
    assert trace.rule == Rule("inet", "firewalld", "filter_FWDI_docker", "accept")


def test_failed_probe_prefers_the_blocked_packet_over_a_later_accepted_one() -> None:
    captured = Captured.of("", NFT_ALL)
    trace = captured.for_probe(Selector(mac=MAC_A), passed=False)
    assert trace is not None and trace.rule is not None and trace.rule.verdict == "reject"
    last = captured.for_probe(Selector(mac=MAC_A), passed=True)
    assert last is not None and last.flow["proto"] == "icmp"


def test_xtables_monitor_when_nft_decides_nothing() -> None:
    prerouting = SYN_A.replace(' oif "eth0"', "")
    nft = nft_lines(
        f"trace id 64925536 ip raw PREROUTING packet: {prerouting}",
        "trace id 64925536 ip raw PREROUTING policy accept ",
    )
    captured = Captured.of(XT_ALL, nft)
    trace = captured.for_probe(Selector(mac=MAC_A), passed=False)
    assert trace is not None
    assert trace.tool == TOOL_XT
    assert trace.rule == Rule("inet", "firewalld", "filter_FORWARD", "drop")
    # Neither decides: nft's packet, undecided, rather than nothing.
    undecided = Captured.of("", nft).for_probe(Selector(mac=MAC_A), passed=False)
    assert undecided is not None and undecided.tool == TOOL_NFT and not undecided.final


def test_a_probe_with_no_traced_packet_gets_none() -> None:
    captured = Captured.of(XT_ALL, NFT_ALL)
    assert captured.for_probe(Selector(mac="02:42:ac:11:00:09"), passed=False) is None
    assert Captured.of("", "").for_probe(Selector(mac=MAC_A), passed=True) is None


def test_probe_from_outside_selected_by_destination() -> None:
    captured = Captured.of(XT_ALL, NFT_ALL)
    trace = captured.for_probe(Selector(dst="172.17.0.1"), passed=True)
    assert trace is not None and trace.flow["proto"] == "icmp"
    assert trace.rule == Rule("inet", "firewalld", "filter_IN_public", "accept")
