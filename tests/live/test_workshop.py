"""Live: the workshop's checkpoints on a real lab, and room mode with 3 students."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Callable

import pytest

from harness import room, workshop
from harness.providers import get_provider
from harness.providers.nspawn import inventory

pytestmark = pytest.mark.live


def test_every_checkpoint_fails_before_its_step_and_passes_after_solve(
    run_fwlab: Callable,
    lab_name: str,  # type: ignore[type-arg]
) -> None:
    start = run_fwlab("lab", "start", "docker-firewalld", "--name", lab_name)
    assert start.returncode == 0, start.stdout + start.stderr
    try:
        ws = workshop.load("docker-firewalld")
        target = workshop.Target.of(get_provider("nspawn"), lab_name, ws)
        assert len(ws.steps) == 9
        for step in ws.steps:
            assert workshop.check(target, step), f"step {step.number} passed before its solve"
            workshop.solve(target, step)
            assert workshop.check(target, step) == [], f"step {step.number} fails after solve"
        assert workshop.passed(target.host) == list(range(1, 10))
        # The student's view: `fwlab lab check` says pass, and what is missing otherwise.
        ok = run_fwlab("lab", "check", "docker-firewalld", "9", "--name", lab_name)
        assert ok.returncode == 0 and "pass" in ok.stdout
        not_yet = run_fwlab("lab", "check", "docker-firewalld", "8", "--name", lab_name)
        assert not_yet.returncode == 1 and "firewalld is still running" in not_yet.stdout
    finally:
        run_fwlab("down", lab_name)


def test_start_at_a_later_step(run_fwlab: Callable, lab_name: str) -> None:  # type: ignore[type-arg]
    start = run_fwlab("lab", "start", "docker-firewalld", "--step", "8", "--name", lab_name)
    assert start.returncode == 0, start.stdout + start.stderr
    try:
        check = run_fwlab("lab", "check", "docker-firewalld", "8", "--name", lab_name)
        assert check.returncode == 1, check.stdout
        ws = workshop.load("docker-firewalld")
        target = workshop.Target.of(get_provider("nspawn"), lab_name, ws)
        assert workshop.passed(target.host) == list(range(1, 8))
    finally:
        run_fwlab("down", lab_name)


def ssh(config: str, alias: str, command: str, *options: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["ssh", "-F", config, *options, alias, command],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def test_room_mode_with_three_students(run_fwlab: Callable) -> None:  # type: ignore[type-arg]
    up = run_fwlab("workshop", "up", "--students", "3")
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        _lab, _provider, students = room.load_roster()
        assert [s.name for s in students] == ["student-1", "student-2", "student-3"]
        a, b = students[0], students[1]
        for s in students:
            assert Path(s.key).stat().st_mode & 0o777 == 0o600
            assert ssh(s.ssh_config, s.name, "hostname").stdout.strip() == s.name
        # Student A's key does not open B's lab ...
        b_addr = next(
            line.split()[1] for line in Path(b.ssh_config).read_text().splitlines()
            if line.strip().startswith("HostName")
        )  # fmt: skip
        b_known = str(Path(b.ssh_config).with_name("known_hosts"))
        denied = ssh(a.ssh_config, a.name, "hostname", "-o", f"HostName={b_addr}",
                     "-o", f"UserKnownHostsFile={b_known}")  # fmt: skip
        assert denied.returncode != 0 and "Permission denied" in denied.stderr
        # ... and A's lab has no way to B's lab, nor to the server.
        for target in (b_addr, "192.0.2.2"):
            res = ssh(
                a.ssh_config,
                a.name,
                f"timeout 5 busybox nc -w 3 {target} 22 </dev/null; echo rc=$?",
            )
            assert "rc=0" not in res.stdout and "rc=124" not in res.stdout, res.stdout
        # Progress made with `solve` shows in `status`.
        assert run_fwlab("lab", "solve", "1", "--name", b.name).returncode == 0
        status = run_fwlab("workshop", "status")
        assert status.returncode == 0, status.stderr
        rows = {line.split()[1]: line for line in status.stdout.splitlines() if "student-" in line}
        assert "1/9" in rows["student-2"] and "0/9" in rows["student-1"]
    finally:
        down = run_fwlab("workshop", "down")
    assert down.returncode == 0, down.stderr
    assert not room.folder().exists()
    assert inventory.leftovers() == {kind: [] for kind in inventory.KINDS}


INSTANCES = Path("/proc/sys/fs/inotify/max_user_instances")


def test_a_room_too_big_for_the_host_is_refused_up_front(run_fwlab: Callable) -> None:  # type: ignore[type-arg]
    """With the inotify limit lowered, `workshop up` refuses in one line naming the limit and
    the fix, and makes nothing; `fwlab host tune` raises it and records the old value,
    `fwlab host restore` puts it back. The host's own value is restored afterwards."""
    from harness import hostlimits

    original = INSTANCES.read_text()
    used = next(
        lim.used for lim in hostlimits.limits() if lim.name == "fs.inotify.max_user_instances"
    )
    try:
        INSTANCES.write_text(f"{used + 20}\n")  # room for one lab, not three
        refused = run_fwlab("workshop", "up", "--students", "3")
        assert refused.returncode == 2
        lines = refused.stderr.strip().splitlines()
        assert len(lines) == 1, refused.stderr
        assert "fs.inotify.max_user_instances" in lines[0] and "sysctl -w" in lines[0]
        assert not room.roster_path().exists()
        assert inventory.leftovers() == {kind: [] for kind in inventory.KINDS}
        tuned = run_fwlab("host", "tune", "--labs", "3")
        assert tuned.returncode == 0 and f"(was {used + 20};" in tuned.stderr, tuned.stderr
        assert (
            int(INSTANCES.read_text())
            >= used + 3 * hostlimits.PER_LAB["fs.inotify.max_user_instances"]
        )
        assert run_fwlab("host", "restore").returncode == 0
        assert int(INSTANCES.read_text()) == used + 20
    finally:
        INSTANCES.write_text(original)
