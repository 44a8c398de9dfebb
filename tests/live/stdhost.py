"""A standard host, as users and CI runners have one, in a VM: Debian 11 (glibc 2.31,
systemd 247 as PID 1, a unified cgroup v2 hierarchy), booted by qemu (TCG) from a disk
made like fwlab's Vagrant box, with what fwlab's setup installs already on it.

fwlab goes in offline, the way the README says, with what it needs carried in on a second,
read-only disk: the repository, a wheelhouse for the guest's Python (FWLAB_WHEELS), and
the cached base image (no mirror is reachable from the guest). The VM runs in a network
namespace of its own with qemu's user networking restricted to the one forwarded SSH
port: nothing leaves the machine.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import tomllib

from harness import paths
from harness.providers.nspawn import image
from harness.providers.vagrant import box
from harness.ssh import SshEndpoint
from harness.ssh import run as ssh_run
from harness.util import die_with_parent, file_lock, remove_tree, run, stop_process, wait_for

REPO = Path(__file__).resolve().parents[2]
RELEASE = "bullseye"  # glibc 2.31: older than the 2.34 that broke the host-built probe image
GUEST_PYTHON = "3.9"
#: What `./scripts/run setup` would install with apt, and a kernel and sudo for a VM.
PACKAGES = (
    "linux-image-amd64", "sudo", "kmod", "udev", "e2fsprogs", "apparmor",
    "mmdebstrap", "debootstrap", "systemd-container", "nftables", "iptables", "iproute2",
    "dnsmasq-base", "busybox-static", "openssh-client", "python3-venv", "ca-certificates",
)  # fmt: skip
DISK_GB = 16
BOOT_TIMEOUT = 600  # seconds: an emulated boot is slow on a busy runner
VERSION = 2
INSECURE_KEY = box.INSECURE_KEY.with_name("vagrant")  # Vagrant's insecure private key


def folder() -> Path:
    return paths.home() / "stdhost"


def _key() -> str:
    recipe = image.ImageRecipe(suite=RELEASE)
    blob = json.dumps(
        {"image": recipe.key, "packages": PACKAGES, "box": box.BOX_VERSION, "v": VERSION}
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


def disk(say) -> Path:  # type: ignore[no-untyped-def]
    """The VM's system disk (qcow2), its kernel and initrd: built once, then cached."""
    out = folder() / f"{RELEASE}-{_key()}"
    if (out / "done").exists():
        return out
    folder().mkdir(parents=True, exist_ok=True)
    with file_lock(folder() / ".lock"):
        if (out / "done").exists():
            return out
        recipe = image.ensure(image.ImageRecipe(suite=RELEASE), say)
        work = folder() / f"build-{os.getpid()}"
        remove_tree(work) if work.exists() else None
        root = work / "root"
        work.mkdir(parents=True)
        try:
            say("standard host: copying the image")
            run(["cp", "-a", "--reflink=auto", str(recipe.rootfs), str(root)], timeout=900)
            say(f"standard host: installing {len(PACKAGES)} packages")
            box.install_packages(root, PACKAGES)
            box.customise(root)
            # A CI runner's Docker may run; its firewall does not (ufw inactive).
            run(["systemctl", f"--root={root}", "disable", "firewalld"], check=False)
            (root / "etc" / "fstab").write_text("/dev/vda / ext4 defaults 0 1\n")
            (root / "etc" / "hosts").write_text("127.0.0.1 localhost\n127.0.1.1 lab\n")
            boot = root / "boot"
            kernel = sorted(boot.glob("vmlinuz-*"))[-1]
            version = kernel.name.removeprefix("vmlinuz-")
            staged = work / "out"
            staged.mkdir()
            shutil.copy(kernel, staged / "vmlinuz")
            shutil.copy(boot / f"initrd.img-{version}", staged / "initrd.img")
            raw = work / "disk.raw"
            run(["mkfs.ext4", "-q", "-F", "-d", str(root), str(raw), "6G"], timeout=900)
            run(
                ["qemu-img", "convert", "-O", "qcow2", str(raw), str(staged / "disk.qcow2")],
                timeout=900,
            )
            (staged / "done").write_text("")
            remove_tree(out) if out.exists() else None
            staged.rename(out)
        finally:
            remove_tree(work)
    return out


def wheelhouse(dest: Path) -> Path:
    """fwlab's Python packages for the guest's Python, as wheels. pip download judges
    dependency markers by the Python running it, not the guest's, so the closure is taken
    here: each wheel's requirements, their markers evaluated for the guest's Python."""
    from packaging.markers import default_environment
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    pending = [*project["dependencies"], *project["optional-dependencies"]["dev"],
               "setuptools>=64", "wheel", "pip"]  # fmt: skip
    env = {**default_environment(), "python_version": GUEST_PYTHON,
           "python_full_version": f"{GUEST_PYTHON}.2"}  # fmt: skip
    have: set[str] = set()
    while pending:
        wanted = []
        for text in pending:
            req = Requirement(text)
            if req.marker is not None and not req.marker.evaluate({**env, "extra": ""}):
                continue
            if canonicalize_name(req.name) not in have:
                have.add(canonicalize_name(req.name))
                wanted.append(str(req).split(";")[0].replace(req.name + "[", req.name + "[", 1))
        if not wanted:
            break
        before = set(dest.glob("*.whl")) if dest.exists() else set()
        run([
            sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--dest", str(dest),
            "--only-binary=:all:", f"--python-version={GUEST_PYTHON}", "--implementation=cp",
            "--platform=manylinux2014_x86_64", "--platform=manylinux_2_17_x86_64",
            "--platform=manylinux_2_28_x86_64", "--platform=any", *wanted,
        ], timeout=900)  # fmt: skip
        pending = []
        for wheel in set(dest.glob("*.whl")) - before:
            pending += _requirements(wheel, env)
    return dest


