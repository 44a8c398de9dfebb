"""Live: `fwlab matrix` end to end through the real command line, on real lab machines."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Callable

import pytest
from junitparser import JUnitXml

from conftest import fwlab_command, host_network_snapshot
from harness.report.json_report import problems
from tests.live.helpers import REPO, lab_copy

pytestmark = pytest.mark.live

REJECT = {"family": "inet", "table": "firewalld", "chain": "filter_FORWARD", "verdict": "reject"}
TCP_CHECKS = ["egress-ip", "c2c-name", "c2c-ip", "c2c-default-bridge"]
OUT = REPO / "out"


def matrix(
    run_fwlab: Callable, tmp_path: Path, *args: str
) -> tuple[subprocess.CompletedProcess, dict]:  # type: ignore[type-arg]
    """Run `fwlab matrix` with every report; return the run and its JSON (schema-checked)."""
    res = run_fwlab(
        "matrix", *args, "--json", str(tmp_path / "m.json"), "--junit", str(tmp_path / "m.xml"),
        "--html", str(tmp_path / "m.html"), timeout=1800,
    )  # fmt: skip
    report = json.loads((tmp_path / "m.json").read_text()) if (tmp_path / "m.json").exists() else {}
    assert problems(report) == [] if report else True, problems(report)
    return res, report


def by_name(cell: dict) -> dict:
    return {c["name"]: c for c in cell["checks"]}


@pytest.fixture(scope="module")
def founding(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """The founding matrix, run once for this module: (run, JSON report, its folder), and
    whether the host's network was the same after it."""
    folder = tmp_path_factory.mktemp("founding")
    before = host_network_snapshot()
    res, report = matrix(fwlab_command, folder)
    return res, report, folder, host_network_snapshot() == before


def test_the_founding_matrix_judges_outcome_reason_and_rule(founding) -> None:  # type: ignore[no-untyped-def]
    res, report, tmp_path, host_unchanged = founding
    assert res.returncode == 0, res.stdout[-4000:] + res.stderr[-3000:]
    assert report["judgement"] == "match"
    cells = {c["label"]: c for c in report["cells"]}
    assert len(cells) == 5
    for label, cell in cells.items():
        # Every cell says what stands in, layer by layer; nspawn's machine always does.
        assert cell["fidelity"]["machine"]["real"] is False
        assert "stands in for a VirtualBox CentOS 8 VM" in cell["fidelity"]["machine"]["what"]
        assert cell["fidelity"]["docker"]["real"] == (cell["axes"]["docker"] != "19.03"), label
        assert cell["versions"]["firewalld"].startswith("0.9.3")
        assert cell["versions"]["docker"].startswith("20.10")
        assert cell["versions"]["os"] == "debian 11"
        for check in cell["checks"]:
            if check["outcome"] == "blocked":  # every blocked check shows why and what decided
                assert check["reason"] and check["rule"], (label, check["name"])
    bug = by_name(cells["docker=19.03,firewalld=on,os=bullseye"])
    for name in TCP_CHECKS:
        assert (bug[name]["outcome"], bug[name]["reason"]) == ("blocked", "rejected")
        assert {k: bug[name]["rule"][k] for k in REJECT} == REJECT
    assert bug["egress-name"]["reason"] == "dns"
    assert "No route to host" in bug["egress-ip"]["detail"]
    assert bug["icmp-c2c"]["outcome"] == bug["host-network"]["outcome"] == "pass"
    fixed = by_name(cells["docker=20.10,firewalld=on,os=bullseye"])
    assert fixed["egress-ip"]["rule"]["chain"] == "filter_FWDI_docker"
    trap = by_name(cells["docker=20.10,firewalld=stopped-no-restart,os=bullseye"])
    for name in TCP_CHECKS + ["icmp-c2c", "egress-name"]:
        assert (trap[name]["reason"], trap[name]["rule"]["chain"]) == ("timeout", "FORWARD")

    cases = [case for suite in JUnitXml.fromfile(str(tmp_path / "m.xml")) for case in suite]
    assert len(cases) == 5 * 8 and all(case.is_passed for case in cases)
    html = (tmp_path / "m.html").read_text()
    assert 'class="hop deciding' in html and "filter_FWDI_docker" in html
    assert "Why blocked here, and not there?" in html
    assert host_unchanged


