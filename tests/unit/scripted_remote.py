"""Run a recipe against Fabric's mocked SSH remote (fabric.testing), scripted command by command.

Shared by the recipe tests: each scripts the remote with fabric.testing.base.Command
objects in the order the recipe must send them; MockRemote hands one mocked channel
per command, and the commands actually executed are compared with the script.

`FakeSFTP` stands in for the machine's SFTP subsystem (what `Connection.put` and
`probe_image.remote_reader` use): it serves the machine's files from a local folder
and keeps what is uploaded.
"""

from __future__ import annotations

import io
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, TypeVar

import pytest
from fabric import Config, Connection
from fabric.testing.base import Command, MockRemote, Session

from harness.provision import FACTS
from harness.provision.base import Recipe

#: The one command that gathers a machine's facts, as provisioning sends it.
FACTS_COMMAND = f"sh -c {shlex.quote(FACTS)}"
#: What FACTS prints, in its order.
FACTS_KEYS = ("os_id", "os_version", "os_codename", "os_name", "os_like", "kernel", "firewalld",
              "firewalld_backend", "firewalld_active", "nftables", "iptables", "docker",
              "docker_package", "containerd", "marker", "probe_network", "probe_tags", "drop_in",
              "docker0_zone", "docker_chains")  # fmt: skip

#: What FACTS prints on a Debian 12 lab machine with firewalld running (docker.io 20.10).
BOOKWORM = dict(
    os_id="debian",
    os_version="12",
    os_codename="bookworm",
    os_name="Debian GNU/Linux 12 (bookworm)",
    kernel="6.1.0-18-amd64",
    firewalld="1.3.3",
    firewalld_backend="nftables",
    firewalld_active="active",
    nftables="1.0.6",
    iptables="1.8.9 (nf_tables)",
    docker="20.10.24+dfsg1",
    docker_package="20.10.24+dfsg1-1+b3",
    containerd="1.6.20~ds1",
)

#: How Fabric renders Connection.sudo("cmd") with the default sudo config.
SUDO = "sudo -S -p '[sudo] password: ' "

R = TypeVar("R", bound=Recipe)


@dataclass
class FakeSFTP:
    """A paramiko SFTPClient look-alike: reads come from `root` (the machine's "/"),
    uploads are kept in `uploads` (remote path -> bytes)."""

    root: Path | None = None
    uploads: dict[str, bytes] = field(default_factory=dict)
    opened: list[str] = field(default_factory=list)

    def open(self, path: str, mode: str = "r") -> io.BytesIO:
        self.opened.append(path)
        local = self.root / path.lstrip("/") if self.root else None
        if local is None or not local.is_file():
            raise FileNotFoundError(2, "No such file", path)
        return io.BytesIO(local.read_bytes())

    def stat(self, path: str) -> Any:
        raise FileNotFoundError(2, "No such file", path)  # so no upload target is a folder

    def getcwd(self) -> str:
        return "/root"

    def normalize(self, path: str) -> str:
        return "/root"

    def putfo(self, fl: Any, remotepath: str, **kwargs: Any) -> None:
        self.uploads[remotepath] = fl.read()


@dataclass
class Ran:
    result: object
    sent: list[str]  # the commands executed, in order
    stdin: list[bytes]  # what each command was fed


def run_on_connection(
    script: list[Command],
    action: Callable[[Connection], object],
    user: str = "root",
    sftp: FakeSFTP | None = None,
) -> Ran:
    """Run action(conn) against a remote that expects exactly `script`, in order."""
    if user != "root":
        script = [Command(SUDO + c.cmd, out=c.out, err=c.err, exit=c.exit) for c in script]
    expected = [c.cmd for c in script]
    with MockRemote() as remote:
        # No script: Session's own placeholder command, which MockRemote does not check.
        session = Session(host="lab", user=user, commands=script or None)
        channels = remote.expect_sessions(session)
        if sftp is not None:
            session.client.open_sftp.return_value = sftp
        conn = Connection("lab", user=user, config=Config(overrides={"load_ssh_configs": False}))

        def sent() -> list[str]:
            return [c.exec_command.call_args.args[0] for c in channels if c.exec_command.called]

        try:
            result = action(conn)
        except StopIteration:  # MockRemote has no channel left for an unscripted command
            pytest.fail(f"more commands than scripted; sent so far: {sent()}")
        assert sent() == expected
        if not script:
            channels[0].exec_command.assert_not_called()
        stdin = [c._stdin.getvalue() for c in channels if c.exec_command.called]
    return Ran(result, sent(), stdin)


def run_recipe(
    script: list[Command],
    recipe_cls: type[R],
    action: Callable[[R], object],
    user: str = "root",
    sftp: FakeSFTP | None = None,
) -> Ran:
    """Run action(recipe) against a remote that expects exactly `script`, in order."""
    return run_on_connection(script, lambda conn: action(recipe_cls(conn)), user, sftp)


#: A lab machine's own busybox and C library, as fakes (the probe image is made of them).
MACHINE_FILES = {
    "bin/busybox": b"\x7fELF the lab machine's busybox",
    "lib/x86_64-linux-gnu/libc.so.6": b"\x7fELF the lab machine's libc",
    "lib/x86_64-linux-gnu/libnss_dns.so.2": b"\x7fELF the lab machine's libnss_dns",
    "lib/x86_64-linux-gnu/libnss_files.so.2": b"\x7fELF the lab machine's libnss_files",
    "lib/x86_64-linux-gnu/ld-linux-x86-64.so.2": b"\x7fELF the lab machine's ld.so",
}


def write_machine_files(root: Path, files: dict[str, bytes] = MACHINE_FILES) -> Path:
    """Lay out a lab machine's files under `root` (plain files, no links); return root."""
    for name, data in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return root


def facts_output(**values: str) -> str:
    """What FACTS prints on a machine: every key, empty where the machine has nothing."""
    unknown = set(values) - set(FACTS_KEYS)
    assert not unknown, f"FACTS prints no {unknown}"
    return "".join(f"{key}={values.get(key, '')}\n" for key in FACTS_KEYS)
