"""The vagrant provider: the repository's Vagrantfile, driven by python-vagrant.

Where VirtualBox is installed, the machine is the design card's: VirtualBox, a
CentOS 8 box, NAT. Elsewhere (this machine, Linux CI) it is vagrant-libvirt on
qemu with fwlab's own Debian box, and libvirt runs confined to a network
namespace of ours (libvirt.py). Either way the provider's product is the
`vagrant ssh-config` entry, which feeds the same Fabric recipes and the same
testinfra checks as every other machine.

Each lab has its own Vagrant state folder (VAGRANT_DOTFILE_PATH), so one
Vagrantfile serves many labs. Snapshots let a re-run skip provisioning.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import vagrant

from harness import paths
from harness.errors import FwlabError, UsageError
from harness.models import Layer
from harness.providers.base import Machine, Progress, Provider, Provisioning, check_name
from harness.providers.nspawn import image
from harness.providers.state import StateFile, load_all, owner
from harness.providers.vagrant import box, libvirt
from harness.ssh import SshEndpoint

VAGRANTFILE_DIR = Path(__file__).resolve().parents[3]  # the repository's root
DEFAULT_BOX = "centos/8"  # the design card's machine (VirtualBox)
BOOT_TIMEOUT = int(os.environ.get("FWLAB_VAGRANT_BOOT_TIMEOUT", "600"))  # TCG boots slowly
# A TCG guest runs commands 4 to 20 times slower than the host: probes get more time.
TCG_TIME_SCALE = 6.0


def labs_dir() -> Path:
    return paths.home() / "vagrant" / "labs"


def backend() -> str:
    """Vagrant's own provider: VirtualBox where it is installed, else libvirt."""
    chosen = os.environ.get("FWLAB_VAGRANT_PROVIDER")
    if chosen:
        if chosen not in ("virtualbox", "libvirt"):
            raise UsageError(
                f"FWLAB_VAGRANT_PROVIDER must be virtualbox or libvirt, not {chosen!r}"
            )
        return chosen
    return "virtualbox" if shutil.which("VBoxManage") else "libvirt"


class LabState(StateFile):
    """One vagrant lab's state file: its backend, box and snapshots."""

    def __init__(self, name: str):
        super().__init__(name, labs_dir())

    @property
    def log(self) -> Path:
        return self.dir / "vagrant.log"