def test_the_extended_matrix_reports_each_releases_versions(
    run_fwlab: Callable,
    tmp_path: Path,  # type: ignore[type-arg]
) -> None:
    res, report = matrix(run_fwlab, tmp_path, "--lab", "labs/docker-firewalld/extended.toml")
    assert res.returncode == 0, res.stdout[-4000:] + res.stderr[-3000:]
    found = {
        (c["axes"]["os"], c["versions"]["os"], c["versions"]["firewalld"][:5])
        for c in report["cells"]
    }
    assert {(o, v) for o, v, _f in found} == {
        ("bullseye", "debian 11"),
        ("bookworm", "debian 12"),
        ("trixie", "debian 13"),
    }
    versions = {
        c["axes"]["os"]: c["versions"] for c in report["cells"] if c["axes"]["firewalld"] == "on"
    }
    assert versions["bookworm"]["firewalld"] == "1.3.3" and versions["trixie"]["docker"].startswith(
        "26.1"
    )
    assert len(report["cells"]) == 15


def test_a_bookworm_cell_of_the_founding_lab_by_its_axes(
    run_fwlab: Callable,
    tmp_path: Path,  # type: ignore[type-arg]
) -> None:
    res, report = matrix(run_fwlab, tmp_path, "--cells", "os=bookworm,docker=20.10,firewalld=on")
    assert res.returncode == 0, res.stdout[-3000:]
    assert [c["label"] for c in report["cells"]] == ["docker=20.10,firewalld=on,os=bookworm"]


def test_an_edited_expected_reason_is_a_mismatch_that_names_it(
    run_fwlab: Callable,
    tmp_path: Path,  # type: ignore[type-arg]
) -> None:
    folder = lab_copy(tmp_path)
    lab_file = folder / "lab.toml"
    text = lab_file.read_text()
    old = '"egress-ip" = { outcome = "blocked", reason = "rejected"'
    assert old in text
    lab_file.write_text(
        text.replace(old, '"egress-ip" = { outcome = "blocked", reason = "timeout"')
    )
    res, report = matrix(
        run_fwlab, tmp_path, "--lab", str(folder), "--cells", "docker=19.03,firewalld=on"
    )
    assert res.returncode == 1, res.stdout[-3000:]
    egress = by_name(report["cells"][0])["egress-ip"]
    assert egress["judgement"] == "mismatch" and egress["differs"] == ["reason"]
    assert "egress-ip: reason differs: expected blocked/timeout" in res.stdout


def test_a_broken_probe_image_is_an_error_never_blocked(
    run_fwlab: Callable,
    tmp_path: Path,  # type: ignore[type-arg]
) -> None:
    folder = lab_copy(tmp_path)
    (folder / "conftest.py").write_text(
        "import pytest\n\n\n"
        '@pytest.fixture(scope="session")\n'
        "def scenario(machine):\n"
        '    """Break the probe image: remove it."""\n'
        '    machine.run("docker rmi -f $(docker images -q fwlab/probe)")\n'
    )
    res, report = matrix(
        run_fwlab, tmp_path, "--lab", str(folder), "--cells", "docker=20.10,firewalld=on"
    )
    assert res.returncode == 2, res.stdout[-3000:]
    cell = report["cells"][0]
    assert cell["judgement"] == "error"
    probes = [c for c in cell["checks"] if c["name"] != "host-network"]
    assert all(c["outcome"] == "error" and c["judgement"] == "error" for c in cell["checks"]), cell
    assert all("fwlab/probe" in c["detail"] for c in probes)


def test_a_new_check_is_one_test_function(run_fwlab: Callable, tmp_path: Path) -> None:  # type: ignore[type-arg]
    folder = lab_copy(tmp_path)
    with open(folder / "test_c2c.py", "a") as f:
        f.write(
            '\n\n@pytest.mark.probe(Http("http://{ip:fwlab-srv}:8080/", network="fwlab-net", '
            "expect=PAGE))\ndef test_brand_new_check(observation):\n"
            '    """A check added as one test function, nothing else changed."""\n'
        )
    res, report = matrix(
        run_fwlab, tmp_path, "--lab", str(folder), "--cells", "docker=20.10,firewalld=on"
    )
    assert res.returncode == 0, res.stdout[-3000:]
    assert by_name(report["cells"][0])["brand-new-check"]["judgement"] == "match"
    names = [case.name for suite in JUnitXml.fromfile(str(tmp_path / "m.xml")) for case in suite]
    assert "brand-new-check" in names
    assert 'data-check="brand-new-check"' in (tmp_path / "m.html").read_text()
    assert "brand-new-check" in res.stdout


