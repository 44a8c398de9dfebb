"""Run the checks (pytest + testinfra, in a child process) against one machine."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

from harness.errors import FwlabError
from harness.models import CheckResult, TraceVerdict
from harness.util import die_with_parent

TEST_MODULE = Path(__file__).with_name("test_lab.py")
# Each check is bounded (< 10 s, traces < 30 s); this only guards against a hung SSH.
RUN_TIMEOUT = 600


def run_checks(
    ssh_config: Path,
    alias: str,
    checks: list[str],
    expected: dict[str, str] | None,
    trace: bool = True,
    junit: Path | None = None,
    time_scale: float = 1.0,
) -> list[CheckResult]:
    with tempfile.TemporaryDirectory(prefix="fwlab-check-") as tmp:
        results = Path(tmp) / "results.json"
        cmd = [
            sys.executable, "-m", "pytest", str(TEST_MODULE),
            "-p", "harness.checks.plugin", "-p", "no:cacheprovider",
            "--rootdir", str(TEST_MODULE.parent), "--confcutdir", str(TEST_MODULE.parent),
            "-o", "addopts=", "-q", "--no-header", "-rN",
            f"--fwlab-ssh-config={ssh_config}", f"--fwlab-host={alias}",
            f"--fwlab-checks={','.join(checks)}", f"--fwlab-results={results}",
            f"--fwlab-time-scale={time_scale}",
        ]  # fmt: skip
        if expected is not None:
            (Path(tmp) / "expect.json").write_text(json.dumps(expected))
            cmd.append(f"--fwlab-expect={Path(tmp) / 'expect.json'}")
        if trace:
            cmd.append("--fwlab-trace")
        if junit is not None:
            cmd.append(f"--junitxml={junit}")
        try:
            proc = subprocess.run(
                cmd,
                capture_output=True,
                text=True,
                timeout=RUN_TIMEOUT,
                preexec_fn=die_with_parent,
            )
        except subprocess.TimeoutExpired as exc:
            raise FwlabError(f"checks on {alias} did not finish in {RUN_TIMEOUT} s") from exc
        # pytest exits 1 when a check differs from its expectation: that is a result.
        if proc.returncode not in (0, 1) or not results.exists():
            tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-15:])
            raise FwlabError(f"checks on {alias} could not run (pytest {proc.returncode}):\n{tail}")
        found = [result_from_dict(d) for d in json.loads(results.read_text())]
        if checks and len(found) < len(checks) or not found:
            tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-15:])
            raise FwlabError(f"checks on {alias} did not all run:\n{tail}")
        return found


def result_from_dict(d: dict) -> CheckResult:  # type: ignore[type-arg]
    trace = TraceVerdict(**d["trace"]) if d.get("trace") else None
    return CheckResult(
        name=d["name"],
        observed=d["observed"],
        detail=d["detail"],
        seconds=d["seconds"],
        expected=d.get("expected"),
        trace=trace,
    )
