"""harness.trace.capture: the capture script, its cleanup, and capture() with fake hosts.

The script is also run for real with `sh`, against stub iptables / xtables-monitor /
nft / timeout / stdbuf commands that keep their "ruleset" in a file: no root, no
netfilter, and the trap's cleanup is seen to remove exactly what was inserted.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from harness.trace import capture as capture_mod
from harness.trace.capture import (
    MONITOR_SECONDS,
    WORKDIR,
    Capture,
    capture,
    capture_command,
    cleanup_command,
    remaining_trace_rules,
)

DATA = Path(__file__).resolve().parent / "data" / "traces" / "debian11-firewalld-0.9.3"
SUBNET = "172.17.0.0/16"
PROBE = "timeout -k 2 9 docker run --rm --init fwlab/probe:0123456789ab wget http://x/"


def script_of(command: str) -> str:
    """The script inside `sh -c '<script>'`."""
    argv = shlex.split(command)
    assert argv[:2] == ["sh", "-c"]
    assert len(argv) == 3
    return argv[2]


# -- the command --------------------------------------------------------------------------
def test_capture_command_is_one_sh_c_line() -> None:
    command = capture_command(PROBE, SUBNET)
    assert command.startswith("sh -c '")
    script = script_of(command)
    assert script.startswith("set -u\n")


def test_trace_rules_are_narrowed_to_the_subnet_and_commented() -> None:
    script = script_of(capture_command(PROBE, SUBNET))
    tcp = re.search(r'^tcp="(.*)"$', script, re.M)
    dns = re.search(r'^dns="(.*)"$', script, re.M)
    assert tcp and dns
    assert tcp.group(1) == f"-p tcp -s {SUBNET} --syn -m comment --comment fwlab-trace -j TRACE"
    assert dns.group(1) == (
        f"-p udp -s {SUBNET} --dport 53 -m comment --comment fwlab-trace -j TRACE"
    )
    assert "iptables -t raw -I PREROUTING 1 $tcp" in script
    assert "iptables -t raw -I PREROUTING 1 $dns" in script


def test_cleanup_trap_deletes_the_rules_and_stops_the_monitors() -> None:
    script = script_of(capture_command(PROBE, SUBNET))
    assert re.search(r"^trap cleanup EXIT\b", script, re.M)
    body = re.search(r"^cleanup\(\) \{\n(.*?)^\}", script, re.M | re.S)
    assert body
    assert "iptables -t raw -D PREROUTING $tcp" in body.group(1)
    assert "iptables -t raw -D PREROUTING $dns" in body.group(1)
    assert "kill $XT $NFT" in body.group(1)
    # The trap is set before any rule is inserted.
    assert script.index("trap cleanup") < script.index("-I PREROUTING")


def test_monitors_and_probe() -> None:
    script = script_of(capture_command(PROBE, SUBNET))
    assert f"timeout {MONITOR_SECONDS} stdbuf -oL xtables-monitor --trace > {WORKDIR}/xt.txt" in (
        script
    )
    assert f"timeout {MONITOR_SECONDS} stdbuf -oL nft monitor trace > {WORKDIR}/nft.txt" in script
    assert f"    {PROBE} >/dev/null 2>&1 &\n" in script  # in the background: stopped early
    # Monitors listen before the rules go in, the probe runs after.
    assert script.index("xtables-monitor") < script.index("-I PREROUTING") < script.index(PROBE)


def test_probe_with_quotes_survives_the_quoting() -> None:
    probe = "docker run --rm img sh -c 'wget -O - \"http://x/\"'"
    assert f"    {probe} >/dev/null 2>&1 &\n" in script_of(capture_command(probe, SUBNET))


@pytest.mark.skipif(shutil.which("sh") is None, reason="needs sh")
def test_script_is_valid_sh() -> None:
    subprocess.run(["sh", "-n", "-c", script_of(capture_command(PROBE, SUBNET))], check=True)
    subprocess.run(["sh", "-n", "-c", cleanup_command()], check=True)


def test_cleanup_command_deletes_every_fwlab_trace_rule() -> None:
    command = cleanup_command()
    assert command.startswith("iptables -t raw -S PREROUTING | grep -- '--comment fwlab-trace'")
    assert "sed 's/^-A/-D/'" in command
    assert command.endswith("; true")


# -- capture() with a recording host ------------------------------------------------------
@dataclass
class Result:
    stdout: str = ""
    stderr: str = ""
    rc: int = 0


@dataclass
class FakeHost:
    """A testinfra-like host: records commands, answers `cat`s, can fail on call N."""

    xt: str = ""
    nft: str = ""
    fail_on: int | None = None  # 1-based index of the call that raises
    commands: list[str] = field(default_factory=list)

    def run(self, command: str) -> Result:
        self.commands.append(command)
        if self.fail_on == len(self.commands):
            raise ConnectionError("ssh: connection reset by peer")
        if command == f"cat {WORKDIR}/xt.txt":
            return Result(self.xt)
        if command == f"cat {WORKDIR}/nft.txt":
            return Result(self.nft)
        return Result()


CLEANUP = [cleanup_command(), f"rm -rf {WORKDIR}"]


@pytest.mark.parametrize("case", ["egress", "c2c"])
def test_capture_of_nozone_traffic_finds_firewalld_filter_forward(case: str) -> None:
    xt = (DATA / f"xt-nozone-{case}.txt").read_text()
    nft = (DATA / f"nft-nozone-{case}.txt").read_text()
    host = FakeHost(xt=xt, nft=nft)
    result = capture(host, PROBE, SUBNET)
    assert isinstance(result, Capture)
    assert host.commands == [
        capture_command(PROBE, SUBNET),
        f"cat {WORKDIR}/xt.txt",
        f"cat {WORKDIR}/nft.txt",
        *CLEANUP,
    ]
    assert (result.xtables_text, result.nft_text) == (xt, nft)
    verdict = result.verdict
    assert verdict is not None
    assert (verdict.table, verdict.chain, verdict.verdict) == (
        "firewalld",
        "filter_FORWARD",
        "drop",
    )
    assert verdict.tool == "xtables-monitor"  # the seed's tool wins when both decided
    assert result.nft.verdict is not None
    assert result.nft.verdict.chain == "filter_FORWARD"


def test_capture_falls_back_to_nft() -> None:
    host = FakeHost(xt="", nft=(DATA / "nft-nozone-egress.txt").read_text())
    verdict = capture(host, PROBE, SUBNET).verdict
    assert verdict is not None
    assert (verdict.tool, verdict.chain) == ("nft", "filter_FORWARD")


def test_capture_with_nothing_traced_has_no_verdict() -> None:
    host = FakeHost()
    result = capture(host, PROBE, SUBNET)
    assert result.verdict is None
    assert host.commands[-2:] == CLEANUP


@pytest.mark.parametrize("fail_on", [1, 2, 3])
def test_capture_always_cleans_up(fail_on: int) -> None:
    host = FakeHost(fail_on=fail_on)
    with pytest.raises(ConnectionError):
        capture(host, PROBE, SUBNET)
    assert host.commands[0] == capture_command(PROBE, SUBNET)
    assert host.commands[fail_on:] == CLEANUP


def test_remaining_trace_rules() -> None:
    class Host:
        def run(self, command: str) -> Result:
            assert command == "iptables -t raw -S PREROUTING"
            return Result(
                "-P PREROUTING ACCEPT\n"
                "-A PREROUTING -s 172.17.0.0/16 -p udp -m udp --dport 53"
                " -m comment --comment fwlab-trace -j TRACE\n"
                "-A PREROUTING -s 10.0.0.0/8 -j TRACE\n"
                "-A PREROUTING -s 172.18.0.0/16 -p tcp -m tcp --tcp-flags FIN,SYN,RST,ACK SYN"
                " -m comment --comment fwlab-trace -j TRACE\n"
            )

    assert remaining_trace_rules(Host()) == 2


# -- the script, run for real against stub commands ---------------------------------------
STUB_IPTABLES = r"""#!/bin/sh
# iptables -t raw (-I CHAIN N SPEC | -D CHAIN SPEC | -S CHAIN), ruleset kept in a file.
echo "iptables $*" >> "$STUB_DIR/log"
rules="$STUB_DIR/rules"
touch "$rules"
shift 2
op=$1
chain=$2
shift 2
case $op in
    -I) shift; echo "$*" >> "$rules" ;;
    -D)
        grep -qxF -- "$*" "$rules" || exit 1
        awk -v r="$*" '!done && $0 == r { done = 1; next } { print }' "$rules" > "$rules.new"
        mv "$rules.new" "$rules"
        ;;
    -S)
        echo "-P $chain ACCEPT"
        while IFS= read -r rule; do echo "-A $chain $rule"; done < "$rules"
        ;;
