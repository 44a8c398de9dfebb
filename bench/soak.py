"""Soak: bring a lab up and down N times (default 50) and count what is left after each
cycle. Prints figures; asserts nothing. Run as root:

    .venv/bin/python bench/soak.py [--cycles 50]
"""

from __future__ import annotations

import argparse
import statistics
import time

from rich.console import Console
from rich.table import Table

from harness.providers import get_provider
from harness.providers.nspawn import inventory


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cycles", type=int, default=50)
    args = parser.parse_args()
    provider = get_provider("nspawn")
    ups: list[float] = []
    downs: list[float] = []
    leaks = {kind: 0 for kind in inventory.KINDS}
    for cycle in range(args.cycles):
        name = f"soak-{cycle}"
        started = time.monotonic()
        provider.up(name)
        ups.append(time.monotonic() - started)
        started = time.monotonic()
        provider.down(name)
        downs.append(time.monotonic() - started)
        for kind, n in inventory.count().items():
            leaks[kind] += n
    table = Table("measure", "value", title=f"fwlab soak: {args.cycles} up/down cycles")
    table.add_row("up, median / max", f"{statistics.median(ups):.2f} s / {max(ups):.2f} s")
    table.add_row("down, median / max", f"{statistics.median(downs):.2f} s / {max(downs):.2f} s")
    for kind, n in leaks.items():
        table.add_row(f"leaked {kind} (summed over cycles)", str(n))
    Console().print(table)


if __name__ == "__main__":
    main()
