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

from harness import paths, pipeline, workshop
from harness.errors import FwlabError, UsageError
from harness.providers import Provider, get_provider
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
    try:
        data = json.loads(roster_path().read_text())
        return data["lab"], data["provider"], [Student(**s) for s in data["students"]]
    except (ValueError, KeyError, TypeError, UnicodeDecodeError) as exc:
        raise UsageError(
            f"{roster_path()} is damaged ({type(exc).__name__}); remove the labs with "
            "`fwlab gc` and the file by hand"
        ) from None


def up(
    provider: Provider, ws: Workshop, students: int, say: Say, parallel: int | None = None
) -> Path:
    from harness.hostlimits import preflight
    from harness.matrix import default_parallel

    if roster_path().exists():
        raise UsageError("a workshop is already running (fwlab workshop down first)")
    names = [f"student-{i}" for i in range(1, students + 1)]
    taken = [m.name for m in provider.list() if m.name in names]
    if taken:
        raise UsageError(f"lab name {taken[0]!r} is already taken (fwlab down {taken[0]})")
    preflight(provider, students)
    parallel = parallel or default_parallel(provider, students)
    folder().mkdir(parents=True, exist_ok=True)
    # The roster is written first, so `workshop down` can always find every lab.
    roster = [
        Student(n, str(folder() / n / "ssh_config"), str(folder() / n / "id_ed25519"))
        for n in names
    ]
    data = {
        "lab": str(ws.lab.path),
        "provider": provider.name,
        "students": [asdict(s) for s in roster],
    }
    roster_path().write_text(json.dumps(data, indent=2) + "\n")
    try:
        with ThreadPoolExecutor(max_workers=parallel) as pool:
            for student in pool.map(lambda s: _bring_up(provider, ws, s, say), roster):
                say(f"{student.name}: ready (ssh -F {student.ssh_config} {student.name})")
    except BaseException:  # Ctrl-C included: a half-made room is removed whole
        say("workshop up failed: removing every lab it made")
        down(say)
        raise
    return roster_path()


def _bring_up(provider: Provider, ws: Workshop, student: Student, say: Say) -> Student:
    machine, _report = pipeline.bring_up(provider, student.name, ws.recipe(), ephemeral=False)
    assert machine.ssh is not None
    Path(student.key).parent.mkdir(parents=True, exist_ok=True)
    public = generate_keypair(Path(student.key), f"fwlab-{student.name}")
    conn = machine.ssh.fabric()
    try:
        line = f"echo {shlex.quote(public)} >> /root/.ssh/authorized_keys"
        conn.run(f"sh -c {shlex.quote(line)}", hide=True, in_stream=False)
    finally:
        conn.close()
    # The student's entry: the lab's endpoint with the student's own key and a copy of the
    # pinned host key: the student's folder is all they need.
    known_hosts = Path(student.key).with_name("known_hosts")
    shutil.copyfile(machine.ssh.known_hosts, known_hosts)
    entry: SshEndpoint = replace(
        machine.ssh, identity_file=student.key, known_hosts=str(known_hosts)
    )
    entry.write(Path(student.ssh_config))
    say(f"{student.name}: provisioned as {ws.start}")
    return student


def status() -> list[tuple[str, str, str, str]]:
    """(student, machine status, checkpoints passed, now at) for everyone."""
    lab, provider_name, students = load_roster()
    ws = workshop.load(lab)
    provider = get_provider(provider_name)
    rows = []
    for student in students:
        machine = provider.status(student.name)
        if machine.status != "running":
            rows.append((student.name, machine.status, "-", "-"))
            continue
        try:
            done = workshop.progress(workshop.Target(provider, machine, ws))
        except FwlabError as exc:
            rows.append((student.name, machine.status, "?", f"cannot tell: {exc}"))
            continue
        nxt = next((s for s in ws.steps if s.number not in done), None)
        rows.append((
            student.name,
            machine.status,
            f"{len(done)}/{len(ws.steps)} {done}",
            f"{nxt.number}. {nxt.title}" if nxt else "finished",
        ))  # fmt: skip
    return rows


def down(say: Say) -> list[str]:
    _lab, provider_name, students = load_roster()
    provider = get_provider(provider_name)
    removed = []
    for student in students:
        if provider.status(student.name).status != "absent":
            removed += provider.down(student.name)
            say(f"{student.name}: lab removed")
    shutil.rmtree(folder())
    removed.append(f"workshop folder {folder()}")
    return removed
