"""Live: nothing leaks, whatever happens to a run (SIGINT, SIGKILL), and gc removes
only what is ours. Needs root."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

import pytest

from conftest import REPO, host_network_snapshot
from harness import paths
from harness.providers import get_provider
from harness.providers.nspawn import inventory
from harness.util import processes_using, wait_for

pytestmark = pytest.mark.live

NOTHING = {kind: [] for kind in inventory.KINDS}
PHASE_TIMEOUT = 180  # seconds to reach a phase: bounded, and generous for a busy CI


def start_fwlab(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "harness.cli", *args],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, **(env or {})},
    )


def interrupt_at(proc: subprocess.Popen[str], marker: str, sig: int) -> str:
    """Read the run's output until `marker` shows, then send `sig`; return all output."""
    assert proc.stdout is not None
    seen: list[str] = []
    deadline = time.monotonic() + PHASE_TIMEOUT
    for line in proc.stdout:
        seen.append(line)
        if marker in line:
            proc.send_signal(sig)
            break
        assert time.monotonic() < deadline, f"{marker!r} not reached:\n{''.join(seen)}"
    else:
        pytest.fail(f"run ended before {marker!r}:\n{''.join(seen)}")
    rest, _ = proc.communicate(timeout=120)
    return "".join(seen) + rest


# (phase, command, marker in its output) for `fwlab up` and `fwlab matrix`. Every run gets
# a fresh layer cache, so provisioning really happens (on the lab that builds the layer).
PHASES = [
    ("boot", ["up", "--name", "{name}"], "booting systemd in the lab"),
    ("provisioning", ["up", "--name", "{name}", "--docker", "19.03"], "19.03 stand-in: cutting"),
    (
        "checks",
        ["matrix", "--cells", "docker=19.03,firewalld=on", "--parallel", "1"],
        "docker=19.03,firewalld=on,os=bullseye: checks",
    ),
]


def test_up_down_cycles_leave_nothing(lab_name: str) -> None:
    provider = get_provider("nspawn")
    before = host_network_snapshot()
    for cycle in range(5):
        provider.up(f"{lab_name}-{cycle}")
        provider.down(f"{lab_name}-{cycle}")
        assert inventory.leftovers() == NOTHING, f"cycle {cycle}"
    assert host_network_snapshot() == before


@pytest.mark.parametrize(("phase", "args", "marker"), PHASES, ids=[p[0] for p in PHASES])
def test_sigint_cleans_up_by_itself(
    phase: str, args: list[str], marker: str, lab_name: str, tmp_path: Path
) -> None:
    env = {"FWLAB_LAYER_CACHE": str(tmp_path)}
    proc = start_fwlab(*(a.format(name=lab_name) for a in args), env=env)
    output = interrupt_at(proc, marker, signal.SIGINT)
    assert proc.returncode == 130, output
    assert inventory.leftovers() == NOTHING, output
    assert list(tmp_path.glob("*.building-*")) == []


@pytest.mark.parametrize(("phase", "args", "marker"), PHASES, ids=[p[0] for p in PHASES])
def test_after_sigkill_gc_removes_every_leftover(
    phase: str,
    args: list[str],
    marker: str,
    lab_name: str,
    tmp_path: Path,
) -> None:
    env = {"FWLAB_LAYER_CACHE": str(tmp_path)}
    proc = start_fwlab(*(a.format(name=lab_name) for a in args), env=env)
    interrupt_at(proc, marker, signal.SIGKILL)
    assert inventory.leftovers() != NOTHING  # something was left: gc has work to do
    gc = subprocess.run(
        [sys.executable, "-m", "harness.cli", "gc"], cwd=REPO, capture_output=True, text=True,
        env={**os.environ, **env}, timeout=300,
    )  # fmt: skip
    assert gc.returncode == 0, gc.stderr
    assert "removed" in gc.stdout and "gc: 0 item" not in gc.stdout
    assert inventory.leftovers() == NOTHING, gc.stdout
    assert list(tmp_path.glob("*.building-*")) == []


def test_image_build_interrupted_leaves_nothing(
    tmp_path: Path,
    run_fwlab: Callable,  # type: ignore[type-arg]
) -> None:
    """SIGINT cleans the staging folder itself; after SIGKILL, gc removes it."""
    env = {"FWLAB_IMAGE_CACHE": str(tmp_path)}
    proc = start_fwlab("image", "build", env=env)
    interrupt_at(proc, "bootstrapping", signal.SIGINT)
    assert proc.returncode == 130
    assert list(tmp_path.glob("*.building-*")) == []
    proc = start_fwlab("image", "build", env=env)
    interrupt_at(proc, "bootstrapping", signal.SIGKILL)
    assert list(tmp_path.glob("*.building-*")) != []
    # (mm)debootstrap gets its parent-death SIGKILL from the kernel, asynchronously: wait for it.
    wait_for("the bootstrap tool to die with its fwlab", lambda: not processes_using(tmp_path), 30)
    gc = subprocess.run(
        [sys.executable, "-m", "harness.cli", "gc"], cwd=REPO, capture_output=True, text=True,
        env={**os.environ, **env}, timeout=120,
    )  # fmt: skip
    assert "unfinished image build" in gc.stdout
    assert list(tmp_path.glob("*.building-*")) == []
    running = subprocess.run(["ps", "-eo", "args="], capture_output=True, text=True).stdout
    assert str(tmp_path) not in running  # debootstrap died with its fwlab process


