"""Room benchmark: bring up N provisioned student labs at once (default 40), check every
one of them (the founding lab's checks, judged for the workshop's cell), report memory and
the time per student, take them down. Prints figures; asserts nothing. As root:

    .venv/bin/python bench/room.py [--students 40] [--tune-host]

--tune-host raises the host's limits for the room first (recorded, and restored at the end);
without it, a host whose limits are too low refuses the room in one line, as `fwlab
workshop up` does.
"""

from __future__ import annotations

import argparse
import os
import time
from concurrent.futures import ThreadPoolExecutor

import psutil
from rich.console import Console
from rich.table import Table

from harness import hostlimits, pipeline, room, workshop
from harness.providers import get_provider
from harness.providers.nspawn.provider import NspawnProvider

MIB = 2**20


def used_memory() -> int:
    vm = psutil.virtual_memory()
    return vm.total - vm.available


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=40)
    parser.add_argument("--tune-host", action="store_true")
    args = parser.parse_args()
    provider = get_provider("nspawn")
    assert isinstance(provider, NspawnProvider)
    ws = workshop.load("docker-firewalld")
    quiet = lambda _m: None  # noqa: E731
    if args.tune_host:
        hostlimits.tune(args.students, print)
    before = used_memory()
    started = time.monotonic()
    try:
        room.up(provider, ws, args.students, quiet)
        up_seconds = time.monotonic() - started
        after_up = used_memory()
        _lab, _prov, students = room.load_roster()
        spec = ws.lab.select([f"docker={ws.start['docker']},firewalld={ws.start['firewalld']}"])[0]

        def check(name: str) -> list[str]:
            """What differed from the cell's expectations (empty: every check matched)."""
            # Traced, as `fwlab check` does: the expectations name the deciding rule.
            results = pipeline.check(provider, provider.running(name), ws.lab, spec)
            return [r.mismatch_message() for r in results if r.judgement != "match"]

        started = time.monotonic()
        with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
            verdicts = list(pool.map(check, [s.name for s in students]))
        check_seconds = time.monotonic() - started
        after_checks = used_memory()
        costs = [provider.memory_now(s.name) for s in students]
    finally:
        if room.roster_path().exists():
            room.down(quiet)
        if args.tune_host:
            hostlimits.restore(print)
    n = args.students
    grown, grown_checked = after_up - before, after_checks - before
    table = Table("measure", "value", title=f"fwlab room: {n} students")
    for row in (
        ("machine", f"{os.cpu_count()} cores, {psutil.virtual_memory().total / 2**30:.0f} GiB"),
        ("workshop up (all provisioned)", f"{up_seconds:.1f} s ({up_seconds / n:.1f} s each)"),
        ("checked every lab (8 checks each)",
         f"{check_seconds:.1f} s ({check_seconds / n:.1f} s each)"),
        ("labs whose checks all matched", f"{verdicts.count([])}/{len(verdicts)}"),
        ("host memory used per lab, all up", f"{grown / n / MIB:.0f} MiB"),
        ("host memory used per lab, after the checks", f"{grown_checked / n / MIB:.0f} MiB"),
        ("a lab's processes after the checks (PSS), max", f"{max(costs) / MIB:.0f} MiB"),
        ("host memory used, after the checks", f"{grown_checked / 2**30:.1f} GiB"),
    ):  # fmt: skip
        table.add_row(*row)
    Console().print(table)
    for differed in dict.fromkeys(line for found in verdicts for line in found):
        print(f"mismatch seen: {differed}")


if __name__ == "__main__":
    main()
