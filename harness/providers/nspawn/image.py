"""The nspawn base image: a Debian rootfs built once with debootstrap, then cached.

Docker and firewalld are installed here, at image time, not at provisioning
time: the lab has no route to a package mirror (nothing may leave the
machine), and a cell then costs seconds instead of a minute of apt. The
Debian recipe still checks and, given a mirror, would install them.

The cache folder is named by a hash of the recipe (suite, packages,
customisation version). A folder is used only when its manifest is present,
matches the key and every essential file is there with the recorded size;
anything else is an interrupted or damaged build and is rebuilt.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import time
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from harness import paths
from harness.errors import FwlabError, UsageError
from harness.util import die_with_parent, file_lock, kill_all, processes_using, remove_tree

SUITES = ("bullseye", "bookworm", "trixie", "sid")
#: Releases whose systemd has no cgroup v1 support: on a hybrid host nspawn must give
#: them the unified hierarchy (SYSTEMD_NSPAWN_UNIFIED_HIERARCHY=1).
NEEDS_UNIFIED_CGROUPS = ("sid",)
DEFAULT_SUITE = os.environ.get("FWLAB_SUITE", "bullseye")
MIRROR = os.environ.get("FWLAB_MIRROR", "http://deb.debian.org/debian")

PACKAGES = (
    "systemd", "systemd-sysv", "libpam-systemd", "dbus",  # without libpam-systemd
    "firewalld", "ipset",  # firewalld stays unconfigured; without ipset it complains
    "docker.io", "iptables", "nftables",
    "openssh-server", "busybox-static", "iproute2", "python3", "procps",
)  # fmt: skip
#: From trixie on, the docker command is a package of its own.
EXTRA_PACKAGES = {"trixie": ("docker-cli",), "sid": ("docker-cli",)}

#: Bump when customise() changes: it is part of the cache key.
CUSTOMISATION_VERSION = 4

#: Files a usable image must have; their sizes are recorded in the manifest.
ESSENTIAL = (
    "lib/systemd/systemd",
    "usr/sbin/dockerd",
    "usr/bin/containerd",
    "usr/bin/docker",
    "usr/sbin/firewalld",
    "usr/bin/firewall-cmd",
    "usr/sbin/sshd",
    "usr/sbin/xtables-monitor",
    "usr/sbin/nft",
    "usr/bin/python3",
    "etc/fwlab-image.json",
)

SSHD_CONFIG = """\
# fwlab: key-only root login; the lab has no DNS for reverse lookups.
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
ChallengeResponseAuthentication no
UseDNS no
"""

# Inside nspawn the cgroup v1 controller mounts are read-only; dockerd needs
# them writable. A plain `remount,rw` says "busy"; remounting the bind works.
CGROUP_RW_UNIT = """\
[Unit]
Description=fwlab: make cgroup controllers writable for dockerd
DefaultDependencies=no
Before=sysinit.target containerd.service docker.service
ConditionVirtualization=container

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/bin/sh -c 'for d in /sys/fs/cgroup/*/; do \
mount -o remount,bind,rw "$d" "$d" || true; done'

[Install]
WantedBy=sysinit.target
"""

# Timers and units that only cost time or try to reach the network.
MASKED_UNITS = (
    "apt-daily.timer", "apt-daily-upgrade.timer", "apt-daily.service",
    "apt-daily-upgrade.service", "e2scrub_all.timer", "e2scrub_reap.service",
    "fstrim.timer", "man-db.timer", "systemd-timesyncd.service", "console-getty.service",
    "getty@tty1.service", "systemd-networkd-wait-online.service",
)  # fmt: skip


@dataclass(frozen=True)
class ImageRecipe:
    suite: str = DEFAULT_SUITE
    packages: tuple[str, ...] = ()  # default: PACKAGES and the release's EXTRA_PACKAGES
    customisation: int = CUSTOMISATION_VERSION

    def __post_init__(self) -> None:
        if self.suite not in SUITES:
            raise UsageError(f"unknown OS release {self.suite!r} (known: {', '.join(SUITES)})")
        if not self.packages:
            object.__setattr__(self, "packages", PACKAGES + EXTRA_PACKAGES.get(self.suite, ()))

    @property
    def key(self) -> str:
        blob = json.dumps(
            {"suite": self.suite, "packages": sorted(self.packages), "v": self.customisation},
            sort_keys=True,
        )
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    @property
    def folder(self) -> Path:
        return paths.image_cache() / f"{self.suite}-{self.key}"

    @property
    def rootfs(self) -> Path:
        return self.folder / "rootfs"

    @property
    def manifest_path(self) -> Path:
        return self.folder / "manifest.json"


def load_manifest(path: Path) -> tuple[dict[str, Any], str | None]:
    """A cache entry's manifest (written last, so it proves a finished build), or why not."""
    if not path.exists():
        return {}, "no manifest (never built, or the build was interrupted)"
    try:
        return json.loads(path.read_text()), None
    except (OSError, ValueError) as exc:
        return {}, f"unreadable manifest: {exc}"


