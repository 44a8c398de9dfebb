"""Live: `fwlab matrix` end to end through the real command line."""

from __future__ import annotations

import json
import shutil
from html.parser import HTMLParser
from pathlib import Path
from typing import Callable

import pytest
from junitparser import JUnitXml

from conftest import host_network_snapshot

pytestmark = pytest.mark.live

LAB = Path(__file__).resolve().parents[2] / "labs" / "docker-firewalld" / "lab.toml"
TCP_CHECKS = ["egress-name", "egress-ip", "egress-user-net", "c2c-name", "c2c-ip",
              "c2c-default-bridge"]  # fmt: skip


def test_full_matrix_matches_the_observed_facts(run_fwlab: Callable, tmp_path: Path) -> None:  # type: ignore[type-arg]
    before = host_network_snapshot()
    out = {ext: tmp_path / f"matrix.{ext}" for ext in ("json", "xml", "html")}
    res = run_fwlab(
        "matrix", "--parallel", "3", "--json", str(out["json"]), "--junit", str(out["xml"]),
        "--html", str(out["html"]),
    )  # fmt: skip
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    report = json.loads(out["json"].read_text())
    assert report["matches"] is True
    cells = {c["id"]: c for c in report["cells"]}
    assert len(cells) == 5
    for cid, cell in cells.items():
        assert cell["stood_in"] == (cell["axes"]["docker"] == "19.03"), cid
        if cell["stood_in"]:
            assert "19.03" in cell["stood_in_reason"]
        observed = {c["name"]: c["observed"] for c in cell["checks"]}
        assert set(observed) >= {"egress-name", "egress-ip", "c2c-name", "c2c-ip",
                                 "c2c-default-bridge", "icmp-c2c", "host-network"}  # fmt: skip
        assert observed["host-network"] == "pass"
    bug = {c["name"]: c for c in cells["docker=19.03,firewalld=on"]["checks"]}
    assert all(bug[name]["observed"] == "blocked" for name in TCP_CHECKS)
    assert "No route to host" in bug["egress-ip"]["detail"]
    assert bug["icmp-c2c"]["observed"] == "pass"
    assert all(c["seconds"] < 10 for c in bug.values())
    trace = cells["docker=19.03,firewalld=on"]["trace"]
    assert (trace["table"], trace["chain"]) == ("firewalld", "filter_FORWARD")
    for cid in ("docker=20.10,firewalld=on", "docker=19.03,firewalld=off",
                "docker=20.10,firewalld=off"):  # fmt: skip
        assert {c["observed"] for c in cells[cid]["checks"]} == {"pass"}, cid
    trap = {
        c["name"]: c["observed"]
        for c in cells["docker=20.10,firewalld=stopped-no-restart"]["checks"]
    }
    assert all(trap[name] == "blocked" for name in TCP_CHECKS + ["icmp-c2c"])

    junit = JUnitXml.fromfile(str(out["xml"]))
    cases = [case for suite in junit for case in suite]
    assert len(cases) == 5 * 8
    assert all(case.is_passed for case in cases)

    html = out["html"].read_text()
    HTMLParser().feed(html)  # well-formed enough to parse
    assert 'id="matrix"' in html and "trace-path" in html and "filter_FORWARD" in html
    assert "stood in" in html.lower()
    assert host_network_snapshot() == before


def test_a_changed_expectation_is_a_regression(run_fwlab: Callable, tmp_path: Path) -> None:  # type: ignore[type-arg]
    lab_dir = tmp_path / "lab"
    lab_dir.mkdir()
    text = LAB.read_text()
    # Claim that 20.10 with firewalld on blocks egress-ip: the world disagrees.
    marker = 'docker = "20.10"\nfirewalld = "on"\nblocked = []'
    assert marker in text
    (lab_dir / "lab.toml").write_text(
        text.replace(marker, 'docker = "20.10"\nfirewalld = "on"\nblocked = ["egress-ip"]')
    )
    res = run_fwlab("matrix", "--lab", str(lab_dir), "--cells", "docker=20.10,firewalld=on")
    assert res.returncode == 1, res.stdout[-3000:] + res.stderr[-3000:]
    assert "egress-ip" in res.stdout and "expected blocked, observed pass" in res.stdout


def test_bad_input_is_one_line_and_exit_2(run_fwlab: Callable) -> None:  # type: ignore[type-arg]
    for args, needle in (
        (["matrix", "--cells", "docker=18.09"], "unknown value '18.09'"),
        (["matrix", "--lab", "no-such-lab"], "unknown lab 'no-such-lab'"),
        (["up", "--name", "Bad_Name"], "bad lab name"),
    ):
        res = run_fwlab(*args)
        assert res.returncode == 2, args
        lines = res.stderr.strip().splitlines()
        assert len(lines) == 1 and needle in lines[0], res.stderr
    assert shutil.which("systemd-nspawn")