def _requirements(wheel: Path, env: dict[str, str]) -> list[str]:
    """A wheel's Requires-Dist whose markers hold for the guest (extras: none asked)."""
    import zipfile

    from packaging.requirements import Requirement

    with zipfile.ZipFile(wheel) as archive:
        name = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
        metadata = archive.read(name).decode(errors="replace")
    found = []
    for line in metadata.splitlines():
        if line.startswith("Requires-Dist:"):
            req = Requirement(line.split(":", 1)[1].strip())
            if req.marker is None or req.marker.evaluate({**env, "extra": ""}):
                found.append(str(req))
    return found


def payload(work: Path, say) -> Path:  # type: ignore[no-untyped-def]
    """A read-only disk with the repository, the wheelhouse and the cached base image."""
    content = work / "payload"
    repo = content / "fwlab"
    files = subprocess.run(
        ["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True
    ).stdout
    for name in filter(None, files.decode().split("\0")):
        target = repo / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if (REPO / name).exists():
            shutil.copy2(REPO / name, target)
    say("standard host: a wheelhouse for Python " + GUEST_PYTHON)
    wheelhouse(content / "wheels")
    recipe = image.ImageRecipe(suite=RELEASE)
    (content / "images").mkdir()
    run(
        [
            "cp",
            "-a",
            "--reflink=auto",
            str(recipe.folder),
            str(content / "images" / recipe.folder.name),
        ]
    )
    raw = work / "payload.raw"
    size_mb = int(
        subprocess.run(["du", "-sm", str(content)], capture_output=True, text=True).stdout.split()[
            0
        ]
    )
    run(
        ["mkfs.ext4", "-q", "-F", "-d", str(content), str(raw), f"{size_mb * 13 // 10 + 200}M"],
        timeout=900,
    )
    remove_tree(content)
    return raw


class Vm:
    """One standard-host VM: up() boots it and waits for SSH; down() ends it by PID."""

    def __init__(self, work: Path):
        self.work = work
        self.netns = f"fwlab-stdhost-{os.getpid() % 100000}"
        self.proc: subprocess.Popen[bytes] | None = None
        self.console = work / "console.log"
        key = work / "id_vagrant"
        shutil.copy(INSECURE_KEY, key)
        key.chmod(0o600)
        self.endpoint = SshEndpoint(
            "stdhost", "127.0.0.1", "vagrant", 2222, str(key),
            proxy_command=f"ip netns exec {self.netns} busybox nc 127.0.0.1 2222",
        )  # fmt: skip

    def up(self, system: Path, payload_disk: Path) -> None:
        overlay = self.work / "overlay.qcow2"
        run(["qemu-img", "create", "-q", "-f", "qcow2", "-b", str(system / "disk.qcow2"),
             "-F", "qcow2", str(overlay), f"{DISK_GB}G"])  # fmt: skip
        run(["ip", "netns", "add", self.netns])
        run(["ip", "-n", self.netns, "link", "set", "lo", "up"])
        command = [
            "ip", "netns", "exec", self.netns, "qemu-system-x86_64",
            "-machine", "q35", "-cpu", "max", "-m", "6144", "-smp", "2", "-display", "none",
            "-kernel", str(system / "vmlinuz"), "-initrd", str(system / "initrd.img"),
            "-append", "root=/dev/vda rw console=ttyS0",
            "-drive", f"file={overlay},if=virtio,format=qcow2",
            "-drive", f"file={payload_disk},if=virtio,format=raw,readonly=on",
            "-netdev", "user,id=n0,restrict=on,hostfwd=tcp:127.0.0.1:2222-:22",
            "-device", "virtio-net-pci,netdev=n0",
            "-serial", f"file:{self.console}",
        ]  # fmt: skip
        self.proc = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            preexec_fn=die_with_parent,
        )
        wait_for("SSH in the standard-host VM", self._answers, BOOT_TIMEOUT, interval=2)

    def _answers(self) -> bool:
        if self.proc is not None and self.proc.poll() is not None:
            raise RuntimeError(f"qemu exited ({self.proc.returncode}):\n{self.console_tail()}")
        return self.endpoint.answers(timeout=10)

    def sh(self, command: str, timeout: float = 1800) -> tuple[int, str]:
        """Run a command as root in the VM; (exit status, stdout and stderr)."""
        client = self.endpoint.connect(timeout=30)
        try:
            out = ssh_run(client, f"sudo sh -c {_quote(command)}", timeout=timeout)
        finally:
            client.close()
        return out.rc, out.stdout + out.stderr

    def console_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.console.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no console log)"

    def down(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            stop_process(self.proc.pid, _start(self.proc.pid), grace=10)
            self.proc.wait(timeout=30)
        run(["ip", "netns", "del", self.netns], check=False)


def _start(pid: int) -> float | None:
    from harness.util import proc_start_time

    return proc_start_time(pid)


def _quote(text: str) -> str:
    import shlex

    return shlex.quote(text)


def started(say) -> tuple[Vm, Path]:  # type: ignore[no-untyped-def]
    """Build (or reuse) the disks and boot the VM; the caller calls vm.down()."""
    system = disk(say)
    work = folder() / f"run-{os.getpid()}-{int(time.time())}"
    work.mkdir(parents=True)
    vm = Vm(work)
    try:
        vm.up(system, payload(work, say))
    except BaseException:
        vm.down()
        raise
    return vm, work
