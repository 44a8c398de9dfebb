"""The one thing every provider hands back: an ssh_config entry.

It is the same shape `vagrant ssh-config` prints. Fabric (provisioning) and
pytest-testinfra (checks) both connect through it, so no code after the
provider knows which kind of machine it talks to.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paramiko

from harness.errors import FwlabError


@dataclass(frozen=True)
class SshEndpoint:
    alias: str
    hostname: str
    user: str
    port: int
    identity_file: str
    known_hosts: str = ""  # empty: the provider cannot pin a host key (e.g. Vagrant)
    control_dir: str = ""  # where OpenSSH keeps its master socket, if anywhere
    proxy_command: str = ""  # how to reach a machine in a namespace of ours (Vagrant)

    def render(self) -> str:
        """An ssh_config entry that plain OpenSSH, Fabric and testinfra all accept."""
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
            lines += [
                f"  UserKnownHostsFile {self.known_hosts}",
                "  StrictHostKeyChecking yes",
            ]
        else:
            lines += ["  UserKnownHostsFile /dev/null", "  StrictHostKeyChecking no"]
        if self.proxy_command:
            lines.append(f"  ProxyCommand {self.proxy_command}")
        if self.control_dir:
            lines += [
                "  ControlMaster auto",
                f"  ControlPath {self.control_dir}/ssh-%C",
                "  ControlPersist 120s",
            ]
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
        if known == "/dev/null":
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

    def write(self, path: Path) -> Path:
        path.write_text(self.render())
        path.chmod(0o600)
        return path

    # -- consumers -------------------------------------------------------
    def fabric(self, config_path: Path) -> Any:
        """A Fabric Connection built from the entry; the host key is pinned when known."""
        from fabric import Config, Connection

        conn = Connection(self.alias, config=Config(runtime_ssh_path=str(config_path)))
        if self.known_hosts:
            conn.client.load_host_keys(self.known_hosts)
            conn.client.set_missing_host_key_policy(paramiko.RejectPolicy())
        return conn

    def testinfra(self, config_path: Path) -> Any:
        """A testinfra host over OpenSSH (which honours the pinned known_hosts). Checks
        need root: a machine entered as another user (vagrant) runs them under sudo."""
        import testinfra

        return testinfra.get_host(
            f"ssh://{self.alias}", ssh_config=str(config_path), sudo=self.user != "root"
        )

    def close_master(self, config_path: Path) -> None:
        """End the OpenSSH master connection we may have started (never leave one)."""
        if self.control_dir and config_path.exists():
            subprocess.run(
                ["ssh", "-F", str(config_path), "-O", "exit", self.alias],
                capture_output=True,
                timeout=10,
            )


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
