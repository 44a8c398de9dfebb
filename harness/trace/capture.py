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
# The monitors subscribe within milliseconds and a probe takes longer than that
# to start its container; still, probe a second time if no verdict showed.
for attempt in 1 2; do
    {probe} >/dev/null 2>&1
    if grep -qE 'TRACE: .*:(rule|policy):.*(DROP|ACCEPT)|verdict (drop|accept)' \\
        {workdir}/xt.txt {workdir}/nft.txt; then
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
        """xtables-monitor's verdict (the seed's tool), else nft's; a final verdict
        (accept/drop/reject) beats a packet whose events were cut short."""
        found = [v for v in (self.xtables.verdict, self.nft.verdict) if v is not None]
        return next((v for v in found if v.is_final), found[0] if found else None)


def capture_command(probe: str, subnet: str) -> str:
    script = SCRIPT.format(subnet=subnet, workdir=WORKDIR, seconds=MONITOR_SECONDS, probe=probe)
    return f"sh -c {shlex.quote(script)}"


def cleanup_command() -> str:
    """Delete every fwlab TRACE rule, whatever subnet it was narrowed to."""
    return (
        "iptables -t raw -S PREROUTING | grep -- '--comment fwlab-trace' | sed 's/^-A/-D/' "
        "| while read -r rule; do eval iptables -t raw $rule; done; true"
    )


def capture(host: Any, probe: str, subnet: str) -> Capture:
    """Run probe with tracing on; always leaves the machine's ruleset as it was."""
    try:
        host.run(capture_command(probe, subnet))
        xt = host.run(f"cat {WORKDIR}/xt.txt").stdout
        nft = host.run(f"cat {WORKDIR}/nft.txt").stdout
    finally:
        host.run(cleanup_command())
        host.run(f"rm -rf {WORKDIR}")
    return Capture(analyse(xt), analyse(nft), xt, nft)


def remaining_trace_rules(host: Any) -> int:
    out = host.run("iptables -t raw -S PREROUTING").stdout
    return sum(1 for line in out.splitlines() if "fwlab-trace" in line)
