"""Benchmark: prints figures, asserts nothing. Run as root:

    .venv/bin/python bench/matrix.py [--cold] [--vagrant]

Side by side, from one run: the image build (cold with --cold: the image and the
provisioned layers are rebuilt), the warm founding matrix at the default --parallel and at
--parallel 5, each phase per cell, a one-cell re-check on a kept lab, and peak memory per
lab with its probes running (the PSS of its processes, and which of them hold it).
--vagrant adds the same cell on the vagrant provider (about 6 minutes on qemu/TCG) and the
ratio of the two.
"""

from __future__ import annotations

import argparse
import os
import threading
import time

import psutil
from rich.console import Console
from rich.table import Table

from harness import labs, pipeline
from harness.matrix import default_parallel, run_matrix
from harness.models import MatrixResult
from harness.providers import get_provider
from harness.providers.nspawn import image, layers
from harness.providers.nspawn.provider import LabState, NspawnProvider, cgroup_pids
from harness.util import processes_pss, remove_tree

MIB = 2**20


class PeakMemory:
    """Samples what every running lab costs (the PSS of its processes) while something
    runs; keeps each lab's peak, and what its processes held at that moment."""

    def __init__(self, provider: NspawnProvider):
        self.provider = provider
        self.peaks: dict[str, int] = {}
        self.held: dict[str, dict[str, int]] = {}  # lab -> process name -> PSS, at its peak
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self.stop.wait(0.5):
            for machine in self.provider.list():
                if machine.name.startswith("layer-"):
                    continue
                now = self.provider.memory_now(machine.name)
                if now > self.peaks.get(machine.name, 0):
                    self.peaks[machine.name] = now
                    self.held[machine.name] = by_process(machine.name)

    def __enter__(self) -> PeakMemory:
        self.thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop.set()
        self.thread.join()


def by_process(lab: str) -> dict[str, int]:
    """PSS of the lab's processes, summed by process name."""
    held: dict[str, int] = {}
    for pid in cgroup_pids(LabState(lab).data.get("cgroups", [])):
        try:
            name = psutil.Process(pid).name()
        except psutil.Error:
            continue
        held[name] = held.get(name, 0) + processes_pss([pid])
    return held


def timed_matrix(
    provider: NspawnProvider, lab: labs.Lab, parallel: int
) -> tuple[MatrixResult, int]:
    """The matrix's result and the highest memory any of its labs reached."""
    with PeakMemory(provider) as sampler:
        result = run_matrix(provider, lab, lab.cells, parallel)
    return result, max(sampler.peaks.values(), default=0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cold", action="store_true", help="rebuild the image and layers first")
    parser.add_argument("--vagrant", action="store_true", help="also the same cell on vagrant")
    args = parser.parse_args()
    console = Console()
    figures: list[tuple[str, str]] = [
        ("machine", f"{os.cpu_count()} cores, {psutil.virtual_memory().total / 2**30:.0f} GiB"),
    ]
    provider = get_provider("nspawn")
    assert isinstance(provider, NspawnProvider)
    lab = labs.load("docker-firewalld")

    started = time.monotonic()
    if args.cold and layers.cache().exists():
        remove_tree(layers.cache())
    image.ensure(force=args.cold)
    label = f"image build (cold, {image.bootstrap_tool()})" if args.cold else "image check (warm)"
    figures.append((label, f"{time.monotonic() - started:.1f} s"))
    if args.cold:
        first, _peak = timed_matrix(provider, lab, default_parallel(provider, 5))
        figures.append(("first matrix: builds the provisioned layers", f"{first.seconds:.1f} s"))

    per_cell = Table("run", "cell", "up s", "check s", "down s", "total s", title="per cell")
    peaks = []
    for parallel in dict.fromkeys((default_parallel(provider, len(lab.cells)), 5)):
        result, peak = timed_matrix(provider, lab, parallel)
        peaks.append(peak)
        figures.append((f"warm matrix, {len(lab.cells)} cells, parallel {parallel}",
                        f"{result.seconds:.1f} s ({result.judgement})"))  # fmt: skip
        for cell in result.cells:
            t = cell.timings
            per_cell.add_row(
                f"parallel {parallel}", cell.cell.label,
                *(f"{t.get(k, 0):.1f}" for k in ("up", "check", "down")),
                f"{sum(t.values()):.1f}",
            )  # fmt: skip
    figures.append(("peak memory per lab (PSS), probes running (max over the matrices)",
                    f"{max(peaks) / MIB:.0f} MiB"))  # fmt: skip

    # One-cell re-check: a kept, provisioned lab, its checks only, as `fwlab check` runs them
    # (the scaffold kept: run 1 makes the probe clients, later runs `docker exec` in them).
    spec = lab.cells[1]
    name = f"bench-{os.getpid() % 100000}"
    machine, _report = pipeline.bring_up(provider, name, pipeline.Recipe.of(lab, spec))
    try:
        for attempt in (1, 2, 3):
            started = time.monotonic()
            pipeline.check(provider, machine, lab, spec, trace=False, keep_scaffold=True)
            figures.append((f"one-cell re-check, no trace ({spec.cell.label}, run {attempt})",
                            f"{time.monotonic() - started:.2f} s"))  # fmt: skip
        started = time.monotonic()
        with PeakMemory(provider) as sampler:
            pipeline.check(provider, machine, lab, spec, keep_scaffold=True)
        figures.append((f"one-cell re-check, traced ({spec.cell.label})",
                        f"{time.monotonic() - started:.2f} s"))  # fmt: skip
        figures.append(("peak memory of that lab during a traced check (PSS)",
                        f"{sampler.peaks.get(name, 0) / MIB:.0f} MiB"))  # fmt: skip
        held = sorted(sampler.held.get(name, {}).items(), key=lambda item: -item[1])
        top = ", ".join(f"{proc} {pss / MIB:.0f}" for proc, pss in held[:8])
        figures.append(("... held by (PSS, MiB)", top))
    finally:
        provider.down(name)

    if args.vagrant:
        cell = lab.select(["docker=19.03,firewalld=on"])
        totals = {}
        for prov_name in ("nspawn", "vagrant"):
            prov = get_provider(prov_name)
            result = run_matrix(prov, lab, cell, 1)
            totals[prov_name] = result.seconds
            figures.append((f"one cell (19.03 x on) on {prov_name}",
                            f"{result.seconds:.1f} s ({result.judgement})"))  # fmt: skip
        figures.append(("vagrant / nspawn", f"{totals['vagrant'] / totals['nspawn']:.0f}x"))

    summary = Table("measure", "value", title="fwlab benchmark")
    for row in figures:
        summary.add_row(*row)
    console.print(summary)
    console.print(per_cell)


if __name__ == "__main__":
    main()
