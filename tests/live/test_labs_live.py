"""Live: the labs beyond the founding one, each on the Debian releases its bug lives on.
Each matrix must match what the lab file says (written from what the machines did), with
at least one cell where the bug shows and one where it does not."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

import pytest

from harness.report.json_report import problems

pytestmark = pytest.mark.live

#: lab -> (check, a cell where the bug shows: its outcome, a control cell: its outcome)
BUG_AND_CONTROL = {
    "zone-conflict": ("docker-starts", ("os=bookworm,zone=trusted", "blocked"),
                      ("os=bookworm,zone=none", "pass")),
    "reload-isolation": ("isolated-after-reload", ("os=bookworm,remedy=none", "pass"),
                         ("os=bookworm,remedy=docker-restart", "blocked")),
    "published-ports": ("published-port", ("os=bookworm,strict=no", "pass"),
                        ("os=trixie,strict=yes", "blocked")),
    "localhost-publish": ("neighbour-reaches-container", ("firewalld=off,os=bookworm", "pass"),
                          ("firewalld=off,os=sid", "blocked")),
}  # fmt: skip


@pytest.mark.parametrize("lab", sorted(BUG_AND_CONTROL))
def test_each_lab_matches_what_its_machines_do(
    lab: str,
    run_fwlab: Callable,
    tmp_path: Path,  # type: ignore[type-arg]
) -> None:
    res = run_fwlab("matrix", "--lab", lab, "--json", str(tmp_path / "m.json"), timeout=1800)
    report = json.loads((tmp_path / "m.json").read_text())
    assert problems(report) == []
    assert res.returncode == 0, res.stdout[-5000:] + res.stderr[-2000:]
    check, (bug_cell, bug_outcome), (control_cell, control_outcome) = BUG_AND_CONTROL[lab]
    cells = {c["label"]: {k["name"]: k for k in c["checks"]} for c in report["cells"]}
    assert cells[bug_cell][check]["outcome"] == bug_outcome
    assert cells[control_cell][check]["outcome"] == control_outcome
    for cell in report["cells"]:
        # Docker and firewalld are the OS's own, real, and every report says which.
        assert cell["fidelity"]["docker"]["real"] and cell["fidelity"]["firewalld"]["real"]
        assert cell["versions"]["docker"] and cell["versions"]["firewalld"]
        for result in cell["checks"]:
            if result["outcome"] == "blocked":
                assert result["reason"], (cell["label"], result["name"])
