"""pytest wiring for fwlab's own test suite: live-test fixtures (lab machines,
host snapshots, the CLI). The checks that run *on* a lab have their own plugin,
harness/checks/plugin.py, loaded by `fwlab check` / `fwlab matrix`."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Callable

import pytest

from harness.providers.base import Machine

REPO = Path(__file__).resolve().parent
pytest_plugins = ["pytester"]  # tests/unit/test_plugin.py runs lab folders in a pytest of their own


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.geteuid() == 0:
        return
    skip = pytest.mark.skip(reason="live tests need root (they create namespaces and mounts)")
    for item in items:
        if "live" in item.keywords:
            item.add_marker(skip)


def host_network_snapshot() -> dict[str, str]:
    """What the host's root namespace looks like: it must be the same after every lab."""

    def out(*cmd: str) -> str:
        return subprocess.run(cmd, capture_output=True, text=True, check=True).stdout

    return {
        "nft ruleset": out("nft", "list", "ruleset"),
        "routes": out("ip", "route", "show", "table", "all"),
        "addresses": out("ip", "-o", "addr"),
        "links": out("ip", "-o", "link"),
        "ip_forward": Path("/proc/sys/net/ipv4/ip_forward").read_text(),
        "nf_log_all_netns": Path("/proc/sys/net/netfilter/nf_log_all_netns").read_text(),
    }


def fwlab_command(*args: str, timeout: float = 900) -> subprocess.CompletedProcess[str]:
    """Run the real `fwlab` command line."""
    return subprocess.run(
        [sys.executable, "-m", "harness.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=REPO,
    )


@pytest.fixture
def run_fwlab() -> Callable[..., subprocess.CompletedProcess[str]]:
    """Run the real `fwlab` command line."""
    return fwlab_command


@pytest.fixture
def lab_name(request: pytest.FixtureRequest) -> str:
    """A lab name unique to this test and process (concurrent runs never collide)."""
    return f"t{os.getpid() % 100000}-{abs(hash(request.node.nodeid)) % 10000}"


@pytest.fixture
def labs() -> Iterator[Callable[[str], Machine]]:
    """Bring labs up; every one of them is taken down after the test, pass or fail."""
    from harness.providers import get_provider

    provider = get_provider("nspawn")
    made: list[str] = []

    def up(name: str) -> Machine:
        made.append(name)
        return provider.up(name)

    yield up
    for name in made:
        if provider.status(name).status != "absent":
            provider.down(name)
