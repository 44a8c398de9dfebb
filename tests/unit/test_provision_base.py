"""Recipe's shared firewalld steps, against Fabric's own mocked SSH remote; and what
harness.provision makes of a machine's facts: its report, its probe image.

Each test scripts the remote with fabric.testing.base.Command objects, in the
order the recipe must send them; MockRemote hands one mocked channel per
command, and we compare the commands actually executed with the script.
"""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path
from typing import Callable

import pytest
from fabric.testing.base import Command

from harness.errors import FwlabError
from harness.models import Layer
from harness.provision import (
    FACTS,
    Facts,
    ensure_probe_image,
    firewalld_layer,
    inspect,
    provision,
    report_of,
)
from harness.provision.base import DOCKER_VERSIONS, FIREWALLD_STATES, ProvisionError, Recipe
from harness.provision.probe_image import LocalRoot, build, tag_for
from tests.unit.scripted_remote import (
    BOOKWORM,
    FACTS_COMMAND,
    FACTS_KEYS,
    FakeSFTP,
    facts_output,
    run_on_connection,
    run_recipe,
    write_machine_files,
)


class TinyRecipe(Recipe):
    os_ids = ("test",)

    def install_docker(self, version: str) -> bool:
        return False


def run_scripted(
    script: list[Command],
    action: Callable[[Recipe], object],
    user: str = "root",
    recipe_cls: type[Recipe] = TinyRecipe,
) -> object:
    """Run action(recipe) against a remote that expects exactly `script`, in order."""
    return run_recipe(script, recipe_cls, action, user).result


def cmd(command: str, exit: int = 0, out: str = "", err: str = "") -> Command:
    return Command(command, out=out.encode(), err=err.encode(), exit=exit)


IS_ACTIVE = "systemctl is-active --quiet firewalld"
IS_ENABLED = "systemctl is-enabled --quiet firewalld"


def test_on_from_stopped_starts_firewalld_then_restarts_docker():
    script = [
        cmd(IS_ACTIVE, exit=3),
        cmd("systemctl enable --now firewalld"),
        cmd("systemctl restart docker"),
    ]
    assert run_scripted(script, lambda r: r.apply_firewalld("on")) is True


def test_on_when_already_on_only_looks():
    script = [cmd(IS_ACTIVE)]
    assert run_scripted(script, lambda r: r.apply_firewalld("on")) is False


def test_on_when_already_on_can_force_a_docker_restart():
    script = [cmd(IS_ACTIVE), cmd("systemctl restart docker")]
    # The return value is left unasserted: today it is False although docker restarted.
    run_scripted(script, lambda r: r.apply_firewalld("on", force_docker_restart=True))


NAT_CHAIN = "iptables -w 5 -t nat -n -L DOCKER"
FILTER_CHAIN = "iptables -w 5 -t filter -n -L DOCKER"


def test_docker_keeps_its_chains_untouched():
    script = [cmd(NAT_CHAIN), cmd(FILTER_CHAIN)]
    assert run_scripted(script, lambda r: r.ensure_docker_chains()) is False


def test_docker_that_lost_its_chains_to_firewalld_starting_is_restarted():
    script = [cmd(NAT_CHAIN, exit=1), cmd("systemctl restart docker")]
    assert run_scripted(script, lambda r: r.ensure_docker_chains()) is True


def test_off_from_running_disables_firewalld_then_restarts_docker():
    script = [
        cmd(IS_ACTIVE),
        cmd("systemctl disable --now firewalld"),
        cmd("systemctl restart docker"),
    ]
    assert run_scripted(script, lambda r: r.apply_firewalld("off")) is True


def test_off_from_stopped_but_enabled_disables_it():
    script = [
        cmd(IS_ACTIVE, exit=3),
        cmd(IS_ENABLED),
        cmd("systemctl disable --now firewalld"),
        cmd("systemctl restart docker"),
    ]
    assert run_scripted(script, lambda r: r.apply_firewalld("off")) is True


def test_off_when_already_off_only_looks():
    script = [cmd(IS_ACTIVE, exit=3), cmd(IS_ENABLED, exit=1)]
    assert run_scripted(script, lambda r: r.apply_firewalld("off")) is False


