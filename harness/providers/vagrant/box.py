"""`fwlab box build`: a Debian Vagrant box for the libvirt provider, made locally.

The box is the nspawn image (same debootstrap rootfs, same Docker and firewalld)
plus what a VM and Vagrant need: a kernel, sudo, rsync, apparmor (Debian's kernel
enables it and dockerd then needs its parser), a `vagrant` user with Vagrant's
insecure key, DHCP by systemd-networkd, and per-VM SSH host keys and machine-id.
Nothing is downloaded from Vagrant Cloud: the extra packages come from the same
Debian mirror as the image, once, and the box is then cached.

The disk has no partition table and no boot loader: the box's own Vagrantfile
boots the kernel and initrd shipped next to box.img (libvirt direct kernel boot).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tarfile
import time
from pathlib import Path
from typing import Callable

from harness import paths
from harness.errors import FwlabError
from harness.providers.nspawn import image
from harness.util import die_with_parent, remove_tree, run

#: Bump when the box recipe below changes: it is part of the cache key.
BOX_VERSION = 1
PACKAGES = ("linux-image-amd64", "sudo", "rsync", "apparmor")
DISK_GB = 6
INSECURE_KEY = Path("/usr/share/rubygems-integration/all/gems/vagrant-2.3.4/keys/vagrant.pub")

# Merged by Vagrant under the project's Vagrantfile: what only this box needs.
BOX_VAGRANTFILE = """\
# fwlab's locally built box: boot the kernel shipped with it (no boot loader on disk).
Vagrant.configure("2") do |config|
  config.vm.provider :libvirt do |libvirt|
    libvirt.kernel = File.join(__dir__, "vmlinuz")
    libvirt.initrd = File.join(__dir__, "initrd.img")
    libvirt.cmd_line = "root=/dev/vda rw console=ttyS0 quiet"
  end
end
"""

NETWORKD = "[Match]\nName=en* eth*\n\n[Network]\nDHCP=ipv4\n"

# Each VM makes its own host keys on first boot (the box ships none).
HOSTKEYS_UNIT = """\
[Unit]
Description=fwlab: SSH host keys for this VM
Before=ssh.service
ConditionPathExists=!/etc/ssh/ssh_host_ed25519_key

[Service]
Type=oneshot
ExecStart=/usr/bin/ssh-keygen -A

[Install]
WantedBy=multi-user.target
"""


def box_name(suite: str) -> str:
    return f"fwlab/{suite}"


def vagrant_home() -> Path:
    return paths.home() / "vagrant" / "home"


def _stamp(suite: str) -> Path:
    return paths.home() / "vagrant" / f"box-{suite}.json"


def key(recipe: image.ImageRecipe) -> str:
    blob = json.dumps({"image": recipe.key, "box": BOX_VERSION, "packages": PACKAGES})
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def vagrant_env() -> dict[str, str]:
    """The environment of every vagrant command fwlab runs: its own VAGRANT_HOME, and
    nothing that would reach out to the network (update and version checks)."""
    return {
        **os.environ,
        "VAGRANT_HOME": str(vagrant_home()),
        "VAGRANT_CHECKPOINT_DISABLE": "1",
        "VAGRANT_BOX_UPDATE_CHECK_DISABLE": "1",
    }


def is_ready(suite: str = image.DEFAULT_SUITE) -> bool:
    recipe = image.ImageRecipe(suite=suite)
    try:
        stamp = json.loads(_stamp(suite).read_text())
    except (OSError, ValueError):
        return False
    box_dir = vagrant_home() / "boxes" / box_name(suite).replace("/", "-VAGRANTSLASH-")
    return stamp.get("key") == key(recipe) and any(box_dir.glob("*/libvirt/box.img"))


def ensure(
    suite: str = image.DEFAULT_SUITE,
    progress: Callable[[str], None] | None = None,
    force: bool = False,
) -> str:
    """Build and add the box unless the cached one matches; return its name."""
    say = progress or (lambda _msg: None)
    if not force and is_ready(suite):
        return box_name(suite)
    if not INSECURE_KEY.exists() or shutil.which("vagrant") is None:
        raise FwlabError("vagrant is not installed (run ./scripts/run setup --vagrant)")
    recipe = image.ensure(image.ImageRecipe(suite=suite), progress=say)
    started = time.monotonic()
    work = paths.home() / "vagrant" / f"box-build-{os.getpid()}"
    remove_stale_builds()
    work.mkdir(parents=True)
    try:
        root = work / "root"
        say(f"copying image {recipe.folder.name}")
        run(["cp", "-a", "--reflink=auto", str(recipe.rootfs), str(root)], timeout=600)
        say(f"installing {', '.join(PACKAGES)} (Debian mirror {image.MIRROR})")
        install_packages(root)
        say("making the rootfs a Vagrant box")
        customise(root)
        say(f"writing the {DISK_GB} GB disk (ext4, qcow2)")
        box = _pack(root, work)
        say(f"vagrant box add {box_name(suite)}")
        run(
            ["vagrant", "box", "add", "--force", "--name", box_name(suite), str(box)],
            timeout=900,
            env=vagrant_env(),
        )
        _stamp(suite).write_text(json.dumps({"key": key(recipe), "image": recipe.key}))
    finally:
        remove_tree(work)
    say(f"box {box_name(suite)} ready in {time.monotonic() - started:.0f} s")
    return box_name(suite)


def remove_stale_builds() -> list[str]:
    """Build folders whose process is gone (a killed `box build`)."""
    removed = []
    for work in (paths.home() / "vagrant").glob("box-build-*"):
        pid = work.name.rsplit("-", 1)[-1]
        if pid.isdigit() and not Path(f"/proc/{pid}").exists():
            remove_tree(work)
            removed.append(f"unfinished box build {work}")
    return removed


def install_packages(root: Path, packages: tuple[str, ...] = PACKAGES) -> None:
    # A private mount namespace: /proc, /dev, /sys and resolv.conf are mounted for apt
    # and vanish with it, even if this process is killed.
    script = f"""