class VagrantProvider(Provider):
    name = "vagrant"

    def __init__(self) -> None:
        self.backend = backend()
        self.driver = os.environ.get("FWLAB_LIBVIRT_DRIVER", "qemu")
        if self.backend == "libvirt" and self.driver == "qemu":
            self.time_scale = TCG_TIME_SCALE
            self.max_parallel = 1  # each emulated VM wants both cores

    def box_for(self, release: str | None) -> str:
        """FWLAB_BOX if set; else VirtualBox's centos/8, or fwlab's own Debian box on libvirt."""
        if os.environ.get("FWLAB_BOX"):
            return os.environ["FWLAB_BOX"]
        if self.backend == "virtualbox":
            return DEFAULT_BOX
        return box.box_name(release or image.DEFAULT_SUITE)

    def machine_layer(self, name: str, stands_for: str) -> Layer:
        state = LabState(name)
        vm_box, backend_name = state.data.get("box", "?"), state.data.get("backend", self.backend)
        kind = f"{backend_name} VM (box {vm_box}{', emulated' if self.time_scale > 1 else ''})"
        if backend_name == "virtualbox" and vm_box == DEFAULT_BOX:
            return Layer(True, f"a VirtualBox VM, box {vm_box}, on NAT")
        if "centos" not in stands_for.lower() and vm_box.startswith("fwlab/"):
            release = vm_box.split("/", 1)[1]
            if release in stands_for:  # a Debian VM of the release the lab is about
                return Layer(True, f"a {kind} running Debian {release}")
        return Layer(False, f"a {kind} stands in for {stands_for}")

    def outside(self, name: str) -> str:
        """libvirt's namespace: on the VMs' NAT network, outside every VM."""
        return f"netns://{libvirt.NETNS}" if self.backend == "libvirt" else ""

    # -- python-vagrant -------------------------------------------------------
    def _env(self, state: LabState) -> dict[str, str]:
        env = {
            **box.vagrant_env(),
            "VAGRANT_DOTFILE_PATH": str(state.dir / "dot"),
            "VAGRANT_DEFAULT_PROVIDER": self.backend,
            "FWLAB_LAB": state.name,
            "FWLAB_BOX": state.data.get("box", DEFAULT_BOX),
            "FWLAB_BOOT_TIMEOUT": str(BOOT_TIMEOUT),
        }
        if self.backend == "libvirt":
            env.update(
                FWLAB_LIBVIRT_DRIVER=self.driver,
                FWLAB_LIBVIRT_NETWORK=libvirt.NETWORK,
                FWLAB_LIBVIRT_NETWORK_ADDRESS=libvirt.NETWORK_ADDRESS,
                FWLAB_LIBVIRT_POOL=libvirt.POOL,
                # The VM is reachable only inside libvirt's namespace; so is its SSH.
                FWLAB_SSH_PROXY=f"ip netns exec {libvirt.NETNS} busybox nc %h %p",
            )
        return env

    def _vagrant(self, state: LabState) -> vagrant.Vagrant:
        return vagrant.Vagrant(
            root=str(VAGRANTFILE_DIR),
            env=self._env(state),
            out_cm=vagrant.make_file_cm(state.log),
            err_cm=vagrant.make_file_cm(state.log),
        )

    # -- up -------------------------------------------------------------------
    def up(
        self,
        name: str,
        progress: Progress | None = None,
        ephemeral: bool = False,
        release: str | None = None,
        provisioned: Provisioning | None = None,
    ) -> Machine:
        """With `provisioned`, the machine returns to its snapshot of that state if it has
        one; else it is provisioned and the snapshot saved (minutes saved on a slow VM)."""
        say = progress or (lambda _msg: None)
        check_name(name)
        self._preflight()
        vm_box = self.box_for(release)
        state = self._claim(name, ephemeral, vm_box)
        started = time.monotonic()
        try:
            if self.backend == "libvirt":
                box.ensure(release or image.DEFAULT_SUITE, progress=say)
                libvirt.ensure_running(say)
            say(f"vagrant up ({self.backend}, box {vm_box})")
            v = self._vagrant(state)
            try:
                for line in v.up(provider=self.backend, stream_output=True):
                    _log(state.log, line)
                    if line.startswith("==> ") and "Progress:" not in line:
                        say(line.strip())
            except subprocess.CalledProcessError as exc:
                raise FwlabError(
                    f"vagrant up failed ({exc.returncode}):\n{_tail(state.log)}"
                ) from exc
            endpoint = SshEndpoint.parse(v.ssh_config(vm_name=name), alias=name)
            endpoint.write(state.ssh_config_path)
            state.data["status"] = "running"
            state.data["up_seconds"] = round(time.monotonic() - started, 1)
            state.save()
            if provisioned is not None:
                self._provisioned(state, provisioned, say)
        except BaseException:
            say(f"vagrant up of {name} did not finish; destroying it")
            try:
                self._destroy(state)
            except FwlabError as cleanup:  # report it, but the first failure is the news
                say(f"cleanup failed too: {cleanup} (fwlab gc --provider vagrant retries)")
            raise
        return self.status(name)

    def _preflight(self) -> None:
        if shutil.which("vagrant") is None:
            raise UsageError("vagrant is not installed: run ./scripts/run setup --vagrant")
        if self.backend == "libvirt":
            if os.geteuid() != 0:
                raise UsageError("the vagrant provider on libvirt needs root (namespaces)")
            libvirt.check_host_tools()

    def _claim(self, name: str, ephemeral: bool, vm_box: str) -> LabState:
        labs_dir().mkdir(parents=True, exist_ok=True)
        state = LabState(name)
        try:
            state.dir.mkdir()
        except FileExistsError:
            raise UsageError(f"lab name {name!r} is already taken") from None
        state.data = {
            "made_by": "fwlab",
            "provider": self.name,
            "backend": self.backend,
            "box": vm_box,
            "status": "creating",
            "ephemeral": ephemeral,
            "owner": owner(),
            "snapshots": [],
        }
        state.save()
        return state

    def keep(self, name: str) -> None:
        state = LabState(name)
        state.data["ephemeral"] = False
        state.save()

    # -- down -----------------------------------------------------------------
    def down(self, name: str, progress: Progress | None = None) -> list[str]:
        check_name(name)
        state = LabState(name)
        if not state.file.exists():
            raise UsageError(f"no vagrant lab named {name!r} (fwlab ls --provider vagrant)")
        return self._destroy(state)

    def _destroy(self, state: LabState) -> list[str]:
        removed: list[str] = []
        if (state.dir / "dot").exists():
            if state.data.get("backend") == "libvirt":
                libvirt.ensure_running()  # vagrant destroy needs it; stopped below if idle
            try:
                self._vagrant(state).destroy()
                removed.append(f"vagrant machine {state.name}")
            except subprocess.CalledProcessError as exc:
                raise FwlabError(
                    f"vagrant destroy {state.name} failed ({exc.returncode}); its state "
                    f"stays in {state.dir}:\n{_tail(state.log)}"
                ) from exc
        if state.dir.exists():
            shutil.rmtree(state.dir)
            removed.append(f"state {state.dir}")
        removed += self._stop_libvirt_if_idle()
        return removed

    def _stop_libvirt_if_idle(self) -> list[str]:
        if libvirt.is_running() and not self._states() and not libvirt.domains():
            return libvirt.stop()
        return []

    # -- snapshots --------------------------------------------------------------
    def _provisioned(self, state: LabState, provisioned: Provisioning, say: Progress) -> None:
        """Return to the snapshot of this state, or provision and save one."""
        tag = f"fwlab-{provisioned.key}"
        v = self._vagrant(state)
        if tag in state.data.get("snapshots", []):
            say(f"restoring snapshot {tag}")
            v._call_vagrant_command(["snapshot", "restore", "--no-provision", state.name, tag])
            return
        provisioned.apply(self.status(state.name))
        say(f"saving snapshot {tag} (the next run of this cell restores it)")
        v.snapshot_save(tag)
        state.data["snapshots"] = sorted({*state.data.get("snapshots", []), tag})
        state.save()

    # -- status / list / gc -----------------------------------------------------
    def status(self, name: str) -> Machine:
        state = LabState(name)
        if not state.file.exists():
            return Machine(name=name, provider=self.name, status="absent")
        status = state.data.get("status", "unknown")
        if status == "running" and not self._vm_running(state):
            status = "broken"
        ssh = None
        if status == "running" and state.ssh_config_path.exists():
            ssh = SshEndpoint.parse(state.ssh_config_path.read_text(), alias=name)
        return Machine(
            name=name,
            provider=self.name,
            status=status,
            ssh=ssh,
            ssh_config_path=state.ssh_config_path,
            details={
                "ssh": f"{ssh.hostname}:{ssh.port}" if ssh else "",
                "backend": state.data.get("backend", ""),
                "box": state.data.get("box", ""),
            },
        )

    def _vm_running(self, state: LabState) -> bool:
        if state.data.get("backend") == "libvirt":
            # Fast and exact: the domain's state (vagrant status takes seconds).
            if not libvirt.is_running():
                return False
            return libvirt.virsh("domstate", f"fwlab-{state.name}", check=False).strip() == (
                "running"
            )
        try:
            found = self._vagrant(state).status(vm_name=state.name)
        except subprocess.CalledProcessError:
            return False
        return bool(found) and found[0].state == vagrant.Vagrant.RUNNING

    def list(self) -> list[Machine]:
        return [self.status(s.name) for s in self._states()]

    def _states(self) -> list[LabState]:
        return load_all(labs_dir(), LabState)

    def gc(self, progress: Progress | None = None) -> list[str]:
        say = progress or (lambda _msg: None)
        removed: list[str] = []
        for state in self._states():
            why = state.abandoned(self._vm_running(state))
            if why:
                say(f"vagrant lab {state.name}: {why}")
                removed += self._destroy(state)
        removed += box.remove_stale_builds()
        removed += self._stop_libvirt_if_idle()
        return removed


def _log(path: Path, line: str) -> None:
    with open(path, "a") as f:
        f.write(line.replace("\r", "\n") if "Progress:" not in line else "")


def _tail(path: Path, lines: int = 15) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no vagrant log)"
    return "\n".join(ln for ln in text.splitlines()[-lines:])
