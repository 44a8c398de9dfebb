"""The fake internet every lab talks to: the checks probe it, providers serve it.

A provider serves it from a network namespace of its own (`start`): a resolver that
answers NAMES with ADDR and a web server whose page contains MARKER. Both are host
programs started inside that namespace, so they can only ever listen there; their
PIDs (with start times) go into the provider's state file and are stopped by PID.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from harness.util import proc_start_time, run, wait_for

NAME = "www.bing.com"  # the name the seed article fetched
NAMES = (NAME, "internet.fwlab.test")
ADDR = "203.0.113.10"  # TEST-NET-3: never routed anywhere real
MARKER = "fwlab-internet"  # what a probe looks for in the page

PAGE = """<!doctype html>
<html><head><title>fwlab internet</title></head>
<body><h1>{marker}</h1>
<p>This page is served inside a network namespace that fwlab made. It stands in for
{names}; no packet of the lab ever leaves the machine.</p></body></html>
"""


def start(ns: str, state: Path, resolver: str) -> dict[str, list[int]]:
    """Start resolver and web server inside netns `ns`; return {name: [pid, start_time]}."""
    www = state / "www"
    www.mkdir(exist_ok=True)
    (www / "index.html").write_text(PAGE.format(marker=MARKER, names=", ".join(NAMES)))
    dns_args = [f"--address=/{name}/{ADDR}" for name in NAMES]
    commands = {
        "dnsmasq": [
            "dnsmasq", "--keep-in-foreground", "--conf-file=/dev/null", "--no-resolv",
            "--no-hosts", "--bind-interfaces", f"--listen-address={resolver}",
            f"--pid-file={state}/dnsmasq.pid", "--log-queries",
            f"--log-facility={state}/dnsmasq.log", *dns_args,
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
                ["ip", "netns", "exec", ns, *cmd],
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # Ctrl-C reaches us, and we stop them ourselves
            )
        pids[name] = [proc.pid, proc_start_time(proc.pid) or 0]
    wait_for("the fake internet's web server", lambda: _listening(ns, "t", 80), 10)
    wait_for("the fake internet's resolver", lambda: _listening(ns, "u", 53), 10)
    return pids


def _listening(ns: str, proto: str, port: int) -> bool:
    out = run(
        ["ip", "netns", "exec", ns, "ss", f"-Hl{proto}n", f"sport = :{port}"],
        check=False,
    ).stdout
    return bool(out.strip())