def test_stopped_no_restart_from_stopped_goes_through_on_first():
    script = [
        cmd(IS_ACTIVE, exit=3),
        cmd("systemctl enable --now firewalld"),
        cmd("systemctl restart docker"),
        cmd("systemctl stop firewalld"),
    ]
    assert run_scripted(script, lambda r: r.apply_firewalld("stopped-no-restart")) is True


def test_stopped_no_restart_from_running_just_stops_firewalld():
    script = [cmd(IS_ACTIVE), cmd("systemctl stop firewalld")]
    assert run_scripted(script, lambda r: r.apply_firewalld("stopped-no-restart")) is True


def test_unknown_state_sends_nothing():
    with pytest.raises(ProvisionError, match="unknown firewalld state 'maybe'"):
        run_scripted([], lambda r: r.apply_firewalld("maybe"))


def test_sudo_when_not_root():
    script = [
        cmd(IS_ACTIVE, exit=3),
        cmd("systemctl enable --now firewalld"),
        cmd("systemctl restart docker"),
    ]
    assert run_scripted(script, lambda r: r.apply_firewalld("on"), user="vagrant") is True


def test_sh_failure_raises_with_the_tail_of_the_output():
    err = "".join(f"line {i}\n" for i in range(10))
    script = [cmd("systemctl enable --now firewalld", exit=5, err=err)]
    with pytest.raises(ProvisionError) as excinfo:
        run_scripted(script, lambda r: r.sh("systemctl enable --now firewalld"))
    message = str(excinfo.value)
    assert message.startswith("`systemctl enable --now firewalld` exited 5: ")
    assert message.endswith("line 5 | line 6 | line 7 | line 8 | line 9")


def test_ok_never_raises():
    script = [cmd("false", exit=1, err="nope\n")]
    assert run_scripted(script, lambda r: r.ok("false")) is False


# -- what every recipe has unless it says otherwise -----------------------------------
def test_defaults_stand_in_for_nothing_and_need_no_busybox_install() -> None:
    ran = run_recipe([], TinyRecipe, lambda r: (r.stood_in("19.03", "20.10.5"), r.ensure_busybox()))
    assert ran.result == (None, False)


def test_the_axes_values() -> None:
    assert DOCKER_VERSIONS == ("19.03", "20.10", "distro")
    assert FIREWALLD_STATES == ("on", "off", "stopped-no-restart")


@pytest.mark.parametrize(
    ("docker", "firewalld", "message"),
    [
        ("18.09", "on", "unknown docker version '18.09' (19.03, 20.10, distro)"),
        ("distro", "maybe", "unknown firewalld state 'maybe' (on, off, stopped-no-restart)"),
    ],
)
def test_provision_refuses_unknown_values_before_any_command(
    docker: str, firewalld: str, message: str
) -> None:
    with pytest.raises(ProvisionError, match=re.escape(message)):
        run_on_connection([], lambda conn: provision(conn, docker, firewalld))


# -- the machine's facts, in one command ---------------------------------------------------
def test_facts_keys_are_what_facts_prints() -> None:
    assert re.findall(r'^echo "(\w+)=', FACTS, re.MULTILINE) == list(FACTS_KEYS)


STOOD_IN_TEXT = "Debian's docker.io 20.10.24+dfsg1 stands in for Docker 19.03: ..."


def facts(**values: str) -> Facts:
    return Facts.parse(facts_output(**{**BOOKWORM, **values}))


# -- report_of and firewalld_layer -----------------------------------------------------------
def test_report_of_a_stood_in_docker() -> None:
    marker = {"docker": "19.03", "stood_in": STOOD_IN_TEXT, "probe_image": "fwlab/probe:0123"}
    found = facts()
    report = report_of(found, marker, "DebianRecipe", True, ["a step"])
    assert report.docker == Layer(real=False, what=STOOD_IN_TEXT)
    assert report.stood_in_reason == STOOD_IN_TEXT
    assert report.os == "Debian GNU/Linux 12 (bookworm)"
    assert (report.recipe, report.changed, report.steps) == ("DebianRecipe", True, ["a step"])
    assert report.probe_image == "fwlab/probe:0123"
    assert report.versions == found.versions


def test_report_of_static_binaries() -> None:
    marker = {"docker": "19.03", "stood_in": "", "tarball_sha256": "ab" * 32}
    report = report_of(facts(docker="19.03.15"), marker, "DebianRecipe", False, [])
    assert report.docker == Layer(True, "Docker 19.03.15 (static binaries, sha256 abababababab)")
    assert report.stood_in_reason == ""


