"""The probe scaffold with a fake host: one command surveys the machine; kept containers
are reused only when identical, and never another lab's; a kept scaffold is not torn down."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import pytest

from harness.checks.probe import Http, mac_for
from harness.checks.scaffold import Scaffold, ScaffoldError
from tests.unit.factories import Out

IMAGE = "fwlab/probe:abc123"
SRV = "172.18.0.2"


@dataclass
class FakeHost:
    """A lab machine's docker: `listed` is what `docker ps -a` shows of the scaffold."""

    listed: list[str] = field(default_factory=list)
    images: str = IMAGE
    commands: list[str] = field(default_factory=list)

    def run(self, cmd: str) -> Out:
        self.commands.append(cmd)
        if cmd.startswith("docker images"):
            return Out(stdout=f"{self.images}\n---\n" + "\n".join(self.listed))
        if cmd.startswith("docker inspect -f '{{.Name}} {{.State.Pid}}'"):
            names = cmd.split("'")[-1].split()
            return Out(stdout="".join(f"/{n} {0 if 'gone' in n else 4000 + i}\n"
                                      for i, n in enumerate(names)))  # fmt: skip
        if cmd.startswith("docker inspect"):
            return Out(stdout=f"{SRV} ")
        return Out()

    def runs(self) -> list[str]:
        """The names of the containers started."""
        return [re.search(r"--name (\S+)", c)[1] for c in self.commands if "docker run" in c]  # type: ignore[index]


def spec_label_of(host: FakeHost, name: str) -> str:
    started = next(c for c in host.commands if f"--name {name} " in c)
    return re.search(r"--label=fwlab.spec=(\w+)", started)[1]  # type: ignore[index]


def test_one_command_finds_the_image_and_a_throwaway_scaffold_is_torn_down() -> None:
    host = FakeHost()
    scaffold = Scaffold(host, lab="docker-firewalld")
    assert scaffold.image == IMAGE and len(host.commands) == 1
    scaffold.start()
    assert sorted(host.runs()) == ["fwlab-srv", "fwlab-srv0"]
    assert scaffold.address("fwlab-srv") == SRV
    scaffold.teardown()
    removed = host.commands[-1].split()
    assert removed[:3] == ["docker", "rm", "-f"] and set(removed[3:]) == {"fwlab-srv", "fwlab-srv0"}


def test_no_probe_image_is_an_error() -> None:
    with pytest.raises(ScaffoldError, match="no fwlab/probe image"):
        Scaffold(FakeHost(images=""))


def test_a_kept_scaffold_is_reused_when_identical_and_stays() -> None:
    first = FakeHost()
    kept = Scaffold(first, lab="docker-firewalld", keep=True)
    kept.start()
    name, mac = kept.client("egress-ip", Http("http://203.0.113.10/"))
    assert (name, mac) == ("fwlab-cli-egress-ip", mac_for("egress-ip"))
    assert f"--mac-address {mac}" in next(c for c in first.commands if "--name fwlab-cli" in c)
    kept.teardown()
    assert not any(c.startswith("docker rm") for c in first.commands)  # nothing removed

    listed = [
        f"{n} running docker-firewalld {spec_label_of(first, n)}"
        for n in ("fwlab-srv0", "fwlab-srv", "fwlab-cli-egress-ip")
    ]
    again = FakeHost(listed=listed)
    reused = Scaffold(again, lab="docker-firewalld", keep=True)
    reused.start()
    reused.client("egress-ip", Http("http://203.0.113.10/"))
    assert again.runs() == []  # every container reused: no docker run at all
    assert reused.pace == 1.0  # nothing started, so nothing measured the machine's pace


def test_a_kept_container_that_differs_or_is_another_labs_is_replaced() -> None:
    listed = [
        "fwlab-srv0 running docker-firewalld 000000000000",  # made with other options
        "fwlab-srv running published-ports 111111111111",  # another lab's
        "fwlab-cli-old exited docker-firewalld 222222222222",  # not running
    ]
    host = FakeHost(listed=listed)
    scaffold = Scaffold(host, lab="docker-firewalld", keep=True)
    assert host.commands[1] == "docker rm -f fwlab-srv fwlab-cli-old"  # at once, by survey
    scaffold.start()
    assert sorted(host.runs()) == ["fwlab-srv", "fwlab-srv0"]
    assert "docker rm -f fwlab-srv0" in host.commands  # the differing one, before its run


def test_the_clients_processes_in_one_command() -> None:
    host = FakeHost()
    scaffold = Scaffold(host, lab="docker-firewalld")
    assert scaffold.pids(["fwlab-cli-a", "fwlab-cli-b"]) == {
        "fwlab-cli-a": 4000,
        "fwlab-cli-b": 4001,
    }
    assert len(host.commands) == 2
    with pytest.raises(ScaffoldError, match="fwlab-cli-gone not running"):
        scaffold.pids(["fwlab-cli-a", "fwlab-cli-gone"])  # a stopped container's Pid is 0
