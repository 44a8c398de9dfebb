"""The lab plugin, for real: a lab folder's ordinary pytest tests are run by pytest (in a
process of its own, as `fwlab` runs them), judged against lab.toml, and read back from
pytest's own JUnit XML. The machine is this host (`--hosts=local://`); probes are faked
by the lab's own conftest.py, as a lab could."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.checks.runner import read_junit

LAB = """
name = "unit"
[machine]
os = "bookworm"
[axes]
state = ["good", "bad"]
[expect]
"*" = "pass"
[[cell]]
state = "good"
[[cell]]
state = "bad"
[cell.expect]
"asserts" = "blocked/assert"
"observes" = "blocked/zone-conflict"
"probe-*" = { outcome = "blocked", reason = "rejected", \
  rule = "inet firewalld filter_FORWARD reject" }
"""

TESTS = '''
import pytest
from harness.checks import Http

def test_asserts(cell):
    """A plain assertion: the machine did not do what the test asserts."""
    assert cell.get("state") == "good", "the machine is in a bad state"

def test_observes(cell, observe):
    """Records its own outcome."""
    if cell.get("state") == "bad":
        observe.blocked("zone-conflict", "ZONE_CONFLICT: 'docker0' already bound to a zone")

def test_host_module(host):
    """testinfra's own modules work on the host under test."""
    assert host.file("/").is_directory

@pytest.mark.probe(Http("http://203.0.113.10/", expect="fwlab-internet"))
def test_probe_one(observation):
    """First probe."""

@pytest.mark.probe(Http("http://{ip:fwlab-srv}:8080/", network="fwlab-net", expect="x"))
def test_probe_two(observation):
    """Second probe: batched with the first."""
