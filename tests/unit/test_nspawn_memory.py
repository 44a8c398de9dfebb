"""A lab's memory figures, read from stand-in cgroup files: cgroup v1 and v2 alike, the
working set is the usage less the inactive page cache; the peak is the cgroup's own."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.providers.nspawn.provider import NspawnProvider

MIB = 2**20


def lab_with(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, files: dict[str, str]) -> str:
    monkeypatch.setenv("FWLAB_HOME", str(tmp_path / "home"))
    cgroup = tmp_path / "cgroup" / "fwlab-m"
    cgroup.mkdir(parents=True)
    for name, text in files.items():
        (cgroup / name).write_text(text)
    folder = tmp_path / "home" / "labs" / "m"
    folder.mkdir(parents=True)
    (folder / "lab.json").write_text(json.dumps({"cgroups": [str(cgroup)]}))
    return "m"


def test_cgroup_v1_working_set_and_peak(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    name = lab_with(tmp_path, monkeypatch, {
        "memory.usage_in_bytes": f"{700 * MIB}\n",
        "memory.max_usage_in_bytes": f"{750 * MIB}\n",
        "memory.stat": f"cache {600 * MIB}\nrss {100 * MIB}\ntotal_inactive_file {520 * MIB}\n",
    })  # fmt: skip
    provider = NspawnProvider()
    assert provider.memory_now(name) == 180 * MIB
    assert provider.memory_peak(name) == 750 * MIB


def test_cgroup_v2_working_set_and_peak(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    name = lab_with(tmp_path, monkeypatch, {
        "memory.current": f"{300 * MIB}\n",
        "memory.peak": f"{320 * MIB}\n",
        "memory.stat": f"anon {90 * MIB}\nfile {200 * MIB}\ninactive_file {150 * MIB}\n",
    })  # fmt: skip
    provider = NspawnProvider()
    assert provider.memory_now(name) == 150 * MIB
    assert provider.memory_peak(name) == 320 * MIB


def test_no_memory_controller_counts_the_processes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os

    import psutil

    name = lab_with(tmp_path, monkeypatch, {"cgroup.procs": f"{os.getpid()}\n"})
    provider = NspawnProvider()
    assert provider.memory_peak(name) is None
    assert provider.memory_now(name) == pytest.approx(psutil.Process().memory_info().rss, rel=0.1)
