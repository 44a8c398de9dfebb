"""Benchmark: prints figures, asserts nothing. Run as root:

    .venv/bin/python bench/matrix.py [--cold] [--parallel N]

--cold also rebuilds the image (about a minute). Figures: image build, warm matrix
wall time, per-cell up / provision / check / down, a one-cell re-check on a kept
lab, and peak memory per lab (the lab's memory cgroup).
"""

from __future__ import annotations

import argparse
import threading
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from harness import labs
from harness.checks.runner import run_checks
from harness.matrix import run_matrix
from harness.providers import get_provider
from harness.providers.nspawn import image
from harness.providers.nspawn.provider import NspawnProvider


class PeakMemory:
    """Samples every running lab's cgroup peak while the matrix runs."""

    def __init__(self, provider: NspawnProvider):
        self.provider = provider
        self.peaks: dict[str, int] = {}
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self.stop.wait(0.5):
            for machine in self.provider.list():
                peak = self.provider.memory_peak(machine.name)
                if peak:
                    self.peaks[machine.name] = max(peak, self.peaks.get(machine.name, 0))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cold", action="store_true", help="rebuild the image first")
    parser.add_argument("--parallel", type=int, default=2)
    args = parser.parse_args()
    console = Console()
    figures: list[tuple[str, str]] = []

    started = time.monotonic()
    image.ensure(force=args.cold)
    label = "image build (cold)" if args.cold else "image check (warm cache)"
    figures.append((label, f"{time.monotonic() - started:.1f} s"))

    provider = get_provider("nspawn")
    assert isinstance(provider, NspawnProvider)
    lab = labs.load()
    sampler = PeakMemory(provider)
    sampler.thread.start()
    result = run_matrix(provider, lab, lab.cells, parallel=args.parallel)
    sampler.stop.set()
    figures.append((f"warm matrix, {len(lab.cells)} cells, parallel {args.parallel}",
                    f"{result.seconds:.1f} s (matches: {result.matches})"))  # fmt: skip

    cells = Table("cell", "up s", "provision s", "check s", "down s", title="per cell")
    for cell in result.cells:
        t = cell.timings
        cells.add_row(
            cell.cell.id, *(f"{t.get(k, 0):.1f}" for k in ("up", "provision", "check", "down"))
        )

    # One-cell re-check: a kept, provisioned lab, checks only.
    spec = lab.cells[1]
    name = f"bench-{int(time.time()) % 100000}"
    machine = provider.up(name)
    try:
        from harness.provision import provision

        assert machine.ssh is not None and machine.ssh_config_path is not None
        conn = machine.ssh.fabric(machine.ssh_config_path)
        provision(conn, spec.cell.get("docker"), spec.cell.get("firewalld"))
        conn.close()
        for attempt in (1, 2):
            started = time.monotonic()
            run_checks(Path(machine.ssh_config_path), machine.ssh.alias, lab.checks,
                       spec.expected, trace=False)  # fmt: skip
            figures.append((f"one-cell re-check ({spec.cell.id}, run {attempt})",
                            f"{time.monotonic() - started:.1f} s"))  # fmt: skip
        peak = provider.memory_peak(name)
        if peak:
            figures.append(
                ("peak memory, one provisioned lab after checks", f"{peak / 2**20:.0f} MiB")
            )
    finally:
        provider.down(name)
    if sampler.peaks:
        top = max(sampler.peaks.values())
        figures.append(("peak memory per lab during the matrix (max)", f"{top / 2**20:.0f} MiB"))

    summary = Table("measure", "value", title="fwlab benchmark")
    for row in figures:
        summary.add_row(*row)
    console.print(summary)
    console.print(cells)


if __name__ == "__main__":
    main()