'''

CONFTEST = """
import pytest
import harness.checks.plugin as plugin
from harness.models import CheckResult, Hop, PacketTrace

BATCHES = []

def fake_run_probes(probes, machine, scaffold, outside, trace):
    BATCHES.append(sorted(probes))
    results = {}
    for name in probes:
        if scaffold.state == "bad":
            hop = Hop("inet", "firewalld", "filter_FORWARD", "reject", "reject with icmpx")
            trace = PacketTrace("tcp 172.17.0.2 -> 203.0.113.10:80", [hop], decision=0, final=True)
            results[name] = CheckResult(
                name, "blocked", "rejected", "No route to host", 0.1, trace=trace
            )
        else:
            results[name] = CheckResult(name, "pass", None, "ok", 0.1)
    return results

plugin.run_probes = fake_run_probes

class FakeScaffold:
    def __init__(self, state):
        self.state = state

@pytest.fixture(scope="session")
def scaffold(cell):
    return FakeScaffold(cell.get("state"))

def pytest_sessionfinish(session):
    print("BATCHES", BATCHES)
"""


@pytest.fixture
def lab_folder(pytester: pytest.Pytester) -> Path:
    folder = pytester.path / "unit"
    folder.mkdir()
    (folder / "lab.toml").write_text(LAB)
    (folder / "test_unit.py").write_text(TESTS)
    (folder / "conftest.py").write_text(CONFTEST)
    return folder


def run(pytester: pytest.Pytester, folder: Path, *args: str) -> pytest.RunResult:
    return pytester.runpytest_subprocess(
        str(folder), "--hosts=local://", "-p", "no:cacheprovider", "-o", "junit_family=xunit1",
        "--import-mode=importlib", f"--junitxml={folder / 'out.xml'}", "-s", *args,
    )  # fmt: skip


def results(folder: Path) -> dict:
    return {r.name: r for r in read_junit(folder / "out.xml")}


def test_a_good_cell_passes_and_reads_back(pytester: pytest.Pytester, lab_folder: Path) -> None:
    ran = run(pytester, lab_folder, "--fwlab-cell=state=good")
    assert ran.ret == 0, ran.stdout.str()
    found = results(lab_folder)
    assert set(found) == {"asserts", "observes", "host-module", "probe-one", "probe-two"}
    assert all(r.outcome == "pass" and r.judgement == "match" for r in found.values())
    assert found["asserts"].description.startswith("A plain assertion")
    assert "BATCHES [['probe-one', 'probe-two']]" in ran.stdout.str()  # one batch, at once


def test_a_bad_cell_matches_its_own_expectations(
    pytester: pytest.Pytester, lab_folder: Path
) -> None:
    ran = run(pytester, lab_folder, "--fwlab-cell=os=bookworm,state=bad")
    assert ran.ret == 0, ran.stdout.str()
    found = results(lab_folder)
    assert (found["asserts"].outcome, found["asserts"].reason) == ("blocked", "assert")
    assert "bad state" in found["asserts"].detail
    assert (found["observes"].outcome, found["observes"].reason) == ("blocked", "zone-conflict")
    assert str(found["probe-one"].rule) == "inet firewalld filter_FORWARD reject"
    assert all(r.judgement == "match" for r in found.values())


def test_a_mismatch_fails_the_test_and_names_the_part(
    pytester: pytest.Pytester, lab_folder: Path
) -> None:
    (lab_folder / "lab.toml").write_text(LAB.replace('reason = "rejected"', 'reason = "timeout"'))
    ran = run(pytester, lab_folder, "--fwlab-cell=state=bad")
    assert ran.ret == 1
    found = results(lab_folder)
    assert found["probe-one"].judgement == "mismatch"
    assert found["probe-one"].differs == ["reason"]
    ran.stdout.fnmatch_lines(["*probe-one: expected blocked/timeout*reason differ*"])


def test_reproduce_mode_judges_nothing(pytester: pytest.Pytester, lab_folder: Path) -> None:
    ran = run(pytester, lab_folder, "--fwlab-reproduce", "--fwlab-cell=state=bad")
    assert ran.ret == 0
    assert {r.judgement for r in results(lab_folder).values()} == {"not judged"}


def test_an_exception_is_an_error_never_a_match(
    pytester: pytest.Pytester, lab_folder: Path
) -> None:
    (lab_folder / "test_broken.py").write_text(
        "def test_broken(host):\n    raise RuntimeError('docker daemon is not running')\n"
    )
    ran = run(pytester, lab_folder, "--fwlab-cell=state=good")
    assert ran.ret == 1
    broken = results(lab_folder)["broken"]
    assert broken.outcome == "error" and broken.judgement == "error"
    assert "docker daemon is not running" in broken.detail


def test_a_fixture_error_reads_back_as_error(pytester: pytest.Pytester, lab_folder: Path) -> None:
    (lab_folder / "test_setup.py").write_text(
        "import pytest\n@pytest.fixture\ndef broken():\n    raise OSError('scaffold failed')\n"
        "def test_needs_it(broken):\n    pass\n"
    )
    run(pytester, lab_folder, "--fwlab-cell=state=good")
    needs = results(lab_folder)["needs-it"]
    assert needs.outcome == "error" and "scaffold failed" in needs.detail


def test_an_added_test_function_is_a_new_check(pytester: pytest.Pytester, lab_folder: Path) -> None:
    with open(lab_folder / "test_unit.py", "a") as f:
        f.write("\ndef test_brand_new(host):\n    'A new check, nothing else changed.'\n")
    run(pytester, lab_folder, "--fwlab-cell=state=good")
    assert results(lab_folder)["brand-new"].judgement == "match"


def test_expectation_naming_no_check_is_a_usage_error(
    pytester: pytest.Pytester, lab_folder: Path
) -> None:
    (lab_folder / "lab.toml").write_text(LAB.replace('"asserts" =', '"assert-typo" ='))
    ran = run(pytester, lab_folder, "--fwlab-cell=state=bad")
    assert ran.ret == 4
    ran.stderr.fnmatch_lines(["*expectation 'assert-typo' names no check*"])


def test_without_a_cell_it_asks_which(pytester: pytest.Pytester, lab_folder: Path) -> None:
    ran = run(pytester, lab_folder)
    assert ran.ret != 0
    assert "which cell is this machine?" in ran.stdout.str() + ran.stderr.str()


def test_tests_outside_a_lab_are_left_alone(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_plain="def test_ok():\n    assert True\n")
    assert pytester.runpytest_subprocess("-p", "no:cacheprovider").ret == 0
