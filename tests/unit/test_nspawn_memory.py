"""A lab's memory figures from stand-in cgroup files: what it costs now is the proportional
set size of its processes (any cgroup version); its peak is the cgroup's own counter."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from harness.providers.nspawn.provider import NspawnProvider
from harness.util import processes_pss

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


@pytest.mark.parametrize(
    ("knob", "value"), [("memory.max_usage_in_bytes", 750 * MIB), ("memory.peak", 320 * MIB)]
)
def test_the_peak_is_the_cgroups_own_v1_or_v2(
    knob: str, value: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = lab_with(tmp_path, monkeypatch, {knob: f"{value}\n"})
    assert NspawnProvider().memory_peak(name) == value


def test_no_memory_controller_no_peak(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert NspawnProvider().memory_peak(lab_with(tmp_path, monkeypatch, {})) is None


def test_the_cost_is_the_pss_of_the_processes_in_the_lab(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The lab's cost counts every process listed in its cgroup; a gone one, nothing."""
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        pids = [os.getpid(), child.pid]
        name = lab_with(tmp_path, monkeypatch, {"cgroup.procs": "\n".join(map(str, pids))})
        cost = NspawnProvider().memory_now(name)
        alone = processes_pss([os.getpid()])
        assert alone > 0 and cost > alone
        assert processes_pss([999_999_999]) == 0  # a process that is gone costs nothing
    finally:
        child.kill()
        child.wait()
