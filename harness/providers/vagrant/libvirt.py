"""libvirt, confined to a network namespace of fwlab's.

libvirtd normally adds bridges, routes and iptables rules to the host. Here fwlab
starts virtlogd and libvirtd itself, inside the namespace `fwlab-libvirt`, which
holds only `lo` and what libvirt makes there: the bridge, its dnsmasq, the VMs' tap
devices and libvirt's own firewall rules. The host's root namespace never changes.

The namespace has no route out. The VMs' network is isolated (no forward mode) and
looks like VirtualBox's NAT: the VM gets 10.0.2.15 and up by DHCP, a default route
via 10.0.2.2 (which leads nowhere but this namespace), and the resolver 10.0.2.3.
The resolver and the web server of the fake internet run in this namespace too.

The daemons are stopped by PID when the last vagrant lab goes (or by `fwlab gc`).
Network and storage pool are transient: they vanish with libvirtd.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
from pathlib import Path
from typing import Any

from harness import internet, paths
from harness.errors import FwlabError, UsageError
from harness.util import (
    file_lock,
    is_same_process,
    kill_all,
    proc_start_time,
    processes_in_netns,
    run,
    stop_process,
    wait_for,
)

NETNS = "fwlab-libvirt"
URI = "qemu:///system"
SOCKET = Path("/run/libvirt/libvirt-sock")
NETWORK = "fwlab"
NETWORK_ADDRESS = "10.0.2.0/24"
GATEWAY = "10.0.2.2"
RESOLVER = "10.0.2.3"
POOL = "fwlab"
START_TIMEOUT = 90.0

# No <forward>: an isolated network. libvirt then tells DHCP clients "no router";
# the classless-route option gives them VirtualBox NAT's default route instead, which
# ends in this namespace. DNS is the fake internet's resolver at 10.0.2.3, not libvirt's.
NETWORK_XML = f"""\
<network xmlns:dnsmasq='http://libvirt.org/schemas/network/dnsmasq/1.0'>
  <name>{NETWORK}</name>
  <bridge name='fwlabvbr0' stp='off'/>
  <dns enable='no'/>
  <ip address='{GATEWAY}' prefix='24'>
    <dhcp><range start='10.0.2.15' end='10.0.2.254'/></dhcp>
  </ip>
  <dnsmasq:options>
    <dnsmasq:option value='dhcp-option=option:classless-static-route,0.0.0.0/0,{GATEWAY}'/>
  </dnsmasq:options>