@pytest.mark.parametrize(
    ("marker", "values", "what"),
    [
        ({"docker_source": "Debian's docker.io"}, {}, "Docker 20.10.24+dfsg1 (Debian's docker.io)"),
        ({}, {}, "Docker 20.10.24+dfsg1 (packaged)"),  # never provisioned
        ({}, {"docker": ""}, "Docker 20.10.24+dfsg1-1+b3 (packaged)"),  # dockerd down
        ({}, {"docker": "", "docker_package": ""}, "Docker is not running"),
    ],
)
def test_report_of_a_packaged_docker(marker: dict, values: dict, what: str) -> None:
    report = report_of(facts(**values), marker, "", False, [])
    assert report.docker == Layer(True, what)
    assert report.probe_image == ""


@pytest.mark.parametrize(
    ("values", "what"),
    [
        ({}, "firewalld 1.3.3 (nftables backend), running"),
        (
            {"firewalld": "0.9.3", "firewalld_backend": "iptables", "firewalld_active": "inactive"},
            "firewalld 0.9.3 (iptables backend), stopped",
        ),
        (
            {"firewalld_backend": "", "firewalld_active": "failed"},
            "firewalld 1.3.3 (default backend), stopped",
        ),
        ({"firewalld": "", "firewalld_active": "inactive"}, "firewalld is not installed"),
    ],
)
def test_firewalld_layer(values: dict, what: str) -> None:
    layer = firewalld_layer(facts(**values))
    assert layer == Layer(real=True, what=what)
    assert report_of(facts(**values), {}, "", False, []).firewalld == layer


def test_inspect_changes_nothing_and_returns_the_marker() -> None:
    marker = {"os": "bookworm", "docker": "19.03", "firewalld": "on", "stood_in": STOOD_IN_TEXT}
    out = facts_output(**BOOKWORM, marker=json.dumps(marker))
    for user in ("root", "vagrant"):
        script = [Command(FACTS_COMMAND, out=out.encode())]
        report, found = run_on_connection(script, inspect, user=user).result
        assert found == marker
        assert report.changed is False and report.steps == [] and report.recipe == ""
        assert report.docker == Layer(False, STOOD_IN_TEXT)
        assert report.versions["os"] == "debian 12"


# -- ensure_probe_image ----------------------------------------------------------------------
class FakeConn:
    def __init__(self, sftp: FakeSFTP):
        self._sftp = sftp
        self.puts: list[tuple[str, bytes]] = []

    def sftp(self) -> FakeSFTP:
        return self._sftp

    def put(self, local: object, remote: str) -> None:
        self.puts.append((remote, local.getvalue()))  # type: ignore[attr-defined]


class FakeRecipe:
    """Records ok(), sh() and log(); docker knows the images in `images`."""

    def __init__(self, root: Path, images: tuple[str, ...] = ()):
        self.conn = FakeConn(FakeSFTP(root))
        self.images = set(images)
        self.calls: list[tuple[str, str]] = []
        self.logs: list[str] = []

    def ok(self, cmd: str) -> bool:
        self.calls.append(("ok", cmd))
        words = shlex.split(cmd)
        return words[:3] == ["docker", "image", "inspect"] and words[3] in self.images

    def sh(self, cmd: str, check: bool = True, timeout: int | None = 300) -> None:
        self.calls.append(("sh", cmd))
        if cmd.startswith("docker import "):
            self.images.add(shlex.split(cmd)[-1])

    def log(self, msg: str) -> None:
        self.logs.append(msg)


UPLOAD = "/tmp/fwlab-probe.tar"


def ensure(recipe: FakeRecipe, known: str = "") -> tuple[str, bool]:
    return ensure_probe_image(recipe, known)  # type: ignore[arg-type]


@pytest.fixture
def machine(tmp_path: Path) -> Path:
    return write_machine_files(tmp_path / "machine")


