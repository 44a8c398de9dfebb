"""Room benchmark: bring up N student labs (default 4), measure each one's peak memory
and the host's used memory, take them down. Prints figures; asserts nothing. As root:

    .venv/bin/python bench/room.py [--students 4]
"""

from __future__ import annotations

import argparse
import time

from rich.console import Console
from rich.table import Table

from harness import room, workshop
from harness.providers import get_provider
from harness.providers.nspawn.provider import NspawnProvider


def used_memory() -> int:
    """Host memory in use (bytes): MemTotal - MemAvailable."""
    info = dict(line.split(":", 1) for line in open("/proc/meminfo"))
    kib = int(info["MemTotal"].split()[0]) - int(info["MemAvailable"].split()[0])
    return kib * 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=4)
    args = parser.parse_args()
    provider = get_provider("nspawn")
    assert isinstance(provider, NspawnProvider)
    before = used_memory()
    started = time.monotonic()
    room.up(provider, workshop.load("docker-firewalld"), args.students, lambda _m: None)
    up_seconds = time.monotonic() - started
    try:
        after = used_memory()
        _lab, _prov, students = room.load_roster()
        peaks = [provider.memory_peak(s.name) or 0 for s in students]
    finally:
        room.down(provider, lambda _m: None)
    mib = 2**20
    table = Table("measure", "value", title=f"fwlab room: {args.students} students")
    table.add_row("workshop up (provisioned, parallel 2)", f"{up_seconds:.1f} s")
    table.add_row("peak memory per lab (cgroup), max", f"{max(peaks) / mib:.0f} MiB")
    table.add_row("host memory used per lab", f"{(after - before) / args.students / mib:.0f} MiB")
    total = int(open("/proc/meminfo").readline().split()[1]) * 1024
    per_lab = max(max(peaks), (after - before) // args.students)
    table.add_row("labs that fit this host (2 GiB kept back)", str((total - 2 * 2**30) // per_lab))
    Console().print(table)


if __name__ == "__main__":
    main()
