"""Room mode: one lab per student on one server, each reachable only with that
student's own key. The roster (FWLAB_HOME/workshop/roster.json) lists every
student's lab and ssh_config entry.

Isolation comes from the lab network itself: a lab reaches nothing beyond its own
wan namespace (not the server, not another lab), and a student's key is
authorised on their own lab only.
"""

from __future__ import annotations

import json
import shlex
import shutil
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Callable

from harness import paths
from harness.errors import UsageError
from harness.providers import Provider
from harness.provision import provision
from harness.ssh import SshEndpoint, generate_keypair
from harness.workshop import Workshop

Say = Callable[[str], None]


@dataclass
class Student:
    name: str  # also the lab's name
    ssh_config: str  # path of the student's own ssh_config entry
    key: str  # the student's private key


def folder() -> Path:
    return paths.home() / "workshop"


def roster_path() -> Path:
    return folder() / "roster.json"


def load_roster() -> tuple[str, str, list[Student]]:
    """(lab, provider, students) of the running workshop."""
    if not roster_path().exists():
        raise UsageError("no workshop is running (fwlab workshop up --students N)")
    data = json.loads(roster_path().read_text())
    return data["lab"], data["provider"], [Student(**s) for s in data["students"]]


def up(provider: Provider, workshop: Workshop, students: int, say: Say, parallel: int = 2) -> Path:
    if roster_path().exists():
        raise UsageError("a workshop is already running (fwlab workshop down first)")
    if students < 1:
        raise UsageError("--students must be at least 1")
    names = [f"student-{i}" for i in range(1, students + 1)]
    taken = [m.name for m in provider.list() if m.name in names]
    if taken:
        raise UsageError(f"lab name {taken[0]!r} is already taken (fwlab down {taken[0]})")
    folder().mkdir(parents=True, exist_ok=True)
    # The roster is written first, so `workshop down` can always find every lab.
    roster = [
        Student(n, str(folder() / n / "ssh_config"), str(folder() / n / "id_ed25519"))
        for n in names
    ]
    _write_roster(workshop.lab, provider.name, roster)
    try:
        with ThreadPoolExecutor(max_workers=parallel) as pool:
            for student in pool.map(lambda s: _bring_up(provider, workshop, s, say), roster):
                say(f"{student.name}: ready (ssh -F {student.ssh_config} {student.name})")
    except BaseException:  # Ctrl-C included: a half-made room is removed whole
        say("workshop up failed: removing every lab it made")
        down(provider, say)
        raise
    return roster_path()


def _bring_up(provider: Provider, workshop: Workshop, student: Student, say: Say) -> Student:
    machine = provider.up(student.name)
    assert machine.ssh is not None and machine.ssh_config_path is not None
    conn = machine.ssh.fabric(machine.ssh_config_path)
    try:
        provision(conn, workshop.start["docker"], workshop.start["firewalld"])
        Path(student.key).parent.mkdir(parents=True, exist_ok=True)
        public = generate_keypair(Path(student.key), f"fwlab-{student.name}")
        conn.run(
            f"sh -c {shlex.quote(f'echo {shlex.quote(public)} >> /root/.ssh/authorized_keys')}",
            hide=True,
            in_stream=False,
        )
    finally:
        conn.close()
    # The student's entry: the lab's endpoint with the student's own key and a copy of
    # the pinned host key, no shared master: the student's folder is all they need.
    known_hosts = Path(student.key).with_name("known_hosts")
    shutil.copyfile(machine.ssh.known_hosts, known_hosts)
    entry: SshEndpoint = replace(
        machine.ssh, identity_file=student.key, known_hosts=str(known_hosts), control_dir=""
    )
    entry.write(Path(student.ssh_config))
    say(f"{student.name}: provisioned as {workshop.start}")
    return student


def down(provider: Provider, say: Say) -> list[str]:
    _lab, _provider, students = load_roster()
    removed = []
    for student in students:
        if provider.status(student.name).status != "absent":
            removed += provider.down(student.name)
            say(f"{student.name}: lab removed")
    shutil.rmtree(folder())
    removed.append(f"workshop folder {folder()}")
    return removed


def _write_roster(lab: str, provider: str, students: list[Student]) -> None:
    data = {"lab": lab, "provider": provider, "students": [asdict(s) for s in students]}
    roster_path().write_text(json.dumps(data, indent=2) + "\n")
