"""The fake internet in each lab's wan namespace: a resolver and a web server.

Both are host programs started inside the wan namespace, so they can only ever
listen there. Their PIDs (with start times) go into the lab's state file; they
are stopped by PID, never by name.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from harness import internet
from harness.providers.nspawn.network import RESOLVER, LabNet
from harness.util import proc_start_time, run, wait_for

PAGE = """<!doctype html>
<html><head><title>fwlab internet</title></head>
<body><h1>{marker}</h1>
<p>This page is served inside a network namespace that fwlab made. It stands in for
{names}; no packet of the lab ever leaves the machine.</p></body></html>
"""


def start(net: LabNet, state: Path) -> dict[str, list[int]]:
    """Start resolver and web server; return {name: [pid, start_time]}."""
    www = state / "www"
    www.mkdir(exist_ok=True)
    (www / "index.html").write_text(
        PAGE.format(marker=internet.MARKER, names=", ".join(internet.NAMES))
    )
    dns_args = [f"--address=/{name}/{internet.ADDR}" for name in internet.NAMES]
    commands = {
        "dnsmasq": [
            "dnsmasq", "--keep-in-foreground", "--conf-file=/dev/null", "--no-resolv",
            "--no-hosts", "--no-dhcp-interface=wan0", "--bind-interfaces",
            f"--listen-address={RESOLVER}", f"--pid-file={state}/dnsmasq.pid",
            "--log-queries", f"--log-facility={state}/dnsmasq.log", *dns_args,
        ],
        "http": [
            sys.executable, "-m", "http.server", "80", "--bind", "0.0.0.0",
            "--directory", str(www),
        ],
    }  # fmt: skip
    pids: dict[str, list[int]] = {}
    for name, cmd in commands.items():
        with open(state / f"{name}.out", "w") as out:
            proc = subprocess.Popen(
                ["ip", "netns", "exec", net.wan_ns, *cmd],
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # Ctrl-C reaches us, and we stop them ourselves
            )
        pids[name] = [proc.pid, proc_start_time(proc.pid) or 0]
    wait_for("the fake internet's web server", lambda: _listening(net, "t", 80), 10)
    wait_for("the fake internet's resolver", lambda: _listening(net, "u", 53), 10)
    return pids


def _listening(net: LabNet, proto: str, port: int) -> bool:
    out = run(
        ["ip", "netns", "exec", net.wan_ns, "ss", f"-Hl{proto}n", f"sport = :{port}"],
        check=False,
    ).stdout
    return bool(out.strip())