def test_probe_image_is_imported_when_missing(machine: Path) -> None:
    data = build(LocalRoot(machine))
    tag = tag_for(data)
    recipe = FakeRecipe(machine)
    assert ensure(recipe) == (tag, True)
    assert recipe.calls == [
        ("ok", f"docker image inspect {tag}"),
        ("sh", f"docker import {UPLOAD} {tag}"),
        ("sh", f"rm -f {UPLOAD}"),
    ]
    assert recipe.conn.puts == [(UPLOAD, data)]
    assert recipe.logs == [
        f"importing probe image {tag} (from the machine's own busybox and libraries)"
    ]
    assert "/bin/busybox" in recipe.conn.sftp().opened  # read from the machine

    # Next time the marker knows the tag: one question, nothing read, nothing sent.
    recipe.calls.clear()
    recipe.conn.sftp().opened.clear()
    assert ensure(recipe, tag) == (tag, False)
    assert recipe.calls == [("ok", f"docker image inspect {tag}")]
    assert recipe.conn.sftp().opened == [] and len(recipe.conn.puts) == 1


def test_probe_image_is_skipped_when_the_known_tag_is_there(machine: Path) -> None:
    recipe = FakeRecipe(machine, images=("fwlab/probe:0123456789ab",))
    known = "fwlab/probe:0123456789ab"
    assert ensure(recipe, known) == (known, False)
    assert recipe.calls == [("ok", "docker image inspect fwlab/probe:0123456789ab")]
    assert recipe.conn.puts == [] and recipe.logs == []
    assert recipe.conn.sftp().opened == []


def test_a_gone_known_tag_is_rebuilt_but_an_existing_one_not_reimported(machine: Path) -> None:
    tag = tag_for(build(LocalRoot(machine)))
    recipe = FakeRecipe(machine, images=(tag,))
    assert ensure(recipe, "fwlab/probe:gone00000000") == (tag, False)
    assert recipe.calls == [
        ("ok", "docker image inspect fwlab/probe:gone00000000"),
        ("ok", f"docker image inspect {tag}"),
    ]
    assert recipe.conn.puts == []


def test_probe_image_on_a_machine_without_busybox(tmp_path: Path) -> None:
    recipe = FakeRecipe(write_machine_files(tmp_path, {"lib64/libc.so.6": b"libc"}))
    with pytest.raises(FwlabError, match="no busybox"):
        ensure(recipe)
    assert recipe.calls == [] and recipe.conn.puts == []


# -- already provisioned: one command looks at everything -------------------------------
SETTLED_MARKER = {"docker": "20.10", "firewalld": "on", "axes": {}, "stood_in": "",
                  "tarball_sha256": "", "probe_image": "fwlab/probe:abc123"}  # fmt: skip
SETTLED = dict(
    docker="20.10.24", firewalld_active="active", probe_network="fwlab-net",
    probe_tags="abc123 ", docker0_zone="docker", docker_chains="yes",
    marker=json.dumps(SETTLED_MARKER),
)  # fmt: skip


@pytest.mark.parametrize(
    ("change", "still"),
    [
        ({}, True),
        ({"docker0_zone": "public"}, False),  # dockerd started before firewalld (sid)
        ({"firewalld_active": "inactive"}, False),
        ({"probe_tags": "zzz "}, False),  # the probe image is gone
        ({"probe_network": ""}, False),
        ({"docker": ""}, False),  # the daemon does not answer
        ({"drop_in": "yes"}, False),  # a stand-in's drop-in, but the cell is real
        ({"docker_chains": ""}, False),  # firewalld flushed them as it started (boot race)
    ],
)
def test_already_provisioned_only_when_everything_agrees(change: dict, still: bool) -> None:
    from harness.provision import already

    found = Facts.parse(facts_output(**{**BOOKWORM, **SETTLED, **change}))
    assert already(found, "20.10", "on", None, {}) is still


def test_lost_chains_do_not_matter_when_the_cell_is_losing_them() -> None:
    from harness.provision import already

    marker = json.dumps({**SETTLED_MARKER, "firewalld": "stopped-no-restart"})
    found = Facts.parse(facts_output(**{**BOOKWORM, **SETTLED, "firewalld_active": "inactive",
                                        "docker_chains": "", "marker": marker}))  # fmt: skip
    assert already(found, "20.10", "stopped-no-restart", None, {})


def test_already_provisioned_is_the_whole_cell() -> None:
    from harness.provision import already

    found = Facts.parse(facts_output(**{**BOOKWORM, **SETTLED}))
    assert not already(found, "19.03", "on", None, {})
    assert not already(found, "20.10", "off", None, {})
    assert not already(found, "20.10", "on", None, {"zone": "trusted"})
