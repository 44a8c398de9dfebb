"""The Vagrant path on a real VM: vagrant-libvirt on qemu (TCG) with the local box.

Slow (a VM boots under emulation): marked `slow`, one cell only.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from conftest import host_network_snapshot

pytestmark = [pytest.mark.live, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]


def test_vagrantfile_validates() -> None:
    res = subprocess.run(["vagrant", "validate"], cwd=ROOT, capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr
    text = (ROOT / "Vagrantfile").read_text()
    assert ":virtualbox" in text and "centos/8" in text and "NAT" in text


def test_libvirt_cell_matches_nspawn_and_leaves_host_alone(tmp_path: Path, run_fwlab) -> None:
    before = host_network_snapshot()
    report = tmp_path / "m.json"
    res = run_fwlab(
        "matrix", "--provider", "vagrant", "--cells", "docker=19.03,firewalld=on",
        "--json", str(report), timeout=1800,
    )  # fmt: skip
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    cell = json.loads(report.read_text())["cells"][0]
    checks = {c["name"]: c for c in cell["checks"]}
    assert (checks["egress-ip"]["outcome"], checks["egress-ip"]["reason"]) == (
        "blocked",
        "rejected",
    )
    assert checks["egress-ip"]["rule"]["chain"] == "filter_FORWARD"
    assert cell["judgement"] == "match"  # the same expectations as on nspawn
    machine = cell["fidelity"]["machine"]
    assert not machine["real"] and "stands in for a VirtualBox CentOS 8 VM" in machine["what"]
    assert not cell["fidelity"]["docker"]["real"]  # the 19.03 stand-in, said on every provider
    assert host_network_snapshot() == before
