"""What of fwlab's nspawn labs exists on this host right now, by kind.

Used by the soak benchmark and the leak tests to count leftovers. It looks at names
fwlab uses (netns `fwlab-*`, veths `fwlab<slot>`, cgroups `fwlab-*`, mounts and
processes under the labs folder), so it may also count a look-alike: it reports,
it never removes (`fwlab gc` removes, and only what a state file names).
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from harness import paths

KINDS = ("netns", "veths", "mounts", "processes", "cgroups", "state")


def leftovers(name: str | None = None) -> dict[str, list[str]]:
    """fwlab resources on the host; with `name`, only that lab's."""
    labs = str(paths.labs_dir())
    lab_tag = f"fwlab-{name}" if name else "fwlab-"
    netns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
    procs = subprocess.run(["ps", "-eo", "pid=,stat=,args="], capture_output=True, text=True).stdout
    state_dirs = sorted(paths.labs_dir().iterdir()) if paths.labs_dir().is_dir() else []
    lab_dir = f"{labs}/{name}/" if name else f"{labs}/"
    found = {
        "netns": [ln.split()[0] for ln in netns.splitlines() if ln.startswith(lab_tag)],
        # veths are named by slot, not by lab: count them only for "all labs".
        "veths": [] if name else re.findall(r"^\d+: (fwlab\d+)[@:]", links, re.MULTILINE),
        "mounts": [
            ln.split()[1] for ln in Path("/proc/mounts").read_text().splitlines()
            if ln.split()[1].startswith(lab_dir)
        ],
        "processes": [
            ln.strip() for ln in procs.splitlines()
            if (lab_dir in ln or f"netns exec {lab_tag}" in ln)
            and ln.split()[1][0] != "Z"  # a zombie has ended; init reaps it
        ],
        "cgroups": [
            str(p) for p in Path("/sys/fs/cgroup").glob("**/fwlab-*")
            if p.is_dir() and (name is None or p.name == lab_tag)
        ],
        "state": [str(d) for d in state_dirs if name is None or d.name == name],
    }  # fmt: skip
    return found


def count(name: str | None = None) -> dict[str, int]:
    return {kind: len(items) for kind, items in leftovers(name).items()}