</network>
"""


def home() -> Path:
    return paths.home() / "vagrant" / "libvirt"


def pool_dir() -> Path:
    return paths.home() / "vagrant" / "pool"


def _state_file() -> Path:
    return home() / "daemons.json"


def _load() -> dict[str, Any]:
    try:
        return json.loads(_state_file().read_text())
    except (OSError, ValueError):
        return {}


def _save(data: dict[str, Any]) -> None:
    home().mkdir(parents=True, exist_ok=True)
    tmp = _state_file().with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2))
    tmp.rename(_state_file())


def is_running() -> bool:
    pid = _load().get("pids", {}).get("libvirtd")
    return bool(pid) and is_same_process(*pid)


def virsh(*args: str, check: bool = True) -> str:
    return run(["virsh", "-q", "-c", URI, *args], check=check, timeout=60).stdout


def _socket_answers() -> bool:
    with socket.socket(socket.AF_UNIX) as sock:
        try:
            sock.connect(str(SOCKET))
        except OSError:
            return False
    return True


def ensure_running(say: Any = None) -> None:
    """Start virtlogd, libvirtd, the network, the pool and the fake internet, once."""
    say = say or (lambda _msg: None)
    with file_lock(paths.locks_dir() / "libvirt.lock"):
        if is_running():
            return
        if _socket_answers():
            raise UsageError(
                f"a libvirtd that fwlab did not start answers on {SOCKET}; the vagrant "
                "provider runs its own, confined one (stop the other first)"
            )
        stop()  # whatever a killed run left half made
        say(f"starting libvirtd in network namespace {NETNS}")
        data: dict[str, Any] = {"made_by": "fwlab", "netns": NETNS, "pids": {}}
        _save(data)  # before anything exists, so gc can always find it
        run(["ip", "netns", "add", NETNS])
        run(["ip", "-n", NETNS, "link", "set", "lo", "up"])
        for addr in (RESOLVER, internet.ADDR):
            run(["ip", "-n", NETNS, "addr", "add", f"{addr}/32", "dev", "lo"])
        try:
            for name, cmd, env in (
                ("virtlogd", ["virtlogd"], {}),
                # No system bus: libvirt must never reach a firewalld of the host.
                ("libvirtd", ["libvirtd"], {"DBUS_SYSTEM_BUS_ADDRESS": "unix:path=/nonexistent"}),
            ):
                data["pids"][name] = _spawn(name, cmd, env)
                _save(data)
            wait_for("libvirtd's socket", _socket_answers, START_TIMEOUT)
            wait_for("libvirtd to answer", lambda: _virsh_ok("version"), START_TIMEOUT)
            (home() / "network.xml").write_text(NETWORK_XML)
            virsh("net-create", str(home() / "network.xml"))
            pool_dir().mkdir(parents=True, exist_ok=True)
            virsh("pool-create-as", POOL, "dir", "--target", str(pool_dir()))
            data["pids"].update(internet.start(NETNS, home(), RESOLVER))
            _save(data)
        except BaseException:
            stop()
            raise


def _virsh_ok(*args: str) -> bool:
    try:
        return run(["virsh", "-q", "-c", URI, *args], check=False, timeout=10).returncode == 0
    except FwlabError:  # still busy starting
        return False


def _spawn(name: str, cmd: list[str], env: dict[str, str]) -> list[int]:
    with open(home() / f"{name}.log", "w") as log:
        proc = subprocess.Popen(
            ["ip", "netns", "exec", NETNS, *cmd],  # ip execs: the PID is the daemon's
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={**os.environ, **env},
            start_new_session=True,  # outlives this run: kept labs still need it
        )
    return [proc.pid, proc_start_time(proc.pid) or 0]


def domains() -> list[str]:
    """Every domain libvirtd knows (running or not)."""
    if not is_running():
        return []
    return virsh("list", "--all", "--name").split()


def stop() -> list[str]:
    """Stop what ensure_running started, by PID; then anything left in the namespace."""
    data = _load()
    removed = []
    if is_running():  # transient: destroying them is removing them
        _virsh_ok("net-destroy", NETWORK)
        _virsh_ok("pool-destroy", POOL)
    for name in ("http", "dnsmasq", "libvirtd", "virtlogd"):
        pid = data.get("pids", {}).get(name)
        if pid and stop_process(*pid, grace=10):
            removed.append(f"{name} pid {pid[0]}")
    strays = processes_in_netns([NETNS])  # e.g. a qemu whose libvirtd was killed
    kill_all(strays)
    removed += [f"process {pid}" for pid in strays]
    if Path(f"/run/netns/{NETNS}").exists():
        run(["ip", "netns", "del", NETNS], check=False)
        removed.append(f"netns {NETNS}")
    # What a killed libvirtd could not tidy: the status files of our transient network.
    for leftover in (*Path("/run/libvirt/network").glob(f"{NETWORK}.*"),
                     *Path("/var/lib/libvirt/dnsmasq").glob(f"{NETWORK}.*")):  # fmt: skip
        leftover.unlink(missing_ok=True)
    if _state_file().exists():
        _state_file().unlink()
    return removed


def check_host_tools() -> None:
    missing = [t for t in ("vagrant", "libvirtd", "virtlogd", "virsh", "qemu-system-x86_64")
               if shutil.which(t) is None]  # fmt: skip
    if missing:
        raise FwlabError(f"missing {', '.join(missing)}: run ./scripts/run setup --vagrant")
