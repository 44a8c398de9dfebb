"""The one thing every provider hands back, an ssh_config entry, and the one way fwlab
reaches a machine through it: paramiko.

The entry has the shape `vagrant ssh-config` prints. Fabric (provisioning), the
checks (pytest-testinfra, through the `fwlab://` backend registered here) and every
command fwlab runs on a machine go through paramiko with the entry's host, user,
key, ProxyCommand and pinned known_hosts. Only `fwlab ssh`, an interactive shell for
a person, hands the same entry to OpenSSH.
"""

from __future__ import annotations

import logging
import shlex
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paramiko
import testinfra
import testinfra.backend
from testinfra.backend.base import CommandResult
from testinfra.backend.local import LocalBackend
from testinfra.backend.paramiko import ParamikoBackend

from harness.errors import FwlabError

# paramiko logs a refused session (which run() waits out) at ERROR; with no handler,
# Python would print it on the user's terminal. Failures reach fwlab as exceptions.
logging.getLogger("paramiko").addHandler(logging.NullHandler())

#: How long one command may run before fwlab gives up on the connection (a probe is
#: bounded on the machine itself; this only guards against a connection that hangs).
COMMAND_TIMEOUT = 300.0


@dataclass(frozen=True)
class SshEndpoint:
    alias: str
    hostname: str
    user: str
    port: int
    identity_file: str
    known_hosts: str = ""  # empty: the provider cannot pin a host key (e.g. Vagrant)
    proxy_command: str = ""  # how to reach a machine in a namespace of ours (Vagrant)

    def render(self) -> str:
        """An ssh_config entry that OpenSSH, Fabric, paramiko and testinfra all accept."""
        lines = [
            f"Host {self.alias}",
            f"  HostName {self.hostname}",
            f"  User {self.user}",
            f"  Port {self.port}",
            f"  IdentityFile {self.identity_file}",
            "  IdentitiesOnly yes",
            "  PasswordAuthentication no",
            "  BatchMode yes",
            "  ConnectTimeout 10",
            "  LogLevel ERROR",
        ]
        if self.known_hosts:
            lines += [f"  UserKnownHostsFile {self.known_hosts}", "  StrictHostKeyChecking yes"]
        else:
            lines += ["  UserKnownHostsFile /dev/null", "  StrictHostKeyChecking no"]
        if self.proxy_command:
            lines.append(f"  ProxyCommand {self.proxy_command}")
        return "\n".join(lines) + "\n"

    @classmethod
    def parse(cls, text: str, alias: str | None = None) -> SshEndpoint:
        """Read an entry such as `vagrant ssh-config` prints."""
        config = paramiko.SSHConfig.from_text(text)
        # In file order (paramiko's set has none): the first concrete Host entry.
        hosts = [
            name
            for line in text.splitlines()
            if line.strip().lower().startswith("host ")
            for name in line.split()[1:]
            if not any(ch in name for ch in "*?!")
        ]
        if not hosts:
            raise FwlabError("ssh_config has no Host entry")
        alias = alias or hosts[0]
        entry = config.lookup(alias)
        known = entry.get("userknownhostsfile", "")
        if known == "/dev/null" or entry.get("stricthostkeychecking") == "no":
            known = ""
        return cls(
            alias=alias,
            hostname=entry.get("hostname", alias),
            user=entry.get("user", "root"),
            port=int(entry.get("port", 22)),
            identity_file=(entry.get("identityfile") or [""])[0],
            known_hosts=known,
            proxy_command=entry.get("proxycommand", ""),
        )

    @classmethod
    def read(cls, config_path: Path, alias: str | None = None) -> SshEndpoint:
        return cls.parse(Path(config_path).read_text(), alias)

    def write(self, path: Path) -> Path:
        path.write_text(self.render())
        path.chmod(0o600)
        return path

    # -- consumers -------------------------------------------------------
    def connect(self, timeout: float = 10.0) -> paramiko.SSHClient:
        """A paramiko client; the host key is pinned when the entry names a known_hosts."""
        client = paramiko.SSHClient()
        if self.known_hosts:
            client.load_host_keys(self.known_hosts)
            client.set_missing_host_key_policy(paramiko.RejectPolicy())
        else:
            client.set_missing_host_key_policy(paramiko.AutoAddPolicy())
        sock = paramiko.ProxyCommand(self.proxy_command) if self.proxy_command else None
        try:
            client.connect(
                self.hostname,
                port=self.port,
                username=self.user,
                key_filename=self.identity_file or None,
                look_for_keys=False,
                allow_agent=False,
                timeout=timeout,
                banner_timeout=timeout,
                auth_timeout=timeout,
                sock=sock,  # type: ignore[arg-type]
            )
        except BaseException:
            client.close()
            raise
        transport = client.get_transport()
        if transport is not None:
            transport.set_keepalive(15)
        return client

    def fabric(self) -> Any:
        """A Fabric Connection over the same pinned paramiko client."""
        from fabric import Connection

        conn = Connection(self.hostname, user=self.user, port=self.port)
        conn.client = self.connect()
        conn.transport = conn.client.get_transport()
        return conn

    def host(self, config_path: Path) -> Any:
        """A testinfra host over the `fwlab://` backend. Commands need root: a machine
        entered as another user (vagrant) runs them under sudo."""
        return testinfra.get_host(
            f"fwlab://{self.alias}", ssh_config=str(config_path), sudo=self.user != "root"
        )

    def answers(self, timeout: float = 5.0) -> bool:
        """True once the machine accepts our key and runs a command."""
        try:
            client = self.connect(timeout=timeout)
        except (OSError, paramiko.SSHException, EOFError):
            return False
        try:
            return run(client, "true", timeout=timeout).rc == 0
        except (OSError, paramiko.SSHException, FwlabError):
            return False
        finally:
            client.close()