def problems(recipe: ImageRecipe) -> list[str]:
    """Why the cached image for recipe can't be used; empty when it can."""
    manifest, unusable = load_manifest(recipe.manifest_path)
    if unusable:
        return [unusable]
    if manifest.get("key") != recipe.key:
        return [f"manifest key {manifest.get('key')!r} is not {recipe.key!r}"]
    found = []
    for rel, size in manifest.get("files", {}).items():
        path = recipe.rootfs / rel
        if not path.is_file():
            found.append(f"{rel} is missing")
        elif path.stat().st_size != size:
            found.append(f"{rel} has size {path.stat().st_size}, expected {size}")
    if set(manifest.get("files", {})) != set(ESSENTIAL):
        found.append("manifest does not list the essential files")
    return found


def is_ready(recipe: ImageRecipe) -> bool:
    return not problems(recipe)


def cache_lock() -> AbstractContextManager[None]:
    """One builder at a time; others wait and then find the image ready."""
    return file_lock(paths.image_cache() / ".lock")


def ensure(
    recipe: ImageRecipe | None = None,
    progress: Callable[[str], None] | None = None,
    force: bool = False,
) -> ImageRecipe:
    """Return a ready image for recipe, building it first if needed."""
    recipe = recipe or ImageRecipe()
    say = progress or (lambda _msg: None)
    if not force and is_ready(recipe):
        return recipe
    with cache_lock():
        found = problems(recipe)
        if not force and not found:
            return recipe  # another process built it while we waited
        if recipe.folder.exists():
            say(f"discarding cached image: {'; '.join(found) or 'rebuild requested'}")
            remove_tree(recipe.folder)
        build(recipe, say)
    return recipe


def remove_stale_builds() -> list[str]:
    """Staging folders of image builds whose process is gone (killed mid-build)."""
    removed = []
    cache = paths.image_cache()
    for staging in cache.glob("*.building-*") if cache.is_dir() else []:
        pid = staging.name.rsplit("-", 1)[-1]
        if pid.isdigit() and not Path(f"/proc/{pid}").exists():
            kill_all(processes_using(staging))  # e.g. a dpkg debootstrap had started
            remove_tree(staging)
            removed.append(f"unfinished image build {staging}")
    return removed


def bootstrap_tool() -> str:
    """mmdebstrap (apt underneath, about twice as fast) where installed, else debootstrap."""
    for tool in ("mmdebstrap", "debootstrap"):
        if shutil.which(tool):
            return tool
    raise FwlabError("neither mmdebstrap nor debootstrap is installed (run ./scripts/run setup)")


def build(recipe: ImageRecipe, say: Callable[[str], None]) -> None:
    tool = bootstrap_tool()
    staging = recipe.folder.with_name(recipe.folder.name + f".building-{os.getpid()}")
    if staging.exists():
        remove_tree(staging)
    staging.mkdir(parents=True)
    rootfs = staging / "rootfs"
    started = time.monotonic()
    try:
        _bootstrap(tool, recipe, rootfs, say)
        say("customising the image")
        customise(rootfs, recipe)
        files = {rel: (rootfs / rel).stat().st_size for rel in ESSENTIAL}
        manifest = {
            "key": recipe.key,
            "suite": recipe.suite,
            "packages": list(recipe.packages),
            "customisation": recipe.customisation,
            "files": files,
            "build_seconds": round(time.monotonic() - started, 1),
        }
        (staging / "manifest.json").write_text(json.dumps(manifest, indent=2))
        staging.rename(recipe.folder)
    finally:
        if staging.exists():
            kill_all(processes_using(staging))
            remove_tree(staging)
    say(f"image {recipe.folder.name} ready in {time.monotonic() - started:.0f} s")


