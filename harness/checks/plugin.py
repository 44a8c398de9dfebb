"""pytest plugin behind `fwlab check`: options, the testinfra host, the scaffold,
and a recorder that writes every check's observed result to a JSON file."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable

import pytest

from harness.checks.probes import (
    CHECKS,
    Scaffold,
    probe_image_tag,
    run_check,
    setup_scaffold,
    teardown_scaffold,
)
from harness.models import CheckResult
from harness.ssh import SshEndpoint

_results: list[CheckResult] = []
#: Probes started at once on one machine (each is a `docker run`; two cores here).
PROBES_AT_ONCE = 3


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("fwlab")
    group.addoption("--fwlab-ssh-config", help="ssh_config file with the lab's entry")
    group.addoption("--fwlab-host", help="the Host alias in that file")
    group.addoption("--fwlab-checks", default="", help="comma-separated check names (all)")
    group.addoption(
        "--fwlab-expect", default="", help="JSON {check: pass|blocked}; none: reproduce"
    )
    group.addoption("--fwlab-results", help="write observed results (JSON) here")
    group.addoption("--fwlab-trace", action="store_true", help="trace every blocked check")
    group.addoption(
        "--fwlab-time-scale", type=float, default=1.0, help="slowness of the machine (timeouts)"
    )


def selected(config: pytest.Config) -> list[str]:
    chosen = config.getoption("--fwlab-checks")
    return [n for n in chosen.split(",") if n] or list(CHECKS)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "check_name" in metafunc.fixturenames:
        metafunc.parametrize("check_name", selected(metafunc.config))


@pytest.fixture(scope="session")
def lab_host(request: pytest.FixtureRequest) -> Any:
    config = request.config.getoption("--fwlab-ssh-config")
    alias = request.config.getoption("--fwlab-host")
    if not config or not alias:
        pytest.exit("fwlab checks need --fwlab-ssh-config and --fwlab-host", returncode=4)
    return SshEndpoint.parse(Path(config).read_text(), alias).testinfra(Path(config))


@pytest.fixture(scope="session")
def scaffold(request: pytest.FixtureRequest, lab_host: Any) -> Any:
    scale = request.config.getoption("--fwlab-time-scale")
    built = setup_scaffold(lab_host, probe_image_tag(lab_host), scale)
    yield built
    teardown_scaffold(lab_host)


@pytest.fixture(scope="session")
def observed(request: pytest.FixtureRequest, lab_host: Any, scaffold: Scaffold) -> dict[str, Any]:
    """Every selected probe, run at once: most of a blocked probe's time is waiting for
    its timeout, so a cell takes about as long as its slowest probe. Each result is
    still that probe's own (its outcome, output and duration)."""
    names = selected(request.config)
    with ThreadPoolExecutor(max_workers=PROBES_AT_ONCE) as pool:
        results = pool.map(lambda n: run_check(lab_host, CHECKS[n], scaffold), names)
        return dict(zip(names, results))


@pytest.fixture(scope="session")
def expected(request: pytest.FixtureRequest) -> dict[str, str]:
    path = request.config.getoption("--fwlab-expect")
    return json.loads(Path(path).read_text()) if path else {}


@pytest.fixture(scope="session")
def trace_enabled(request: pytest.FixtureRequest) -> bool:
    return bool(request.config.getoption("--fwlab-trace"))


@pytest.fixture
def record() -> Callable[[CheckResult], None]:
    return _results.append


def pytest_sessionfinish(session: pytest.Session) -> None:
    path = session.config.getoption("--fwlab-results")
    if path:
        Path(path).write_text(json.dumps([r.as_dict() for r in _results], indent=2))


__all__ = ["Scaffold"]