esac
"""
STUB_DROP_ARG = '#!/bin/sh\nshift\nexec "$@"\n'  # timeout SECONDS ..., stdbuf -oL ...
STUB_MONITOR = '#!/bin/sh\necho "$0 $*" >> "$STUB_DIR/log"\ncat "$STUB_DIR/{name}"\nexec sleep 30\n'
STUB_PROBE = '#!/bin/sh\necho "probe $*" >> "$STUB_DIR/log"\nexit {rc}\n'


@dataclass
class LocalHost:
    """Runs commands with sh on this machine, stubs first on PATH."""

    stubs: Path
    commands: list[str] = field(default_factory=list)

    def run(self, command: str) -> Result:
        self.commands.append(command)
        env = dict(os.environ, PATH=f"{self.stubs}:{os.environ.get('PATH', '/usr/bin:/bin')}")
        env["STUB_DIR"] = str(self.stubs)
        done = subprocess.run(
            ["sh", "-c", command], env=env, capture_output=True, text=True, timeout=20
        )
        return Result(done.stdout, done.stderr, done.returncode)

    def rules(self) -> list[str]:
        path = self.stubs / "rules"
        return path.read_text().splitlines() if path.exists() else []

    def log(self) -> list[str]:
        return (self.stubs / "log").read_text().splitlines()


def write_stub(folder: Path, name: str, text: str) -> None:
    (folder / name).write_text(text)
    (folder / name).chmod(0o755)


@pytest.fixture
def local(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> LocalHost:
    for tool in ("sh", "awk", "grep", "sleep", "cat", "mkdir", "mv", "rm"):
        if shutil.which(tool) is None:
            pytest.skip(f"needs {tool}")
    stubs = tmp_path / "stubs"
    stubs.mkdir()
    write_stub(stubs, "iptables", STUB_IPTABLES)
    write_stub(stubs, "timeout", STUB_DROP_ARG)
    write_stub(stubs, "stdbuf", STUB_DROP_ARG)
    write_stub(stubs, "xtables-monitor", STUB_MONITOR.format(name="xt-fixture"))
    write_stub(stubs, "nft", STUB_MONITOR.format(name="nft-fixture"))
    write_stub(stubs, "probe-ok", STUB_PROBE.format(rc=0))
    write_stub(stubs, "probe-fails", STUB_PROBE.format(rc=1))
    shutil.copy(DATA / "xt-nozone-egress.txt", stubs / "xt-fixture")
    shutil.copy(DATA / "nft-nozone-egress.txt", stubs / "nft-fixture")
    monkeypatch.setattr(capture_mod, "WORKDIR", str(tmp_path / "work"))
    return LocalHost(stubs)


@pytest.mark.parametrize("probe", ["probe-ok", "probe-fails"])
def test_script_leaves_no_rule_behind(local: LocalHost, probe: str) -> None:
    result = capture(local, probe, SUBNET)
    assert local.rules() == []
    log = local.log()
    inserted = [line for line in log if " -I PREROUTING 1 " in line]
    assert len(inserted) == 2
    assert all(f"-s {SUBNET}" in line and "--comment fwlab-trace" in line for line in inserted)
    assert 1 <= sum(line.startswith("probe") for line in log) <= 2
    # Each rule deleted once, then one failed -D each ends the delete loops.
    assert sum(" -D PREROUTING " in line for line in log) == 4
    # The monitors' output was read back and decided.
    assert result.verdict is not None
    assert (result.verdict.table, result.verdict.chain) == ("firewalld", "filter_FORWARD")
    assert not Path(capture_mod.WORKDIR).exists()  # rm -rf ran


def test_script_deletes_leftover_copies_of_its_rules(local: LocalHost) -> None:
    spec = f"-p tcp -s {SUBNET} --syn -m comment --comment fwlab-trace -j TRACE"
    (local.stubs / "rules").write_text(f"{spec}\n-s 10.0.0.0/8 -j TRACE\n{spec}\n")
    local.run(capture_command("probe-ok", SUBNET))
    assert local.rules() == ["-s 10.0.0.0/8 -j TRACE"]


def test_cleanup_command_removes_rules_for_any_subnet(local: LocalHost) -> None:
    (local.stubs / "rules").write_text(
        "-s 172.18.0.0/16 -p tcp --syn -m comment --comment fwlab-trace -j TRACE\n"
        "-s 10.0.0.0/8 -j TRACE\n"
        "-s 172.19.0.0/16 -p udp --dport 53 -m comment --comment fwlab-trace -j TRACE\n"
    )
    assert remaining_trace_rules(local) == 2
    assert local.run(cleanup_command()).rc == 0
    assert local.rules() == ["-s 10.0.0.0/8 -j TRACE"]
    assert remaining_trace_rules(local) == 0
    assert local.run(cleanup_command()).rc == 0  # nothing left: still succeeds


def test_a_complete_final_verdict_beats_a_cut_short_capture() -> None:
    from harness.trace.capture import Capture
    from harness.trace.diagnose import analyse

    broken = (DATA / "xt-broad-enobufs.txt").read_text()
    good = (DATA / "nft-nozone-egress.txt").read_text()
    cap = Capture(analyse(broken), analyse(good), broken, good)
    assert cap.verdict is not None
    assert (cap.verdict.tool, cap.verdict.chain) == ("nft", "filter_FORWARD")
    assert cap.verdict.is_final and not cap.verdict.warnings
    # Both complete and final: xtables-monitor's, the seed's tool, is preferred.
    xt = (DATA / "xt-nozone-egress.txt").read_text()
    both = Capture(analyse(xt), analyse(good), xt, good)
    assert both.verdict is not None and both.verdict.tool == "xtables-monitor"
