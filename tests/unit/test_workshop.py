"""The workshop file and its checkpoint conditions, against a fake testinfra host."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness import workshop
from harness.errors import UsageError
from tests.unit.factories import Out

TRACES = Path(__file__).resolve().parent / "data" / "traces" / "debian11-firewalld-0.9.3"


class FakeHost:
    """Answers `run` from a table of command -> output; records what was run. It is its
    own workshop target: `.host` is itself, `.probe(check)` answers from `probes`."""

    def __init__(self, answers: dict[str, Out], probes: dict[str, str] | None = None):
        self.answers = answers
        self.probes = probes or {}
        self.ran: list[str] = []

    @property
    def host(self) -> FakeHost:
        return self

    def run(self, command: str) -> Out:
        self.ran.append(command)
        return self.answers.get(command, Out(1, "", "no such thing"))

    def probe(self, check: str) -> str:
        return self.probes[check]


def test_the_docker_firewalld_workshop_loads() -> None:
    ws = workshop.load("docker-firewalld")
    assert ws.start == {"docker": "19.03", "firewalld": "on"}
    assert ws.recipe().os == "bullseye" and ws.guide.name == "guide.md"
    assert [s.number for s in ws.steps] == list(range(1, 10))
    assert all(s.conditions and s.solve and s.hint for s in ws.steps)
    assert "filter_FORWARD" in ws.step(7).title


def test_a_step_out_of_range_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="has steps 1-9"):
        workshop.load("docker-firewalld").step(10)


def test_a_lab_without_a_workshop(tmp_path: Path) -> None:
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "lab.toml").write_text('name = "x"\n')
    with pytest.raises(UsageError, match="has no workshop"):
        workshop.load(str(tmp_path / "x"))


def test_a_malformed_condition_names_the_key(tmp_path: Path) -> None:
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "lab.toml").write_text('name = "x"\n')
    (tmp_path / "x" / "workshop.toml").write_text(
        'lab = "x"\nstart = { docker = "19.03", firewalld = "on" }\n'
        '[[step]]\ntitle = "t"\nhint = "h"\nsolve = []\n'
        '[[step.check]]\nrun = "true"\nmissing = "m"\n'  # `match` forgotten
    )
    with pytest.raises(UsageError, match=r"workshop.toml: key step.0.check.0"):
        workshop.load(str(tmp_path / "x"))


def test_run_conditions_match_and_absent() -> None:
    host = FakeHost({"iptables -t raw -S": Out(0, "-A PREROUTING -p tcp -j TRACE\n")})
    present = {"run": "iptables -t raw -S", "match": "-j TRACE", "missing": "no TRACE"}
    absent = {**present, "absent": True, "missing": "a TRACE rule"}
    assert workshop._holds(host, present) is True
    assert workshop._holds(host, absent) is False


def test_trace_file_condition_reads_the_capture() -> None:
    capture = (TRACES / "xt-nozone-egress.txt").read_text()
    host = FakeHost({"cat /root/trace.txt": Out(0, capture)})
    cond = {"trace_file": "/root/trace.txt", "chain": "filter_FORWARD", "verdict": "drop",
            "missing": "m"}  # fmt: skip
    assert workshop._holds(host, cond) is True
    assert workshop._holds(FakeHost({}), cond) is False  # no file: not done yet


def test_a_passing_check_is_recorded_on_the_machine() -> None:
    step = workshop.Step(3, "t", "h", [], [{"run": "true", "match": "", "missing": "m"}])
    host = FakeHost({"true": Out(0, "")})
    assert workshop.check(host, step) == []
    assert any(".fwlab-workshop.json" in cmd and '"passed": [3]' in cmd for cmd in host.ran)


def test_probe_conditions_ask_the_labs_own_check() -> None:
    target = FakeHost({}, probes={"egress-ip": "pass"})
    assert workshop._holds(target, {"probe": "egress-ip", "expect": "pass", "missing": "m"})
    assert not workshop._holds(target, {"probe": "egress-ip", "expect": "blocked", "missing": "m"})
