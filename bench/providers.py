"""Benchmark: one cell on every provider, from one run. Prints figures, asserts nothing.

    .venv/bin/python bench/providers.py [--cell docker=19.03,firewalld=on]

Per provider: up / provision / check / down seconds, the total and whether the cell
matched. The vagrant provider here is vagrant-libvirt on qemu (TCG).
"""

from __future__ import annotations

import argparse
import time

from rich.console import Console
from rich.table import Table

from harness import labs
from harness.matrix import run_cell
from harness.providers import get_provider


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cell", default="docker=19.03,firewalld=on")
    parser.add_argument("--providers", default="nspawn,vagrant")
    args = parser.parse_args()
    lab = labs.load("docker-firewalld")
    spec = lab.select([args.cell])[0]
    table = Table("provider", "up", "provision", "check", "down", "total s", "result")
    for i, name in enumerate(args.providers.split(",")):
        started = time.monotonic()
        result = run_cell(get_provider(name), lab, spec, f"bench{i}", True, False, None)
        total = time.monotonic() - started
        t = result.timings
        verdict = "match" if result.matches else "MISMATCH"
        table.add_row(
            name,
            *(f"{t.get(p, 0):.1f}" for p in ("up", "provision", "check", "down")),
            f"{total:.1f}",
            f"error: {result.error}" if result.error else verdict,
        )
    Console().print(f"cell {spec.cell.id}")
    Console().print(table)


if __name__ == "__main__":
    main()
