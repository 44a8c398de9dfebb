"""The embedded default provider: a Debian system container booted with systemd-nspawn.

A lab is an overlayfs clone of the cached image, booted with systemd as PID 1
inside a network namespace behind a VirtualBox-NAT stand-in (see network.py).

Everything a lab owns is written to its state file *before* it is created, so
`down` and `gc` can always find and remove it, whatever point a run died at.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from contextlib import AbstractContextManager
from pathlib import Path

from harness import hostlimits, internet, paths
from harness.errors import FwlabError, UsageError
from harness.models import Layer
from harness.providers.base import Machine, Progress, Provider, Provisioning, check_name
from harness.providers.nspawn import image, layers, network
from harness.providers.nspawn.network import LabNet
from harness.providers.state import StateFile, load_all, owner
from harness.ssh import SshEndpoint, generate_keypair
from harness.ssh import run as ssh_run
from harness.util import (
    file_lock,
    is_same_process,
    kill_all,
    proc_start_time,
    processes_in_netns,
    processes_pss,
    run,
    stop_process,
    wait_for,
)

BOOT_TIMEOUT = float(os.environ.get("FWLAB_BOOT_TIMEOUT", "90"))
SHUTDOWN_TIMEOUT = 15.0
REQUIRED_TOOLS = ("systemd-nspawn", "debootstrap", "dnsmasq", "nft", "ssh", "ssh-keygen")


def preflight() -> None:
    if os.geteuid() != 0:
        raise UsageError("the nspawn provider needs root (it creates namespaces and mounts)")
    missing = [tool for tool in REQUIRED_TOOLS if shutil.which(tool) is None]
    if missing:
        raise UsageError(
            f"missing {', '.join(missing)}: run ./scripts/run setup (installs the host packages)"
        )


def labs_lock() -> AbstractContextManager[None]:
    """Serialises name and subnet allocation between concurrent fwlab runs."""
    return file_lock(paths.locks_dir() / "labs.lock")


class LabState(StateFile):
    """The state file of one nspawn lab: slot, PIDs, cgroups, mounts."""

    def __init__(self, name: str):
        super().__init__(name, paths.labs_dir())

    @property
    def net(self) -> LabNet:
        return LabNet(self.name, int(self.data["slot"]))

    @property
    def root(self) -> Path:
        return self.dir / "root"

    def endpoint(self) -> SshEndpoint:
        return SshEndpoint(
            alias=self.name,
            hostname=self.net.ssh_addr,
            user="root",
            port=22,
            identity_file=str(self.dir / "id_ed25519"),
            known_hosts=str(self.dir / "known_hosts"),
        )


class NspawnProvider(Provider):
    name = "nspawn"

    def machine_layer(self, name: str, stands_for: str) -> Layer:
        suite = LabState(name).data.get("suite", image.DEFAULT_SUITE)
        return Layer(
            real=False,
            what=f"a Debian {suite} systemd-nspawn container (sharing this host's kernel "
            f"{os.uname().release}) stands in for {stands_for}",
        )

    def outside(self, name: str) -> str:
        """The lab's NAT gateway namespace: on the lab's network, outside the lab."""
        return f"netns://{LabState(name).net.wan_ns}"

    # -- up -----------------------------------------------------------------
    def up(
        self,
        name: str,
        progress: Progress | None = None,
        ephemeral: bool = False,
        release: str | None = None,
        provisioned: Provisioning | None = None,
    ) -> Machine:
        """ephemeral: the lab lives only as long as the fwlab process that made it
        (matrix cells); `fwlab gc` removes it once that process is gone."""
        say = progress or (lambda _msg: None)
        check_name(name)
        preflight()
        hostlimits.preflight(self, 1)
        recipe = image.ensure(image.ImageRecipe(suite=release or image.DEFAULT_SUITE), say)
        layer = None
        if provisioned is not None:
            layer = layers.Layer(recipe, provisioned.key)
            layers.ensure(
                layer, lambda staging: self._build_layer(staging, recipe, provisioned, say), say
            )
        state = self._claim(name, ephemeral, recipe)
        try:
            self._create(state, recipe, say, layer)
        except BaseException as exc:  # Ctrl-C included: leave nothing behind
            tail = self._boot_log_tail(state)
            say(f"lab {name} failed, cleaning up")
            self._destroy(state)
            if isinstance(exc, FwlabError) and tail:
                raise FwlabError(f"{exc}\n--- last lines of {name}'s boot log ---\n{tail}") from exc
            raise
        return self.status(name)

    def _claim(self, name: str, ephemeral: bool, recipe: image.ImageRecipe) -> LabState:
        """Reserve the name and a management subnet, atomically across processes."""
        with labs_lock():
            state = LabState(name)
            if state.dir.exists():
                raise UsageError(f"lab name {name!r} is already taken (fwlab down {name})")
            taken = {int(s.data["slot"]) for s in self._states() if "slot" in s.data}
            slot = network.pick_slot(taken, network.host_prefixes())
            state.dir.mkdir(parents=True)
            state.dir.chmod(0o700)
            state.data = {
                "name": name,
                "provider": self.name,
                "made_by": "fwlab",
                "slot": slot,
                "created": time.time(),
                "image": str(recipe.rootfs),
                "suite": recipe.suite,
                "status": "creating",
                "ephemeral": ephemeral,
                # The fwlab process making it: while it lives, gc leaves a "creating" lab alone.
                "owner": owner(),
                "pids": {},
                "cgroups": [],
            }
            state.save()
        return state

    def _create(
        self,
        state: LabState,
        recipe: image.ImageRecipe,
        say: Progress,
        layer: layers.Layer | None = None,
    ) -> None:
        net = state.net
        say(f"network: namespaces {net.lab_ns}, {net.wan_ns}; ssh via {net.ssh_addr}")
        network.create(net)
        state.data["pids"].update(internet.start(net.wan_ns, state.dir, network.RESOLVER))
        state.save()
        for sub in ("upper", "work", "root", "docker", "containerd"):
            (state.dir / sub).mkdir(exist_ok=True)
        lower = str(recipe.rootfs)
        if layer is not None:
            say(f"root filesystem: the image and the provisioned layer {layer.folder.name}")
            lower = f"{layer.part('upper')}:{lower}"
            layers.copy_state(layer, state.dir)
            state.data["layer"] = str(layer.folder)
            state.save()
        else:
            say("root filesystem: overlay clone of the image")
        run([
            "mount", "-t", "overlay", "overlay", "-o",
            f"lowerdir={lower},upperdir={state.dir / 'upper'},workdir={state.dir / 'work'}",
            str(state.root),
        ])  # fmt: skip
        (state.root / "etc" / "hostname").write_text(f"{state.name}\n")
        self._ssh_keys(state)
        say("booting systemd in the lab")
        self._boot(state)
        self._wait_ready(state)
        state.data["status"] = "running"
        state.save()

    def _build_layer(
        self, staging: Path, recipe: image.ImageRecipe, provisioned: Provisioning, say: Progress
    ) -> None:
        """Provision a lab of its own, shut it down cleanly, keep what provisioning made."""
        name = f"layer-{provisioned.key[-12:]}-{os.getpid() % 100000}"
        say(f"provisioning layer {provisioned.key} on lab {name}")
        machine = self.up(name, progress=say, ephemeral=True, release=recipe.suite)
        state = LabState(name)
        try:
            provisioned.apply(machine)
            pid, start = state.data["pids"]["nspawn"]
            stop_process(pid, start, grace=SHUTDOWN_TIMEOUT)  # SIGTERM: a clean poweroff
            if is_same_process(pid, start):
                raise FwlabError(f"lab {name} did not shut down; its layer is not kept")
            run(["umount", str(state.root)])
            for part in layers.PARTS:
                shutil.move(str(state.dir / part), str(staging / part))
        finally:
            self._destroy(state)

    def _ssh_keys(self, state: LabState) -> None:
        client_pub = generate_keypair(state.dir / "id_ed25519", f"fwlab-{state.name}")
        ssh_dir = state.root / "root" / ".ssh"
        ssh_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        (ssh_dir / "authorized_keys").write_text(client_pub + "\n")
        (ssh_dir / "authorized_keys").chmod(0o600)
        host_key = state.root / "etc" / "ssh" / "ssh_host_ed25519_key"
        host_pub = generate_keypair(host_key, f"fwlab-{state.name}-host")
        # Pin it: this lab's known_hosts lists only its own fresh host key.
        key_type, key = host_pub.split()[:2]
        (state.dir / "known_hosts").write_text(
            f"{state.net.ssh_addr},{state.name} {key_type} {key}\n"
        )
        state.endpoint().write(state.ssh_config_path)

    def _boot(self, state: LabState) -> None:
        cgroups = _cgroup_paths(f"fwlab-{state.name}")
        state.data["cgroups"] = cgroups
        state.save()  # recorded before they exist, so an interrupted run can't lose them
        _make_cgroups(cgroups)
        env = dict(os.environ)
        env.update(
            # /proc/sys writable for the lab's own namespace: dockerd enables forwarding.
            SYSTEMD_NSPAWN_API_VFS_WRITABLE="network",
            # runc needs keyctl, which nspawn's seccomp filter refuses.
            SYSTEMD_SECCOMP="0",
        )
        if state.data.get("suite") in image.NEEDS_UNIFIED_CGROUPS and not host_is_unified():
            # A systemd without cgroup v1 support refuses a hybrid host's layout.
            env["SYSTEMD_NSPAWN_UNIFIED_HIERARCHY"] = "1"
        cmd = [
            "systemd-nspawn", "--boot", "--quiet", f"--directory={state.root}",
            f"--machine=fwlab-{state.name}", f"--hostname={state.name}",
            f"--network-namespace-path=/run/netns/{state.net.lab_ns}",
            "--register=no", "--keep-unit", "--capability=all", "--console=read-only",
            # The image's resolv.conf names the wan resolver; never copy the host's.
            "--resolv-conf=off", "--timezone=off", "--link-journal=no",
            f"--bind={state.dir / 'docker'}:/var/lib/docker",
            f"--bind={state.dir / 'containerd'}:/var/lib/containerd",
        ]  # fmt: skip
        procs_files = [str(Path(cg) / "cgroup.procs") for cg in cgroups]

        def enter_cgroups() -> None:  # runs in the child, before exec
            for procs in procs_files:
                with open(procs, "w") as f:
                    f.write(str(os.getpid()))

        with open(state.dir / "boot.log", "w") as log:
            proc = subprocess.Popen(
                cmd,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                preexec_fn=enter_cgroups,
            )
        state.data["pids"]["nspawn"] = [proc.pid, proc_start_time(proc.pid) or 0]
        state.save()

    def _wait_ready(self, state: LabState) -> None:
        pid, start = state.data["pids"]["nspawn"]
        endpoint = state.endpoint()

        def ssh_answers() -> bool:
            if not is_same_process(pid, start):
                raise FwlabError(f"systemd-nspawn for {state.name} exited during boot")
            return endpoint.answers(timeout=5)

        wait_for(f"SSH on lab {state.name}", ssh_answers, BOOT_TIMEOUT, interval=0.2)
        # multi-user: docker and firewalld have had their go at starting.
        client = endpoint.connect()
        try:
            res = ssh_run(client, "timeout 60 systemctl is-system-running --wait", timeout=70)
        finally:
            client.close()
        if res.stdout.strip() not in ("running", "degraded"):
            raise FwlabError(f"lab {state.name} did not finish booting: {res.stdout.strip()}")

    @staticmethod
    def _boot_log_tail(state: LabState, lines: int = 25) -> str:
        log = state.dir / "boot.log"
        if not log.exists():
            return ""
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])

    def keep(self, name: str) -> None:
        state = LabState(name)
        state.data["ephemeral"] = False
        state.save()

    # -- down ---------------------------------------------------------------
    def down(self, name: str, progress: Progress | None = None) -> list[str]:
        check_name(name)
        state = LabState(name)
        if not state.dir.exists():
            raise UsageError(f"no lab named {name!r} (fwlab ls lists them)")
        return self._destroy(state)

    def _destroy(self, state: LabState) -> list[str]:
        """Remove everything the state file says the lab owns. Idempotent."""
        removed: list[str] = []
        pids = state.data.get("pids", {})
        nspawn = pids.get("nspawn")
        if nspawn and is_same_process(*nspawn):
            # SIGTERM asks nspawn to power the container off cleanly.
            stop_process(nspawn[0], nspawn[1], grace=SHUTDOWN_TIMEOUT)
            removed.append(f"lab machine (nspawn pid {nspawn[0]})")
        for svc in ("dnsmasq", "http"):
            if svc in pids and stop_process(*pids[svc], grace=2):
                removed.append(f"{svc} pid {pids[svc][0]}")
        # Whatever is still in the lab's cgroups or namespaces is ours too, recorded or
        # not (a run killed between starting a process and saving its PID).
        strays = _stray_pids(state)
        kill_all(strays)  # the lab is going away: no grace for leftovers
        removed += [f"process {pid}" for pid in strays]
        if state.root.is_mount():
            run(["umount", str(state.root)], check=False)
            if state.root.is_mount():
                run(["umount", "-l", str(state.root)], check=False)
            removed.append(f"mount {state.root}")
        if "slot" in state.data:
            removed += network.destroy(state.net)
        for cg in reversed(state.data.get("cgroups", [])):
            if _remove_cgroup(Path(cg)):
                removed.append(f"cgroup {cg}")
        if state.root.is_mount():
            raise FwlabError(f"{state.root} is still mounted; not deleting {state.dir}")
        if state.dir.exists():
            shutil.rmtree(state.dir)
            removed.append(f"state {state.dir}")
        return removed

    # -- status / list / gc -------------------------------------------------
    def status(self, name: str) -> Machine:
        state = LabState(name)
        if not state.file.exists():
            return Machine(name=name, provider=self.name, status="absent")
        nspawn = state.data.get("pids", {}).get("nspawn")
        alive = bool(nspawn) and is_same_process(*nspawn)
        status = state.data.get("status", "unknown")
        if status == "running" and not alive:
            status = "broken"
        details = {
            "ssh": f"{state.net.ssh_addr}:22",
            "netns": state.net.lab_ns,
        }
        return Machine(
            name=name,
            provider=self.name,
            status=status,
            ssh=state.endpoint() if status == "running" else None,
            ssh_config_path=state.ssh_config_path,
            details=details,
        )

    def list(self) -> list[Machine]:
        return [self.status(s.name) for s in self._states()]

    def _states(self) -> list[LabState]:
        return load_all(paths.labs_dir(), LabState)

    def gc(self, progress: Progress | None = None) -> list[str]:
        """Remove what interrupted runs left behind, and only that.

        Ours means listed in a state file under FWLAB_HOME/labs (written before anything
        is made); a look-alike namespace or cgroup that no state file names is left alone.
        """
        say = progress or (lambda _msg: None)
        removed: list[str] = []
        for state in self._states():
            nspawn = state.data.get("pids", {}).get("nspawn")
            why = state.abandoned(bool(nspawn) and is_same_process(*nspawn))
            if why:
                say(f"lab {state.name}: {why}")
                removed += self._destroy(state)
        if paths.labs_dir().is_dir():
            for folder in paths.labs_dir().iterdir():
                # Killed between making the folder and writing its state file.
                if folder.is_dir() and not (folder / "lab.json").exists():
                    if not (folder / "root").is_mount():
                        shutil.rmtree(folder)
                        removed.append(f"state {folder}")
        removed += image.remove_stale_builds()
        removed += layers.remove_stale()
        return removed

    def memory_peak(self, name: str) -> int | None:
        """Peak memory of the lab's cgroup (bytes): cgroup v1's max_usage_in_bytes or v2's
        memory.peak, where a memory controller accounts for the lab; else None."""
        for cg in LabState(name).data.get("cgroups", []):
            for knob in ("memory.max_usage_in_bytes", "memory.peak"):
                if (Path(cg) / knob).exists():
                    return int((Path(cg) / knob).read_text())
        return None

    def memory_now(self, name: str) -> int:
        """What the lab costs now (bytes): the proportional set size of every process in
        its cgroups. The same on cgroup v1 and v2, with or without a memory controller;
        unlike the cgroup's usage, it does not charge one lab with the page cache of the
        image files every lab shares."""
        return processes_pss(cgroup_pids(LabState(name).data.get("cgroups", [])))


# -- cgroups -----------------------------------------------------------------
def _cgroup_mounts() -> dict[str, str]:
    """Hierarchy id -> mount point, for every cgroup hierarchy this process is in."""
    mounts: dict[str, str] = {}
    with open("/proc/self/mountinfo") as f:
        for line in f:
            pre, post = line.split(" - ", 1)
            fstype, _source, opts = post.split()[:3]
            point = pre.split()[4]
            if fstype == "cgroup2":
                mounts[""] = point
            elif fstype == "cgroup":
                names = [o for o in opts.split(",") if o not in ("rw", "ro")]
                mounts[",".join(sorted(names))] = point
    return mounts


def _cgroup_paths(leaf: str) -> list[str]:
    """A child cgroup in every hierarchy (nspawn insists on sitting in its own)."""
    mounts = _cgroup_mounts()
    paths = []
    with open("/proc/self/cgroup") as f:
        for line in f:
            _hid, controllers, path = line.strip().split(":", 2)
            key = ",".join(sorted(controllers.split(","))) if controllers else ""
            point = mounts.get(key)
            if point is not None:
                paths.append(str(Path(point + path.rstrip("/")) / leaf))
    return paths


def _make_cgroups(paths: list[str]) -> None:
    for cg in map(Path, paths):
        cg.mkdir(exist_ok=True)
        if (cg / "cpuset.cpus").exists() and not (cg / "cpuset.cpus").read_text().strip():
            # A new cpuset is empty; joining it fails with ENOSPC until it has CPUs.
            for knob in ("cpuset.cpus", "cpuset.mems"):
                (cg / knob).write_text((cg.parent / knob).read_text())


def _remove_cgroup(cg: Path) -> bool:
    if not cg.exists():
        return False
    for child in sorted((p for p in cg.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts)):
        try:
            child.rmdir()
        except OSError:
            pass
    try:
        cg.rmdir()
    except OSError:
        return cg.exists() is False
    return True


def host_is_unified() -> bool:
    """A cgroup v2 only host (as systemd hosts and CI runners are nowadays)."""
    return Path("/sys/fs/cgroup/cgroup.controllers").exists()


def cgroup_pids(cgroups: list[str]) -> set[int]:
    """Every process in these cgroups and the cgroups below them. Units come and go while
    it looks: os.walk skips a folder that went, and so does reading one."""
    found: set[int] = set()
    for cg in cgroups:
        for folder, _dirs, files in os.walk(cg):
            if "cgroup.procs" in files:
                try:
                    found.update(int(p) for p in Path(folder, "cgroup.procs").read_text().split())
                except OSError:
                    continue
    return found


def _stray_pids(state: LabState) -> list[int]:
    """Processes in the lab's cgroups or in its two network namespaces."""
    found = cgroup_pids(state.data.get("cgroups", []))
    if "slot" in state.data:
        found.update(processes_in_netns([state.net.lab_ns, state.net.wan_ns]))
    found.discard(os.getpid())
    return sorted(found)