def test_cells_one_by_one_then_merged_equal_one_run(
    founding,  # type: ignore[no-untyped-def]
    run_fwlab: Callable,  # type: ignore[type-arg]
    tmp_path: Path,
) -> None:
    listed = run_fwlab("matrix", "--list", "--json")
    assert listed.returncode == 0, listed.stderr
    ids = [c["id"] for c in json.loads(listed.stdout)["cells"]]
    assert len(ids) == 5
    for cell_id in ids:
        folder = tmp_path / cell_id
        res = run_fwlab("matrix", "--cells", cell_id, "--json", str(folder / "r.json"),
                        "--junit", str(folder / "r.xml"), timeout=900)  # fmt: skip
        assert res.returncode == 0, res.stdout[-2000:]
    merged = run_fwlab("report", "merge", str(tmp_path / "merged"),
                       *(str(tmp_path / i / "r.json") for i in ids))  # fmt: skip
    assert merged.returncode == 0, merged.stdout[-2000:] + merged.stderr
    mine = json.loads((tmp_path / "merged" / "matrix.json").read_text())
    assert [c["id"] for c in mine["cells"]] == ids

    def outcomes(doc: dict) -> list:
        return [[(k["name"], k["outcome"], k["reason"], (k["rule"] or {}).get("chain"))
                 for k in c["checks"]] for c in doc["cells"]]  # fmt: skip

    assert outcomes(mine) == outcomes(founding[1])  # the same as one run of all five
    missing = run_fwlab("report", "merge", str(tmp_path / "m2"),
                        *(str(tmp_path / i / "r.json") for i in ids[1:]))  # fmt: skip
    assert missing.returncode == 2 and "no report for cell" in missing.stderr


def test_trace_diff_names_the_two_zone_chains(run_fwlab: Callable, lab_name: str) -> None:  # type: ignore[type-arg]
    bug, fixed = f"{lab_name}a", f"{lab_name}b"
    try:
        for name, docker in ((bug, "19.03"), (fixed, "20.10")):
            up = run_fwlab("up", "--name", name, "--docker", docker, "--firewalld", "on")
            assert up.returncode == 0, up.stderr
        diff = run_fwlab("trace", "--diff", bug, fixed, "--check", "egress-ip")
        assert diff.returncode == 0, diff.stdout + diff.stderr
        assert "filter_FWDI_public" in diff.stdout and "filter_FWDI_docker" in diff.stdout
    finally:
        for name in (bug, fixed):
            run_fwlab("down", name)
    fixtures = REPO.parent / "shared" / "fixtures" / "traces" / "debian11-firewalld-0.9.3"
    if not fixtures.exists():
        fixtures = REPO / "tests" / "unit" / "data" / "traces" / "debian11-firewalld-0.9.3"
    saved = run_fwlab("trace", "--diff", str(fixtures / "nft-nozone-egress.txt"),
                      str(fixtures / "nft-zonedocker.txt"))  # fmt: skip
    assert "filter_FWDI_public" in saved.stdout and "filter_FWDI_docker" in saved.stdout


@pytest.mark.slow
def test_the_html_report_in_a_real_browser(founding, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Chromium, headless, opens the founding matrix's report: the grid, the real deciding
    hop highlighted, and the diff; a screenshot is kept under out/."""
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.fail("chromium is not installed (./scripts/run tests installs it)")
    page = founding[2] / "m.html"
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={tmp_path / 'profile'}"]  # fmt: skip
    dom = subprocess.run([chromium, *flags, "--dump-dom", page.as_uri()],
                         capture_output=True, text=True, timeout=120)  # fmt: skip
    assert 'id="matrix"' in dom.stdout and 'class="hop deciding reject"' in dom.stdout
    assert 'class="hop deciding accept"' in dom.stdout and 'id="diffs"' in dom.stdout
    OUT.mkdir(exist_ok=True)
    shot = OUT / "matrix-report.png"
    subprocess.run([chromium, *flags, f"--screenshot={shot}", "--window-size=1400,2400",
                    page.as_uri()], capture_output=True, timeout=120)  # fmt: skip
    assert shot.exists() and shot.stat().st_size > 20_000