@dataclass(frozen=True)
class Output:
    rc: int
    stdout_bytes: bytes
    stderr_bytes: bytes

    @property
    def stdout(self) -> str:
        return self.stdout_bytes.decode(errors="replace")

    @property
    def stderr(self) -> str:
        return self.stderr_bytes.decode(errors="replace")


def run(client: paramiko.SSHClient, command: str, timeout: float = COMMAND_TIMEOUT) -> Output:
    """Run one command; stdout and stderr are read at once (no deadlock on either),
    and a command that outlives `timeout` ends the channel and raises."""
    transport = client.get_transport()
    if transport is None or not transport.is_active():
        raise FwlabError("the SSH connection is closed")
    chan = _open_session(transport)
    try:
        chan.settimeout(timeout)
        chan.exec_command(command)
        out, err = bytearray(), bytearray()
        reader = threading.Thread(target=lambda: err.extend(_drain(chan.makefile_stderr("rb"))))
        reader.start()
        out.extend(_drain(chan.makefile("rb")))
        reader.join(timeout)
        deadline = time.monotonic() + timeout
        while not chan.exit_status_ready():
            if time.monotonic() > deadline:
                raise FwlabError(f"`{command[:80]}` did not finish within {timeout:.0f} s")
            time.sleep(0.01)
        rc = chan.recv_exit_status()
    except TimeoutError as exc:
        raise FwlabError(f"`{command[:80]}` did not finish within {timeout:.0f} s") from exc
    finally:
        chan.close()
    return Output(rc, bytes(out), bytes(err))


#: How long a command waits for a session when the server has none free.
SESSION_WAIT = 15.0


def _open_session(transport: paramiko.Transport) -> paramiko.Channel:
    """A session channel. sshd serves at most MaxSessions (10 by default) per connection
    and frees one only once it has seen it close; probes and their clients open several
    at once, so on a loaded machine a refusal ("Connect failed") means: wait, try again."""
    deadline = time.monotonic() + SESSION_WAIT
    pause = 0.05
    while True:
        try:
            return transport.open_session(timeout=30)
        except paramiko.SSHException as exc:
            # Opened from several threads at once, paramiko hands the refusal to one of
            # them and a bare "Unable to open channel." to the others.
            refused = isinstance(exc, paramiko.ChannelException) and (
                exc.code == paramiko.common.OPEN_FAILED_CONNECT_FAILED
            )
            if not (refused or str(exc) == "Unable to open channel.") or not transport.is_active():
                raise
            if time.monotonic() + pause > deadline:
                raise FwlabError(
                    f"the SSH server had no session free for {SESSION_WAIT:g} s "
                    "(its MaxSessions is in use)"
                ) from exc
            time.sleep(pause)
            pause = min(pause * 2, 1.0)


def _drain(stream: Any) -> bytes:
    try:
        return stream.read()
    except TimeoutError:
        return b""


class FwlabBackend(ParamikoBackend):
    """testinfra's paramiko backend, with the entry's known_hosts pinned and a bound on
    every command: `fwlab://ALIAS?ssh_config=FILE`."""

    NAME = "fwlab"

    def __init__(self, hostspec: str, ssh_config: str | None = None, *args: Any, **kwargs: Any):
        if not ssh_config:
            raise RuntimeError("the fwlab:// backend needs ssh_config")
        super().__init__(hostspec, ssh_config, *args, **kwargs)
        self._lock = threading.Lock()
        self._client: paramiko.SSHClient | None = None

    @property  # type: ignore[override]
    def client(self) -> paramiko.SSHClient:
        with self._lock:  # probes run from several threads; connect once
            if self._client is None or not _alive(self._client):
                assert self.ssh_config is not None
                self._client = SshEndpoint.read(Path(self.ssh_config), self.host.name).connect()
            return self._client

    def run(self, command: str, *args: str, **kwargs: Any) -> CommandResult:
        cmd = self.get_command(command, *args)
        out = run(self.client, cmd)
        return self.result(out.rc, self.encode(cmd), out.stdout_bytes, out.stderr_bytes)

    def close(self) -> None:
        if self._client is not None:
            self._client.close()


def _alive(client: paramiko.SSHClient) -> bool:
    transport = client.get_transport()
    return transport is not None and transport.is_active()


class NetnsBackend(LocalBackend):
    """Commands in a network namespace of this machine: `netns://NAME`. fwlab's providers
    use it for the client outside a lab (the NAT gateway's namespace)."""

    NAME = "netns"

    def __init__(self, hostspec: str, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.namespace = hostspec

    def get_pytest_id(self) -> str:
        return f"netns://{self.namespace}"

    def run(self, command: str, *args: str, **kwargs: Any) -> CommandResult:
        cmd = self.get_command(command, *args)
        argv = ["ip", "netns", "exec", self.namespace, "sh", "-c", cmd]
        try:
            proc = subprocess.run(argv, capture_output=True, timeout=COMMAND_TIMEOUT)
        except subprocess.TimeoutExpired as exc:
            raise FwlabError(f"`{cmd[:80]}` did not finish within {COMMAND_TIMEOUT:.0f} s") from exc
        return self.result(proc.returncode, self.encode(shlex.join(argv)), proc.stdout, proc.stderr)


testinfra.backend.BACKENDS.setdefault("fwlab", f"{__name__}.FwlabBackend")
testinfra.backend.BACKENDS.setdefault("netns", f"{__name__}.NetnsBackend")


def generate_keypair(path: Path, comment: str) -> str:
    """An ed25519 key at path (0600); returns the public key line."""
    if not path.exists():
        subprocess.run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)],
            check=True,
            capture_output=True,
        )
    path.chmod(0o600)
    return path.with_suffix(".pub").read_text().strip()