def bootstrap_command(tool: str, recipe: ImageRecipe, rootfs: Path) -> list[str]:
    cmd = [tool, "--variant=minbase", f"--include={','.join(recipe.packages)}"]
    if tool == "mmdebstrap":
        # Signatures are checked, freshness is not: sid's and testing's Release files
        # expire within a week, so a frozen mirror or snapshot.debian.org (the way to
        # rebuild a lab as it was) would otherwise be refused. debootstrap never checks it.
        cmd.append('--aptopt=Acquire::Check-Valid-Until "false"')
    return [*cmd, recipe.suite, str(rootfs), MIRROR]


def _bootstrap(tool: str, recipe: ImageRecipe, rootfs: Path, say: Callable[[str], None]) -> None:
    cmd = bootstrap_command(tool, recipe, rootfs)
    say(f"bootstrapping {recipe.suite} with {tool} ({len(recipe.packages)} packages)")
    log_tail: list[str] = []
    proc = subprocess.Popen(
        cmd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        preexec_fn=die_with_parent,  # a killed build leaves only its staging folder (gc)
    )
    assert proc.stdout is not None
    try:
        for line in proc.stdout:
            line = line.rstrip()
            log_tail = (log_tail + [line])[-20:]
            if line.startswith(("I: Retrieving", "I: Validating", "I: Extracting")):
                continue  # hundreds of these; the stage lines below carry the progress
            if line.startswith(("I: ", "W: ", "E: ")):
                say(line[3:])
        proc.wait(timeout=1800)
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    if proc.returncode != 0:
        raise FwlabError(f"{tool} failed ({proc.returncode}): " + " | ".join(log_tail[-3:]))


def customise(rootfs: Path, recipe: ImageRecipe) -> None:
    etc = rootfs / "etc"
    # Every lab resolves through the wan namespace's resolver, never the host's.
    (etc / "resolv.conf").unlink(missing_ok=True)
    (etc / "resolv.conf").write_text("nameserver 10.0.2.3\n")
    (etc / "hostname").write_text("lab\n")
    # Host keys are made per lab, so each lab's key can be pinned.
    for key in (etc / "ssh").glob("ssh_host_*"):
        key.unlink()
    (etc / "ssh" / "sshd_config.d").mkdir(exist_ok=True)
    (etc / "ssh" / "sshd_config.d" / "fwlab.conf").write_text(SSHD_CONFIG)
    units = etc / "systemd" / "system"
    (units / "fwlab-cgroup-rw.service").write_text(CGROUP_RW_UNIT)
    wants = units / "sysinit.target.wants"
    wants.mkdir(exist_ok=True)
    link = wants / "fwlab-cgroup-rw.service"
    link.unlink(missing_ok=True)
    link.symlink_to("/etc/systemd/system/fwlab-cgroup-rw.service")
    # Labs restart docker often (provisioning, then a student or `lab solve`); systemd's
    # default start limit (3 in 60 s on Debian's unit) would refuse the fourth restart.
    limit = units / "docker.service.d"
    limit.mkdir(exist_ok=True)
    (limit / "lab-start-limit.conf").write_text("[Unit]\nStartLimitIntervalSec=0\n")
    for unit in MASKED_UNITS:
        target = units / unit
        target.unlink(missing_ok=True)
        target.symlink_to("/dev/null")
    # Keep the journal small and in memory: labs are short-lived.
    (etc / "systemd" / "journald.conf.d").mkdir(exist_ok=True)
    (etc / "systemd" / "journald.conf.d" / "fwlab.conf").write_text(
        "[Journal]\nStorage=volatile\nRuntimeMaxUse=16M\n"
    )
    (etc / "fwlab-image.json").write_text(
        json.dumps({"suite": recipe.suite, "key": recipe.key}) + "\n"
    )
    # apt caches are dead weight in every clone.
    for cached in (rootfs / "var" / "cache" / "apt" / "archives").glob("*.deb"):
        cached.unlink()
