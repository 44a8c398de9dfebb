"""The checks, as pytest tests over testinfra. Run by `fwlab check` / `fwlab matrix`
(see runner.py), one test per check, against one lab machine. The probes all run at
once (plugin.observed); traces of blocked ones are taken one at a time, here."""

from __future__ import annotations

from typing import Any, Callable

from harness.checks.probes import CHECKS, Scaffold
from harness.models import CheckResult
from harness.trace.capture import capture


def test_check(
    check_name: str,
    lab_host: Any,
    scaffold: Scaffold,
    observed: dict[str, CheckResult],
    expected: dict[str, str],
    trace_enabled: bool,
    record: Callable[[CheckResult], None],
) -> None:
    check = CHECKS[check_name]
    result = observed[check_name]
    result.expected = expected.get(check_name)  # type: ignore[assignment]
    if result.observed == "blocked" and trace_enabled and check.traceable:
        probe, subnet = check.command(scaffold), scaffold.subnet_of(check)
        result.trace = capture(lab_host, probe, subnet, scaffold.monitor_seconds).verdict
    record(result)
    if result.expected is not None:
        assert result.observed == result.expected, (
            f"{check_name}: expected {result.expected}, observed {result.observed}: {result.detail}"
        )
