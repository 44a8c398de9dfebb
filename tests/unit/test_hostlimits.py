"""Host limits: preflight refuses rooms that do not fit; tune records, restore puts back.
Runs against a fake /proc/sys in a temporary folder, as any user."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from harness import hostlimits
from harness.errors import UsageError

INSTANCES = "fs.inotify.max_user_instances"


@pytest.fixture
def sysctl(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "proc-sys"
    for name, value in {INSTANCES: 128, "fs.inotify.max_user_watches": 65536,
                        "kernel.pid_max": 32768}.items():  # fmt: skip
        path = root / name.replace(".", "/")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"{value}\n")
    monkeypatch.setattr(hostlimits, "_sysctl_path", lambda n: root / n.replace(".", "/"))
    monkeypatch.setattr(hostlimits, "_inotify_in_use", lambda uid=0: (40, 1000))
    monkeypatch.setenv("FWLAB_HOME", str(tmp_path / "home"))
    plenty = SimpleNamespace(available=64 * 2**30)
    monkeypatch.setattr(hostlimits.psutil, "virtual_memory", lambda: plenty)
    return root


NSPAWN = SimpleNamespace(name="nspawn")


def test_labs_allowed_by_the_tightest_limit(sysctl: Path) -> None:
    assert hostlimits.capacity() == ((128 - 40) // 16, INSTANCES)


def test_preflight_refuses_in_one_line_naming_the_limit_and_the_fix(sysctl: Path) -> None:
    hostlimits.preflight(NSPAWN, 5)  # 40 + 5 * 16 = 120 <= 128
    with pytest.raises(UsageError) as err:
        hostlimits.preflight(NSPAWN, 6)
    message = str(err.value)
    assert "\n" not in message
    assert f"{INSTANCES} >= {40 + 6 * 16}, but it is 128 (40 in use)" in message
    assert f"sysctl -w {INSTANCES}={40 + 6 * 16}" in message
    assert "fwlab host tune --labs 6" in message


def test_preflight_ignores_providers_with_their_own_kernel(sysctl: Path) -> None:
    hostlimits.preflight(SimpleNamespace(name="vagrant"), 500)


def test_preflight_refuses_when_memory_binds(sysctl: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    small = SimpleNamespace(available=2 * hostlimits.MEMORY_PER_LAB)
    monkeypatch.setattr(hostlimits.psutil, "virtual_memory", lambda: small)
    assert hostlimits.capacity() == (2, "memory")
    with pytest.raises(UsageError, match="this host holds 2 more"):
        hostlimits.preflight(NSPAWN, 3)


def test_tune_records_the_first_old_value_and_restore_puts_it_back(sysctl: Path) -> None:
    said: list[str] = []
    changed = hostlimits.tune(10, said.append)
    assert changed == [f"{INSTANCES}: 128 -> 200 (was 128; `fwlab host restore` puts it back)"]
    assert (sysctl / "fs/inotify/max_user_instances").read_text() == "200\n"
    hostlimits.tune(20, said.append)  # raised again: the value to restore stays the host's own
    assert (sysctl / "fs/inotify/max_user_instances").read_text() == "360\n"
    assert hostlimits.restore(said.append) == [f"{INSTANCES} = 128"]
    assert (sysctl / "fs/inotify/max_user_instances").read_text() == "128\n"
    assert hostlimits.restore(said.append) == []  # nothing recorded any more
    assert (sysctl / "fs/inotify/max_user_watches").read_text() == "65536\n"  # never touched


def test_tune_leaves_limits_that_already_fit(sysctl: Path) -> None:
    assert hostlimits.tune(1, lambda _m: None) == []
    assert hostlimits.restore(lambda _m: None) == []
