"""Trace packets on a lab machine while probes run.

The seed's way, made narrow enough to trace several probes at once: TRACE rules in raw
PREROUTING, one pair per probe, matching only that probe's packets (its container's MAC
address, or its destination when it comes from outside the lab): new TCP connections,
and every non-TCP packet (DNS queries, ICMP echoes). `xtables-monitor --trace` and
`nft monitor trace` listen meanwhile; both captures are read with the same parser, and
each probe gets the packets that match its selector.

The monitors must be listening before the probes run: a canary packet proves it (see
START). Every rule carries the comment `fwlab-trace`; `stop()` removes them and the
monitors on every path, and `cleanup_command()` removes any rule left by a cut connection.
"""

from __future__ import annotations

import secrets
import shlex
from dataclasses import dataclass
from typing import Any

from harness.models import PacketTrace
from harness.trace import Capture, analyse

WORKDIR = "/run/fwlab-trace"
COMMENT = "fwlab-trace"


@dataclass(frozen=True)
class Selector:
    """Which packets belong to one probe."""

    mac: str = ""  # the probe container's MAC address
    dst: str = ""  # or, from outside the lab: where it goes
    dport: str = ""

    def rules(self) -> list[str]:
        if self.mac:
            match = f"-m mac --mac-source {self.mac}"
            return [f"-p tcp --syn {match}", f"! -p tcp {match}"]
        port = f" --dport {self.dport}" if self.dport else ""
        return [f"-d {self.dst} -p tcp --syn{port}", f"-d {self.dst} ! -p tcp"]

    def flow(self) -> dict[str, str]:
        return {"mac": self.mac} if self.mac else {"dst": self.dst, "dport": self.dport}


#: How long the monitors may take to listen, checked by a canary packet.
READY_SECONDS = 20

# Every TRACE rule goes in before the monitors start: a ruleset that changes while `nft
# monitor` loads its cache leaves it printing "unknown rule handle". Then the canary: UDP
# to the lab's own loopback, traced too, sent until every monitor still running has shown
# it. Only then is a monitor really listening (under load that takes seconds) and may the
# probes run.
START = """\
set -e
mkdir -p {workdir}
{rules}
nohup timeout {seconds} stdbuf -oL xtables-monitor --trace > {workdir}/xt.txt 2>&1 < /dev/null &
echo $! > {workdir}/xt.pid
nohup timeout {seconds} stdbuf -oL nft monitor trace > {workdir}/nft.txt 2>&1 < /dev/null &
echo $! > {workdir}/nft.pid
seen() {{ grep -q -- "$2" {workdir}/$1.txt 2>/dev/null; }}
gone() {{ ! kill -0 "$(cat {workdir}/$1.pid)" 2>/dev/null; }}
i=0
while [ $i -lt {tries} ]; do
    bash -c 'echo > /dev/udp/127.0.0.1/{port}' 2>/dev/null \
        || python3 -c 'import socket; socket.socket(2, 2).sendto(b"x", ("127.0.0.1", {port}))' \
        || true
    {{ seen xt "DPORT={port} " || gone xt; }} \
        && {{ seen nft "dport {port} " || gone nft; }} && break
    sleep 0.1
    i=$((i + 1))
done
seen xt "DPORT={port} " || seen nft "dport {port} " || {{
    echo "no trace monitor was listening after {ready} s" >&2; exit 1; }}
"""
#: Between the two captures in what STOP prints.
SEPARATOR = "--- fwlab: nft monitor trace ---"
# Stop the monitors, print both captures and remove every trace rule: one round trip.
STOP = """\
kill $(cat {workdir}/xt.pid {workdir}/nft.pid 2>/dev/null) 2>/dev/null
for i in 1 2 3 4 5 6 7 8 9 10; do
    kill -0 $(cat {workdir}/xt.pid {workdir}/nft.pid 2>/dev/null) 2>/dev/null || break
    sleep 0.1
done
cat {workdir}/xt.txt 2>/dev/null
printf '\\n%s\\n' '{separator}'
cat {workdir}/nft.txt 2>/dev/null
{cleanup}
rm -rf {workdir}
"""


def cleanup_command() -> str:
    """Delete every fwlab TRACE rule, whatever it matched: in one iptables-restore (one
    process, not one per rule), else one by one."""
    listed = (
        f"iptables -w -t raw -S PREROUTING 2>/dev/null | grep -- '--comment {COMMENT}' "
        "| sed 's/^-A/-D/'"
    )
    return (
        f"{{ echo '*raw'; {listed}; echo COMMIT; }} | iptables-restore -w --noflush 2>/dev/null "
        f"|| {listed} | while read -r rule; do eval iptables -w -t raw $rule; done; true"
    )


class Monitors:
    """Both monitors, listening on one machine for at most `seconds`."""

    def __init__(self, host: Any, seconds: int):
        self.host = host
        self.seconds = seconds
        self.selectors: list[Selector] = []

    def start(self, selectors: list[Selector]) -> None:
        """Add every selector's rules, start both monitors and wait until they listen:
        one command."""
        self.selectors = list(selectors)
        port = 40000 + secrets.randbelow(20000)
        canary = f"-i lo -p udp --dport {port}"
        rules = [
            f"iptables -w -t raw -I PREROUTING 1 {rule} -m comment --comment {COMMENT} -j TRACE"
            for rule in [canary] + [r for selector in self.selectors for r in selector.rules()]
        ]
        script = START.format(
            workdir=WORKDIR, seconds=self.seconds, rules="\n".join(rules), port=port,
            tries=READY_SECONDS * 10, ready=READY_SECONDS,
        )  # fmt: skip
        out = self.host.run(f"sh -c {shlex.quote(script)}")
        if out.rc != 0:
            self.stop()
            raise RuntimeError(f"could not start tracing: {(out.stderr or out.stdout).strip()}")

    def stop(self) -> tuple[str, str]:
        """Stop listening and remove the rules; return (xtables-monitor's capture, nft
        monitor's). If the connection fails, the rules are still asked to go."""
        script = STOP.format(workdir=WORKDIR, separator=SEPARATOR, cleanup=cleanup_command())
        try:
            out = self.host.run(f"sh -c {shlex.quote(script)}")
        except Exception:
            for command in (cleanup_command(), f"rm -rf {WORKDIR}"):
                try:
                    self.host.run(command)
                except Exception:  # noqa: S110  (the first failure is the one to raise)
                    pass
            raise
        xt, _sep, nft = out.stdout.partition(f"\n{SEPARATOR}\n")
        return xt, nft


@dataclass
class Captured:
    """The two monitors' captures, read."""

    xtables: Capture
    nft: Capture

    @classmethod
    def of(cls, xt_text: str, nft_text: str) -> Captured:
        return cls(analyse(xt_text), analyse(nft_text))

    def for_probe(self, selector: Selector, passed: bool) -> PacketTrace | None:
        """The probe's telling packet: the one that was blocked, else the last one decided
        (the connection after its name lookup). nft's capture first (it shows a reject as
        a reject); xtables-monitor's when nft's decides nothing."""
        best = None
        for capture in (self.nft, self.xtables):
            mine = capture.select(**selector.flow())
            trace = _telling(mine, passed)
            if trace is not None and trace.final:
                return trace
            best = best or trace
        return best


def _telling(capture: Capture, passed: bool) -> PacketTrace | None:
    if not capture.packets:
        return None
    if not passed:
        return capture.headline
    decided = [p for p in capture.packets if p.final]
    return decided[-1] if decided else capture.packets[-1]