set -e
R={root}
mount -t proc proc $R/proc
mount --rbind /dev $R/dev
mount -t sysfs sys $R/sys
mount --bind /etc/resolv.conf $R/etc/resolv.conf
export DEBIAN_FRONTEND=noninteractive
chroot $R apt-get update -q
chroot $R apt-get install -y -q --no-install-recommends {" ".join(packages)}
chroot $R apt-get clean
"""
    proc = subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "sh", "-c", script],
        capture_output=True,
        text=True,
        timeout=1200,
        preexec_fn=die_with_parent,
    )
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        raise FwlabError(f"installing {' '.join(packages)} failed: {' | '.join(tail)}")


def customise(root: Path) -> None:
    etc = root / "etc"
    run(["chroot", str(root), "useradd", "-m", "-s", "/bin/bash", "vagrant"])
    (etc / "sudoers.d" / "vagrant").write_text("vagrant ALL=(ALL) NOPASSWD: ALL\n")
    (etc / "sudoers.d" / "vagrant").chmod(0o440)
    ssh_dir = root / "home" / "vagrant" / ".ssh"
    ssh_dir.mkdir(mode=0o700)
    (ssh_dir / "authorized_keys").write_text(INSECURE_KEY.read_text())
    (ssh_dir / "authorized_keys").chmod(0o600)
    run(["chroot", str(root), "chown", "-R", "vagrant:vagrant", "/home/vagrant/.ssh"])
    (etc / "fstab").write_text("/dev/vda / ext4 defaults 0 1\n")
    (etc / "systemd" / "network" / "50-dhcp.network").write_text(NETWORKD)
    units = etc / "systemd" / "system"
    (units / "fwlab-ssh-hostkeys.service").write_text(HOSTKEYS_UNIT)
    run(["systemctl", f"--root={root}", "enable", "systemd-networkd", "fwlab-ssh-hostkeys"])
    # An empty machine-id: each VM makes its own, so DHCP hands each its own address.
    (etc / "machine-id").write_text("")
    (etc / "hostname").write_text("lab\n")


def _pack(root: Path, work: Path) -> Path:
    boot = root / "boot"
    kernels = sorted(boot.glob("vmlinuz-*"))
    if not kernels:
        raise FwlabError("the box has no kernel in /boot")
    version = kernels[-1].name.removeprefix("vmlinuz-")
    out = work / "box"
    out.mkdir()
    shutil.copy(boot / f"vmlinuz-{version}", out / "vmlinuz")
    shutil.copy(boot / f"initrd.img-{version}", out / "initrd.img")
    raw = work / "disk.raw"
    # mkfs.ext4 -d fills the filesystem from a folder: no loop mount, nothing to unmount.
    run(["mkfs.ext4", "-q", "-F", "-L", "fwlab-root", "-d", str(root), str(raw), f"{DISK_GB}G"],
        timeout=600)  # fmt: skip
    run(["qemu-img", "convert", "-O", "qcow2", str(raw), str(out / "box.img")], timeout=600)
    raw.unlink()
    (out / "metadata.json").write_text(
        json.dumps({"provider": "libvirt", "format": "qcow2", "virtual_size": DISK_GB})
    )
    (out / "Vagrantfile").write_text(BOX_VAGRANTFILE)
    box = work / "fwlab.box"
    with tarfile.open(box, "w") as tar:  # uncompressed: vagrant reads it at once
        for item in sorted(out.iterdir()):
            tar.add(item, arcname=item.name)
    return box
