"""The one cell pipeline and the matrix runner, with a fake provider: no root, no machines.

Provisioning and the checks' pytest run are replaced by recorders; everything between
them (phases, fidelity, errors, teardown, parallel cells, Ctrl-C) is the real code."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness import labs, matrix, pipeline
from harness.errors import FwlabError, UsageError
from harness.models import CheckResult, Layer
from harness.provision import ProvisionReport
from tests.unit.factories import FakeProvider

LAB = labs.load("docker-firewalld")


def report(docker_real: bool = True) -> ProvisionReport:
    return ProvisionReport(
        os="Debian GNU/Linux 11 (bullseye)",
        recipe="DebianRecipe",
        changed=True,
        docker=Layer(
            docker_real, "Docker 20.10.5 (Debian's docker.io)" if docker_real else "stand-in"
        ),
        firewalld=Layer(True, "firewalld 0.9.3 (nftables backend), running"),
        versions={"os": "debian 11", "docker": "20.10.5"},
        probe_image="fwlab/probe:abc",
    )


@pytest.fixture
def provider(tmp_path: Path) -> FakeProvider:
    return FakeProvider(tmp_path)


@pytest.fixture
def recorded(monkeypatch: pytest.MonkeyPatch) -> dict[str, list]:
    """Provisioning and checks replaced by recorders; checks pass unless told otherwise."""
    seen: dict[str, list] = {"provision": [], "check": [], "keep_scaffold": []}

    def fake_provision(machine, recipe, firewalld, say):  # type: ignore[no-untyped-def]
        seen["provision"].append((machine.name, recipe, firewalld))
        return report(docker_real=recipe.docker != "19.03")

    def fake_check(provider, machine, lab, spec, judged=True, only=None, trace=True,  # type: ignore[no-untyped-def]  # noqa: E501
                   keep_scaffold=False):  # fmt: skip
        seen["check"].append((machine.name, spec.cell.label, judged))
        seen["keep_scaffold"].append(keep_scaffold)
        outcome = seen.get("outcome", ["pass"])[0]
        if outcome == "raise":
            raise FwlabError("the checks on m could not run (pytest exit 2)")
        return [CheckResult("host-network", outcome, None if outcome == "pass" else "rejected",
                            expected=spec.expectation("host-network"))]  # fmt: skip

    monkeypatch.setattr(pipeline, "_provision", fake_provision)
    monkeypatch.setattr(pipeline, "check", fake_check)
    return seen


def test_run_cell_goes_up_provisions_checks_and_down(
    provider: FakeProvider, recorded: dict
) -> None:
    spec = LAB.cells[1]  # 20.10 x on
    result = pipeline.run_cell(provider, LAB, spec, "m-1")
    assert provider.calls == [("up", "m-1"), ("down", "m-1")]
    assert set(result.timings) == {"up", "check", "down"}
    assert (
        result.fidelity["machine"].real is False and "CentOS 8" in result.fidelity["machine"].what
    )
    assert result.fidelity["docker"].real and result.versions["docker"] == "20.10.5"
    assert result.judgement == "match" and not result.error
    assert recorded["provision"][0][2] == "on"
    assert recorded["keep_scaffold"] == [True]  # the machine goes: nothing to tidy in it


def test_a_kept_cell_keeps_its_scaffold(provider: FakeProvider, recorded: dict) -> None:
    pipeline.run_cell(provider, LAB, LAB.cells[1], "m-1", keep=True)
    assert provider.calls == [("up", "m-1")]
    assert recorded["keep_scaffold"] == [True]  # the next `fwlab check` reuses it


def test_stood_in_docker_shows_in_fidelity(provider: FakeProvider, recorded: dict) -> None:
    result = pipeline.run_cell(provider, LAB, LAB.cells[0], "m-1")  # 19.03 x on
    assert result.stood_in and any(s.startswith("docker:") for s in result.stand_ins)


def test_a_failing_check_run_is_the_cells_error_and_it_still_goes_down(
    provider: FakeProvider, recorded: dict
) -> None:
    recorded["outcome"] = ["raise"]
    result = pipeline.run_cell(provider, LAB, LAB.cells[1], "m-1")
    assert "could not run" in result.error and result.judgement == "error"
    assert ("down", "m-1") in provider.calls


def test_any_exception_inside_a_cell_is_that_cells_error(tmp_path: Path, recorded: dict) -> None:
    provider = FakeProvider(tmp_path, fail_up={"m-1"})
    result = pipeline.run_cell(provider, LAB, LAB.cells[1], "m-1")
    assert result.error == "RuntimeError: m-1 would not boot"


def test_keep_leaves_the_machine_up(provider: FakeProvider, recorded: dict) -> None:
    pipeline.run_cell(provider, LAB, LAB.cells[1], "m-1", keep=True)
    assert ("down", "m-1") not in provider.calls


def test_bring_up_takes_the_machine_down_when_provisioning_fails(
    provider: FakeProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*_args):  # type: ignore[no-untyped-def]
        raise FwlabError("`apt-get install -y docker.io` exited 100")

    monkeypatch.setattr(pipeline, "_provision", broken)
    with pytest.raises(FwlabError, match="exited 100"):
        pipeline.bring_up(provider, "m-1", pipeline.Recipe("bullseye", "20.10", "on"))
    assert provider.calls == [("up", "m-1"), ("down", "m-1")]


def test_recipe_key_keeps_live_states_as_the_state_they_come_from() -> None:
    on = pipeline.Recipe("bullseye", "20.10", "on")
    trap = pipeline.Recipe("bullseye", "20.10", "stopped-no-restart")
    assert on.key == trap.key
    assert on.key != pipeline.Recipe("bookworm", "20.10", "on").key
    assert on.key != pipeline.Recipe("bullseye", "19.03", "on").key
    assert on.key != pipeline.Recipe("bullseye", "20.10", "off").key


def test_the_matrix_runs_every_cell_and_one_error_does_not_stop_it(
    tmp_path: Path, recorded: dict
) -> None:
    provider = FakeProvider(tmp_path)
    names: list[str] = []
    original_up = provider.up

    def up(name, *args, **kwargs):  # type: ignore[no-untyped-def]
        names.append(name)
        if len(names) == 2:
            raise RuntimeError("boom")
        return original_up(name, *args, **kwargs)

    provider.up = up  # type: ignore[method-assign]
    result = matrix.run_matrix(provider, LAB, LAB.cells, parallel=3)
    assert len(result.cells) == 5
    assert sum(1 for c in result.cells if c.error) == 1
    assert result.exit_code == 2
    assert provider.machines == {}  # every machine that came up went down
    assert len(set(names)) == 5  # unique names per cell


def test_ctrl_c_in_one_cell_takes_every_machine_down(tmp_path: Path, recorded: dict) -> None:
    provider = FakeProvider(tmp_path)

    def update(cell: str, phase: str) -> None:
        if phase == "checks" and "stopped" in cell:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        matrix.run_matrix(provider, LAB, LAB.cells, parallel=5, update=update)
    assert provider.machines == {}
    pipeline.cancelled.clear()


def test_default_parallel_follows_cores_memory_provider_and_cells(
    provider: FakeProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(matrix.os, "cpu_count", lambda: 2)
    assert matrix.default_parallel(provider, 50) == 5
    assert matrix.default_parallel(provider, 3) == 3
    provider.max_parallel = 1
    assert matrix.default_parallel(provider, 5) == 1


def test_check_running_judges_the_cell_the_machine_was_made_as(
    provider: FakeProvider, recorded: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    provider.up("lab-1")
    marker = {"os": "bullseye", "docker": "19.03", "firewalld": "on", "axes": {}}
    monkeypatch.setattr(pipeline, "inspect", lambda conn: (report(False), marker))
    monkeypatch.setattr("harness.ssh.SshEndpoint.fabric", lambda self: _Closing())
    result = pipeline.check_running(provider, "lab-1", LAB)
    assert result.cell.label == "docker=19.03,firewalld=on,os=bullseye"
    assert recorded["check"][0][:2] == ("lab-1", result.cell.label)
    assert recorded["keep_scaffold"] == [True]
    monkeypatch.setattr(pipeline, "inspect", lambda conn: (report(), {}))
    with pytest.raises(UsageError, match="not provisioned yet"):
        pipeline.check_running(provider, "lab-1", LAB)


class _Closing:
    def close(self) -> None:
        pass
