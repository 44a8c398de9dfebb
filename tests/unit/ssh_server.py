"""A small SSH server for unit tests (paramiko's server side, on 127.0.0.1): it accepts
one public key and runs each exec request with /bin/sh, so the real client code
(SshEndpoint, the fwlab:// testinfra backend, Fabric) can be tested without root. Like
sshd's MaxSessions, `max_sessions` refuses sessions past that many at once."""

from __future__ import annotations

import socket
import subprocess
import threading
from pathlib import Path

import paramiko


class _Server(paramiko.ServerInterface):
    def __init__(self, allowed: paramiko.PKey, max_sessions: int | None = None):
        self.allowed = allowed
        self.command: bytes = b""
        self.event = threading.Event()
        self.sessions = threading.Semaphore(max_sessions) if max_sessions else None

    def check_auth_publickey(self, username: str, key: paramiko.PKey) -> int:
        return paramiko.AUTH_SUCCESSFUL if key == self.allowed else paramiko.AUTH_FAILED

    def get_allowed_auths(self, username: str) -> str:
        return "publickey"

    def check_channel_request(self, kind: str, chanid: int) -> int:
        if kind != "session":
            return paramiko.OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED
        if self.sessions is not None and not self.sessions.acquire(blocking=False):
            return paramiko.OPEN_FAILED_CONNECT_FAILED  # as sshd says past MaxSessions
        return paramiko.OPEN_SUCCEEDED

    def check_channel_exec_request(self, channel: paramiko.Channel, command: bytes) -> bool:
        threading.Thread(target=self._exec, args=(channel, command), daemon=True).start()
        return True

    def _exec(self, channel: paramiko.Channel, command: bytes) -> None:
        proc = subprocess.run(["/bin/sh", "-c", command.decode()], capture_output=True)
        channel.sendall(proc.stdout)
        channel.sendall_stderr(proc.stderr)
        channel.send_exit_status(proc.returncode)
        channel.close()
        if self.sessions is not None:
            self.sessions.release()


class SshServer:
    """Serve on 127.0.0.1:<port> until stop(); `host_key` is what clients must pin."""

    def __init__(self, tmp: Path, max_sessions: int | None = None):
        self.max_sessions = max_sessions
        self.host_key = paramiko.RSAKey.generate(2048)
        self.client_key_path = tmp / "id_test"
        client_key = paramiko.RSAKey.generate(2048)
        client_key.write_private_key_file(str(self.client_key_path))
        self.client_key = client_key
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.transports: list[paramiko.Transport] = []
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            transport = paramiko.Transport(conn)
            transport.add_server_key(self.host_key)
            try:
                transport.start_server(server=_Server(self.client_key, self.max_sessions))
            except (paramiko.SSHException, OSError, EOFError):
                # A client that hung up mid-handshake (a refused host key, a probe that
                # only knocks) ends its own connection, not the server.
                transport.close()
                continue
            self.transports.append(transport)

    def known_hosts_line(self) -> str:
        return f"[127.0.0.1]:{self.port} {self.host_key.get_name()} {self.host_key.get_base64()}\n"

    def stop(self) -> None:
        self.sock.close()
        for transport in self.transports:
            transport.close()
