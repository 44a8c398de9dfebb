"""Capture a packet trace on a lab machine while a probe runs.

The seed's way: a TRACE rule in raw PREROUTING, read with `xtables-monitor
--trace`; `nft monitor trace` listens at the same time (iptables-nft's TRACE
sets nftrace, which both print). The rule is narrowed to the probe's source
subnet, and to TCP SYNs and DNS queries: a broad rule drowns the monitor ("No buffer space
available"). The script removes its rule and stops its monitors on every
exit path, and `cleanup_command()` does it again from outside if the SSH
session itself was cut.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from typing import Any

from harness.models import TraceVerdict
from harness.trace.diagnose import Analysis, analyse

MONITOR_SECONDS = 20
WORKDIR = "/run/fwlab-trace"

SCRIPT = """\
set -u
tcp="-p tcp -s {subnet} --syn -m comment --comment fwlab-trace -j TRACE"
dns="-p udp -s {subnet} --dport 53 -m comment --comment fwlab-trace -j TRACE"
mkdir -p {workdir}
cleanup() {{
    while iptables -t raw -D PREROUTING $tcp 2>/dev/null; do :; done
    while iptables -t raw -D PREROUTING $dns 2>/dev/null; do :; done
    kill $XT $NFT 2>/dev/null
    wait $XT $NFT 2>/dev/null
}}
trap cleanup EXIT
trap 'exit 129' HUP INT TERM
timeout {seconds} stdbuf -oL xtables-monitor --trace > {workdir}/xt.txt 2>&1 &
XT=$!
timeout {seconds} stdbuf -oL nft monitor trace > {workdir}/nft.txt 2>&1 &
NFT=$!
iptables -t raw -I PREROUTING 1 $tcp
iptables -t raw -I PREROUTING 1 $dns
# A silently dropped probe would run until its own timeout; once both monitors
# have printed a drop there is nothing more to learn, so stop it then (bounded:
# at most the probe's own timeout). The monitors subscribe within milliseconds,
# long before a container starts; still, probe once more if nothing was traced.
for attempt in 1 2; do
    {probe} >/dev/null 2>&1 &
    PROBE=$!
    while kill -0 $PROBE 2>/dev/null; do
        if grep -qE '{dropped_xt}' {workdir}/xt.txt && grep -qE '{dropped_nft}' {workdir}/nft.txt
        then
            kill $PROBE 2>/dev/null
            break
        fi
        sleep 0.1
    done
    wait $PROBE 2>/dev/null
    if grep -qE '{decided}' {workdir}/xt.txt {workdir}/nft.txt; then
        break
    fi
done
"""


@dataclass
class Capture:
    xtables: Analysis
    nft: Analysis
    xtables_text: str
    nft_text: str

    @property
    def verdict(self) -> TraceVerdict | None:
        """The most telling verdict: a final one from a complete capture first, and
        xtables-monitor's (the seed's tool) before nft's when both are as good."""
        found = [v for v in (self.xtables.verdict, self.nft.verdict) if v is not None]
        found.sort(key=lambda v: (not v.is_final, bool(v.warnings)))  # stable: xt first
        return found[0] if found else None


def capture_command(probe: str, subnet: str, seconds: int = MONITOR_SECONDS) -> str:
    script = SCRIPT.format(
        subnet=subnet,
        workdir=WORKDIR,
        seconds=seconds,
        probe=probe,
        dropped_xt=r"TRACE: .*:(rule|policy):[^ ]*:?DROP",
        dropped_nft=r"\(verdict drop\)|policy drop",
        decided=r"TRACE: .*:(rule|policy):.*(DROP|ACCEPT)|verdict (drop|accept)",
    )
    return f"sh -c {shlex.quote(script)}"


def cleanup_command() -> str:
    """Delete every fwlab TRACE rule, whatever subnet it was narrowed to."""
    return (
        "iptables -t raw -S PREROUTING | grep -- '--comment fwlab-trace' | sed 's/^-A/-D/' "
        "| while read -r rule; do eval iptables -t raw $rule; done; true"
    )


def capture(host: Any, probe: str, subnet: str, seconds: int = MONITOR_SECONDS) -> Capture:
    """Run probe with tracing on; always leaves the machine's ruleset as it was."""
    try:
        host.run(capture_command(probe, subnet, seconds))
        xt = host.run(f"cat {WORKDIR}/xt.txt").stdout
        nft = host.run(f"cat {WORKDIR}/nft.txt").stdout
    finally:
        host.run(cleanup_command())
        host.run(f"rm -rf {WORKDIR}")
    return Capture(analyse(xt), analyse(nft), xt, nft)


def remaining_trace_rules(host: Any) -> int:
    out = host.run("iptables -t raw -S PREROUTING").stdout
    return sum(1 for line in out.splitlines() if "fwlab-trace" in line)