def test_gc_leaves_what_is_not_ours_alone(run_fwlab: Callable, lab_name: str) -> None:  # type: ignore[type-arg]
    lookalike = f"fwlab-{lab_name}"
    cgroup = Path("/sys/fs/cgroup/pids") / lookalike
    subprocess.run(["ip", "netns", "add", lookalike], check=True)
    cgroup.mkdir()
    try:
        gc = run_fwlab("gc")
        assert gc.returncode == 0
        assert lookalike not in gc.stdout
        assert Path("/run/netns", lookalike).exists() and cgroup.is_dir()
    finally:
        subprocess.run(["ip", "netns", "del", lookalike], check=False)
        cgroup.rmdir()


def test_gc_keeps_a_running_lab_that_someone_made_by_hand(
    run_fwlab: Callable,
    lab_name: str,  # type: ignore[type-arg]
) -> None:
    up = run_fwlab("up", "--name", lab_name)
    try:
        assert up.returncode == 0, up.stderr
        gc = run_fwlab("gc")
        assert lab_name not in gc.stdout
        assert get_provider("nspawn").status(lab_name).status == "running"
    finally:
        run_fwlab("down", lab_name)


# -- bad input: one line, exit 2, no partial state ----------------------------------
def one_line_error(res: subprocess.CompletedProcess[str], needle: str) -> None:
    """Exit 2, and the error is one line, the last (progress lines may come before it)."""
    lines = res.stderr.strip().splitlines()
    errors = [line for line in lines if line.startswith("fwlab: error:")]
    assert res.returncode == 2, res.stdout + res.stderr
    assert len(errors) == 1 and errors[0] == lines[-1] and needle in errors[0], res.stderr


def test_a_taken_name_on_the_command_line(run_fwlab: Callable, lab_name: str) -> None:  # type: ignore[type-arg]
    assert run_fwlab("up", "--name", lab_name).returncode == 0
    try:
        one_line_error(run_fwlab("up", "--name", lab_name), "already taken")
        assert get_provider("nspawn").status(lab_name).status == "running"
    finally:
        run_fwlab("down", lab_name)
    assert inventory.leftovers() == NOTHING


def test_no_free_subnet(lab_name: str) -> None:
    # 192.0.2.0/30 lies inside the host's own 192.0.2.0/24: no slot may be used.
    res = subprocess.run(
        [sys.executable, "-m", "harness.cli", "up", "--name", lab_name], cwd=REPO,
        capture_output=True, text=True, timeout=120,
        env={**os.environ, "FWLAB_MGMT_RANGE": "192.0.2.0/30"},
    )  # fmt: skip
    one_line_error(res, "no free management subnet")
    assert inventory.leftovers() == NOTHING


def test_a_corrupt_image_cache_is_never_used(tmp_path: Path, lab_name: str) -> None:
    """The damaged image is discarded; with no mirror to rebuild from, that is an error."""
    from harness.providers.nspawn.image import ImageRecipe

    env = {**os.environ, "FWLAB_IMAGE_CACHE": str(tmp_path),
           "FWLAB_MIRROR": "http://127.0.0.1:9/debian"}  # fmt: skip
    folder = tmp_path / ImageRecipe().folder.name
    (folder / "rootfs").mkdir(parents=True)
    (folder / "manifest.json").write_text(json.dumps({"key": "something else"}))
    res = subprocess.run(
        [sys.executable, "-m", "harness.cli", "up", "--name", lab_name], cwd=REPO,
        capture_output=True, text=True, timeout=300, env=env,
    )  # fmt: skip
    one_line_error(res, "strap failed")
    assert "discarding cached image" in res.stdout + res.stderr or not folder.exists()
    assert list(tmp_path.iterdir()) == [tmp_path / ".lock"]  # no image, no staging folder
    assert inventory.leftovers() == NOTHING


def test_a_malformed_lab_file(run_fwlab: Callable, tmp_path: Path) -> None:  # type: ignore[type-arg]
    (tmp_path / "lab.toml").write_text('name = "broken"\nchecks = [\n')
    one_line_error(run_fwlab("matrix", "--lab", str(tmp_path)), f"{tmp_path / 'lab.toml'}")
    assert inventory.leftovers() == NOTHING


# -- concurrency ----------------------------------------------------------------------
def test_two_matrix_runs_at_once(tmp_path: Path) -> None:
    runs = [
        start_fwlab("matrix", "--cells", cells, "--json", str(tmp_path / f"{i}.json"))
        for i, cells in enumerate(("docker=20.10,firewalld=on", "docker=19.03,firewalld=off"))
    ]
    outputs = [proc.communicate(timeout=600)[0] for proc in runs]
    for proc, output in zip(runs, outputs):
        assert proc.returncode == 0, output
    reports = [json.loads((tmp_path / f"{i}.json").read_text()) for i in range(2)]
    assert [r["cells"][0]["label"] for r in reports] == [
        "docker=20.10,firewalld=on,os=bullseye",
        "docker=19.03,firewalld=off,os=bullseye",
    ]
    assert all(r["judgement"] == "match" for r in reports)
    assert inventory.leftovers() == NOTHING
    assert not any(paths.labs_dir().iterdir())
