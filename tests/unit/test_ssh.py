"""harness.ssh: the ssh_config entry every provider hands back, and key generation."""

from __future__ import annotations

import shutil
import stat
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import paramiko
import pytest
import testinfra

from harness import ssh
from harness.errors import FwlabError
from harness.ssh import SshEndpoint, generate_keypair
from harness.ssh import run as ssh_run
from harness.util import wait_for
from tests.unit.ssh_server import SshServer

PINNED = SshEndpoint(
    alias="t1",
    hostname="100.127.0.2",
    user="root",
    port=22,
    identity_file="/var/lib/fwlab/labs/t1/id_ed25519",
    known_hosts="/var/lib/fwlab/labs/t1/known_hosts",
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
    assert "ControlMaster" not in opts  # paramiko is the one transport: no OpenSSH masters
    # Options belong to the Host entry: every line after the first is indented.
    assert all(line.startswith("  ") for line in text.splitlines()[1:])


def test_render_without_known_hosts_does_not_pin() -> None:
    opts = options(UNPINNED.render())
    assert opts["UserKnownHostsFile"] == "/dev/null"
    assert opts["StrictHostKeyChecking"] == "no"
    assert opts["Port"] == "2222"


def test_each_option_appears_once() -> None:
    for endpoint in (PINNED, UNPINNED):
        keys = [line.split()[0] for line in endpoint.render().splitlines()]
        assert len(keys) == len(set(keys))


# -- parse --------------------------------------------------------------------------------
@pytest.mark.parametrize("endpoint", [UNPINNED, PINNED])
def test_parse_round_trips_render(endpoint: SshEndpoint) -> None:
    assert SshEndpoint.parse(endpoint.render()) == endpoint


def test_parse_reads_back_what_render_wrote() -> None:
    assert SshEndpoint.parse(PINNED.render()) == PINNED


def test_parse_vagrant_ssh_config() -> None:
    endpoint = SshEndpoint.parse(VAGRANT_SSH_CONFIG)
    assert endpoint == UNPINNED
    assert endpoint.alias == "default"
    assert endpoint.hostname == "127.0.0.1"
    assert endpoint.user == "vagrant"
    assert endpoint.port == 2222
    assert endpoint.identity_file == ("/home/x/.vagrant/machines/default/virtualbox/private_key")
    assert endpoint.known_hosts == ""  # /dev/null: nothing pinned


def test_parse_vagrant_ssh_config_then_render_is_usable() -> None:
    opts = options(SshEndpoint.parse(VAGRANT_SSH_CONFIG).render())
    assert opts["Host"] == "default"
    assert opts["HostName"] == "127.0.0.1"
    assert opts["StrictHostKeyChecking"] == "no"


def test_parse_picks_the_named_alias() -> None:
    # Several entries: the caller names one (without `alias` the pick is arbitrary).
    text = PINNED.render() + "\n" + UNPINNED.render()
    assert SshEndpoint.parse(text, alias="default") == UNPINNED
    assert SshEndpoint.parse(text, alias="t1") == PINNED


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


# -- the one transport: paramiko, through a real (test) SSH server -----------------------
@pytest.fixture
def server(tmp_path: Path):  # type: ignore[no-untyped-def]
    srv = SshServer(tmp_path)
    yield srv
    srv.stop()


def endpoint_for(server: SshServer, tmp_path: Path, pin: bool = True) -> SshEndpoint:
    known = tmp_path / "known_hosts"
    known.write_text(server.known_hosts_line())
    return SshEndpoint(
        "t1", "127.0.0.1", "root", server.port, str(server.client_key_path),
        known_hosts=str(known) if pin else "",
    )  # fmt: skip


def test_commands_run_with_stdout_stderr_and_status(server: SshServer, tmp_path: Path) -> None:
    client = endpoint_for(server, tmp_path).connect()
    try:
        out = ssh_run(client, "echo out; echo err >&2; exit 3")
        assert (out.rc, out.stdout, out.stderr) == (3, "out\n", "err\n")
        big = ssh_run(client, "head -c 300000 /dev/zero | tr '\\0' x >&2; echo done")
        assert big.stdout == "done\n" and len(big.stderr) == 300000  # no deadlock on stderr
    finally:
        client.close()


def test_a_command_that_hangs_is_bounded(server: SshServer, tmp_path: Path) -> None:
    client = endpoint_for(server, tmp_path).connect()
    try:
        with pytest.raises(FwlabError, match="did not finish within 1 s"):
            ssh_run(client, "sleep 5", timeout=1)
    finally:
        client.close()


def test_sessions_past_the_servers_limit_wait_for_a_free_one(tmp_path: Path) -> None:
    """Like sshd at MaxSessions: more commands at once than the server serves all run."""
    server = SshServer(tmp_path, max_sessions=2)
    client = endpoint_for(server, tmp_path).connect()
    try:
        with ThreadPoolExecutor(max_workers=6) as pool:
            outs = list(pool.map(lambda i: ssh_run(client, f"sleep 0.3; echo {i}"), range(6)))
        assert [o.stdout for o in outs] == [f"{i}\n" for i in range(6)]
    finally:
        client.close()
        server.stop()


def test_a_server_with_no_session_free_is_a_bounded_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ssh, "SESSION_WAIT", 0.5)
    server = SshServer(tmp_path, max_sessions=1)
    client = endpoint_for(server, tmp_path).connect()
    try:
        flag = tmp_path / "holding"
        with ThreadPoolExecutor(max_workers=1) as pool:
            held = pool.submit(ssh_run, client, f"touch {flag}; sleep 2")
            wait_for("the first command to hold the only session", flag.exists, 10)
            with pytest.raises(FwlabError, match="no session free for 0.5 s"):
                ssh_run(client, "true")
            assert held.result().rc == 0
    finally:
        client.close()
        server.stop()


def test_the_host_key_is_pinned(server: SshServer, tmp_path: Path) -> None:
    endpoint = endpoint_for(server, tmp_path)
    other = paramiko.RSAKey.generate(2048)
    Path(endpoint.known_hosts).write_text(
        f"[127.0.0.1]:{server.port} {other.get_name()} {other.get_base64()}\n"
    )
    with pytest.raises(paramiko.SSHException):
        endpoint.connect()
    assert not endpoint.answers(timeout=3)


def test_testinfra_checks_go_through_the_same_transport(server: SshServer, tmp_path: Path) -> None:
    config = endpoint_for(server, tmp_path).write(tmp_path / "ssh_config")
    host = testinfra.get_host("fwlab://t1", ssh_config=str(config))
    assert host.run("echo $((6 * 7))").stdout.strip() == "42"
    assert host.file("/").is_directory  # testinfra's own modules work over it


def test_fabric_goes_through_the_same_transport(server: SshServer, tmp_path: Path) -> None:
    conn = endpoint_for(server, tmp_path).fabric()
    try:
        assert conn.run("echo fabric", hide=True, in_stream=False).stdout == "fabric\n"
    finally:
        conn.close()


def test_netns_backend_prefixes_commands(monkeypatch: pytest.MonkeyPatch) -> None:
    import subprocess

    seen = []

    def fake_run(argv, **kwargs):  # type: ignore[no-untyped-def]
        seen.append(argv)
        return subprocess.CompletedProcess(argv, 0, b"ok\n", b"")

    monkeypatch.setattr("harness.ssh.subprocess.run", fake_run)
    host = testinfra.get_host("netns://fwlab-x-wan")
    assert host.run("busybox wget -q -O - http://10.0.2.15/").stdout == "ok\n"
    assert seen[0][:5] == ["ip", "netns", "exec", "fwlab-x-wan", "sh"]
