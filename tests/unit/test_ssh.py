"""harness.ssh: the ssh_config entry every provider hands back, and key generation."""

from __future__ import annotations

import dataclasses
import shutil
import stat
from pathlib import Path

import pytest

from harness import ssh
from harness.errors import FwlabError
from harness.ssh import SshEndpoint, generate_keypair

PINNED = SshEndpoint(
    alias="t1",
    hostname="100.127.0.2",
    user="root",
    port=22,
    identity_file="/var/lib/fwlab/labs/t1/id_ed25519",
    known_hosts="/var/lib/fwlab/labs/t1/known_hosts",
    control_dir="/var/lib/fwlab/labs/t1",
)
UNPINNED = SshEndpoint(
    alias="default",
    hostname="127.0.0.1",
    user="vagrant",
    port=2222,
    identity_file="/home/x/.vagrant/machines/default/virtualbox/private_key",
)

VAGRANT_SSH_CONFIG = """\
Host default
  HostName 127.0.0.1
  User vagrant
  Port 2222
  UserKnownHostsFile /dev/null
  StrictHostKeyChecking no
  PasswordAuthentication no
  IdentityFile /home/x/.vagrant/machines/default/virtualbox/private_key
  IdentitiesOnly yes
  LogLevel FATAL

"""


def options(text: str) -> dict[str, str]:
    """ssh_config option -> value (first occurrence), the Host line included."""
    found: dict[str, str] = {}
    for line in text.splitlines():
        if line.strip():
            key, _, value = line.strip().partition(" ")
            found.setdefault(key, value)
    return found


# -- render -------------------------------------------------------------------------------
def test_render_pinned_endpoint() -> None:
    text = PINNED.render()
    assert text.startswith("Host t1\n")
    assert text.endswith("\n")
    opts = options(text)
    assert opts["HostName"] == "100.127.0.2"
    assert opts["User"] == "root"
    assert opts["Port"] == "22"
    assert opts["IdentityFile"] == "/var/lib/fwlab/labs/t1/id_ed25519"
    assert opts["IdentitiesOnly"] == "yes"
    assert opts["PasswordAuthentication"] == "no"
    assert opts["BatchMode"] == "yes"
    assert opts["UserKnownHostsFile"] == "/var/lib/fwlab/labs/t1/known_hosts"
    assert opts["StrictHostKeyChecking"] == "yes"
    assert opts["ControlMaster"] == "auto"
    assert opts["ControlPath"] == "/var/lib/fwlab/labs/t1/ssh-%C"
    assert opts["ControlPersist"] == "120s"
    # Options belong to the Host entry: every line after the first is indented.
    assert all(line.startswith("  ") for line in text.splitlines()[1:])


def test_render_without_known_hosts_does_not_pin() -> None:
    opts = options(UNPINNED.render())
    assert opts["UserKnownHostsFile"] == "/dev/null"
    assert opts["StrictHostKeyChecking"] == "no"
    assert opts["Port"] == "2222"


def test_control_path_only_with_a_control_dir() -> None:
    assert "ControlPath" not in UNPINNED.render()
    assert "ControlMaster" not in UNPINNED.render()
    no_control = dataclasses.replace(PINNED, control_dir="")
    assert "ControlPath" not in no_control.render()
    assert "ControlPath" in PINNED.render()


def test_each_option_appears_once() -> None:
    for endpoint in (PINNED, UNPINNED):
        keys = [line.split()[0] for line in endpoint.render().splitlines()]
        assert len(keys) == len(set(keys))


# -- parse --------------------------------------------------------------------------------
@pytest.mark.parametrize("endpoint", [UNPINNED, dataclasses.replace(PINNED, control_dir="")])
def test_parse_round_trips_render(endpoint: SshEndpoint) -> None:
    assert SshEndpoint.parse(endpoint.render()) == endpoint


def test_parse_keeps_everything_but_the_control_dir() -> None:
    # ControlPath is not read back: a parsed endpoint never owns a master socket.
    assert SshEndpoint.parse(PINNED.render()) == dataclasses.replace(PINNED, control_dir="")


def test_parse_vagrant_ssh_config() -> None:
    endpoint = SshEndpoint.parse(VAGRANT_SSH_CONFIG)
    assert endpoint == UNPINNED
    assert endpoint.alias == "default"
    assert endpoint.hostname == "127.0.0.1"
    assert endpoint.user == "vagrant"
    assert endpoint.port == 2222
    assert endpoint.identity_file == ("/home/x/.vagrant/machines/default/virtualbox/private_key")
    assert endpoint.known_hosts == ""  # /dev/null: nothing pinned
    assert endpoint.control_dir == ""


def test_parse_vagrant_ssh_config_then_render_is_usable() -> None:
    opts = options(SshEndpoint.parse(VAGRANT_SSH_CONFIG).render())
    assert opts["Host"] == "default"
    assert opts["HostName"] == "127.0.0.1"
    assert opts["StrictHostKeyChecking"] == "no"


def test_parse_picks_the_named_alias() -> None:
    # Several entries: the caller names one (without `alias` the pick is arbitrary).
    text = PINNED.render() + "\n" + UNPINNED.render()
    assert SshEndpoint.parse(text, alias="default") == UNPINNED
    assert SshEndpoint.parse(text, alias="t1") == dataclasses.replace(PINNED, control_dir="")


def test_parse_defaults() -> None:
    endpoint = SshEndpoint.parse("Host lab\n")
    assert endpoint == SshEndpoint("lab", "lab", "root", 22, "", "")


@pytest.mark.parametrize("text", ["", "# nothing\n", "Host *\n  User root\n"])
def test_parse_without_a_host_entry(text: str) -> None:
    with pytest.raises(FwlabError, match="no Host entry"):
        SshEndpoint.parse(text)


def test_write_makes_a_private_file(tmp_path: Path) -> None:
    path = PINNED.write(tmp_path / "ssh_config")
    assert path.read_text() == PINNED.render()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_close_master_runs_nothing_without_a_master(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_ssh(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"ssh started: {args}")

    monkeypatch.setattr(ssh.subprocess, "run", no_ssh)
    # No ControlPath: nothing to close.
    UNPINNED.close_master(UNPINNED.write(tmp_path / "ssh_config"))
    # A ControlPath, but the config file is gone: nothing to talk to.
    PINNED.close_master(tmp_path / "absent")


# -- keys ---------------------------------------------------------------------------------
needs_keygen = pytest.mark.skipif(shutil.which("ssh-keygen") is None, reason="needs ssh-keygen")


@needs_keygen
def test_generate_keypair(tmp_path: Path) -> None:
    key = tmp_path / "id_ed25519"
    line = generate_keypair(key, "fwlab-t1")
    assert line.startswith("ssh-ed25519 ")
    assert line.endswith(" fwlab-t1")
    assert len(line.split()) == 3
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert "PRIVATE KEY" in key.read_text()
    assert (tmp_path / "id_ed25519.pub").read_text().strip() == line


@needs_keygen
def test_generate_keypair_keeps_an_existing_key(tmp_path: Path) -> None:
    key = tmp_path / "id_ed25519"
    first = generate_keypair(key, "fwlab-t1")
    key.chmod(0o644)
    again = generate_keypair(key, "another-comment")
    assert again == first
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
