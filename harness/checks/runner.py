"""Run a lab's tests against one machine with pytest, and read the results back from
pytest's own JUnit XML (each test's `fwlab` property holds its result)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from junitparser import Error, Failure, JUnitXml, Properties, Skipped, TestCase

from harness.checks.plugin import PROPERTY
from harness.errors import FwlabError
from harness.labs import Lab
from harness.models import Cell, CheckResult
from harness.util import die_with_parent

#: Each probe is bounded on the machine; this only guards against a run that hangs.
RUN_TIMEOUT = 900


@dataclass
class CheckRun:
    """How to run a lab's checks on one machine."""

    lab: Lab
    cell: Cell
    ssh_config: Path
    alias: str
    sudo: bool = False
    judged: bool = True
    time_scale: float = 1.0
    outside: str = ""  # testinfra host spec of a client outside the lab
    trace: bool = True
    only: list[str] = field(default_factory=list)  # check names (default: all)
    keep_scaffold: bool = False  # the machine outlives the run: keep its probe containers

    def command(self, junit: Path) -> list[str]:
        cmd = [
            sys.executable, "-m", "pytest", str(self.lab.folder),
            "-c", os.devnull, "--rootdir", str(self.lab.folder),
            "-p", "no:cacheprovider", "-o", "junit_family=xunit1",
            "--import-mode=importlib", "-q", "--no-header", "-rN",
            f"--hosts=fwlab://{self.alias}", f"--ssh-config={self.ssh_config}",
            f"--fwlab-lab={self.lab.path}", f"--fwlab-time-scale={self.time_scale}",
            f"--junitxml={junit}",
        ]  # fmt: skip
        cmd.append(f"--fwlab-cell={self.cell.id}")
        if not self.judged:
            cmd.append("--fwlab-reproduce")
        if self.sudo:
            cmd.append("--sudo")
        if self.outside:
            cmd.append(f"--fwlab-outside={self.outside}")
        if not self.trace:
            cmd.append("--fwlab-no-trace")
        if self.keep_scaffold:
            cmd.append("--fwlab-keep-scaffold")
        if self.only:
            cmd += ["-k", " or ".join(_keyword(name) for name in self.only)]
        return cmd


def _keyword(check: str) -> str:
    return "test_" + check.replace("-", "_").split("[")[0]


def run_checks(run: CheckRun) -> list[CheckResult]:
    """Every check's result; a run that could not happen at all raises FwlabError with
    pytest's own words."""
    with tempfile.TemporaryDirectory(prefix="fwlab-check-") as tmp:
        junit = Path(tmp) / "checks.xml"
        try:
            proc = subprocess.run(
                run.command(junit),
                capture_output=True,
                text=True,
                timeout=RUN_TIMEOUT,
                preexec_fn=die_with_parent,
                cwd=tmp,
            )
        except subprocess.TimeoutExpired as exc:
            raise FwlabError(
                f"the checks on {run.alias} did not finish in {RUN_TIMEOUT} s"
            ) from exc
        # pytest exits 1 when a check differs from its expectation: that is a result.
        if proc.returncode not in (0, 1) or not junit.exists():
            raise FwlabError(
                f"the checks on {run.alias} could not run (pytest exit {proc.returncode}):\n"
                + _tail(proc.stdout + proc.stderr)
            )
        results = read_junit(junit)
    if not results:
        raise FwlabError(f"no check ran on {run.alias}:\n" + _tail(proc.stdout + proc.stderr))
    return results


def read_junit(path: Path) -> list[CheckResult]:
    """Check results from a JUnit file written by a lab's pytest run."""
    results = []
    for suite in JUnitXml.fromfile(str(path)):
        for case in suite:
            result = _from_case(case)
            if result is not None:
                results.append(result)
    return results


def _from_case(case: TestCase) -> CheckResult | None:
    props = case.child(Properties)
    for prop in props or []:
        if prop.name == PROPERTY:
            return CheckResult.from_dict(json.loads(prop.value))
    if any(isinstance(r, Skipped) for r in case.result):
        return None  # skipped by the lab (e.g. not on this OS): not run
    problem = next((r for r in case.result if isinstance(r, (Error, Failure))), None)
    name = case.name.removeprefix("test_").split("[")[0].replace("_", "-")
    message = (problem.message if problem is not None else "") or "no result recorded"
    # A fixture that failed (the scaffold, a scenario step) means the check could not run.
    return CheckResult(name, "error", None, message.strip().splitlines()[0])


def _tail(text: str, lines: int = 15) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])
