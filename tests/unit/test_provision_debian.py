"""DebianRecipe against Fabric's own mocked SSH remote, a Debian machine's facts, recipe
selection, and `provision()` end to end on a scripted Debian machine.

As in test_provision_centos8.py: the remote is scripted with fabric.testing.base.Command
objects in the order the recipe must send them, and we compare what was executed
(and what was fed to stdin) with the script.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Callable

import pytest
from fabric.testing.base import Command

from harness.models import Layer
from harness.provision import MARKER, RECIPES, Facts, pick_recipe, provision
from harness.provision.base import ProvisionError, Recipe, write_file_command
from harness.provision.centos8 import CentOS8Recipe
from harness.provision.debian import (
    DOCKER_ZONE_FILE,
    DROP_IN,
    DROP_IN_TEXT,
    DebianRecipe,
    stood_in_19_03,
)
from harness.provision.probe_image import LocalRoot, build, tag_for
from tests.unit.scripted_remote import (
    BOOKWORM,
    FACTS_COMMAND,
    SUDO,
    FakeSFTP,
    Ran,
    facts_output,
    run_on_connection,
    run_recipe,
    write_machine_files,
)


def run_scripted(
    script: list[Command], action: Callable[[DebianRecipe], object], user: str = "root"
) -> Ran:
    """Run action(recipe) against a remote that expects exactly `script`, in order."""
    return run_recipe(script, DebianRecipe, action, user)


def cmd(command: str, exit: int = 0, out: str = "", err: str = "") -> Command:
    return Command(command, out=out.encode(), err=err.encode(), exit=exit)


# -- the commands, spelled out -------------------------------------------------
DPKG_STATUS = "dpkg-query -W -f='${Status}' docker.io"
DPKG_VERSION = "dpkg-query -W -f='${Version}' docker.io"
TEST_CLI = "test -x /usr/bin/docker"
TEST_DROP_IN = "test -f /etc/systemd/system/docker.service.d/fwlab-no-firewalld.conf"
TEST_ZONE = "test -f /etc/firewalld/zones/docker.xml"
WRITE_DROP_IN = write_file_command(DROP_IN, DROP_IN_TEXT)
DOCKER_ACTIVE = "systemctl is-active --quiet docker"
FIREWALLD_ACTIVE = "systemctl is-active --quiet firewalld"
TEST_BUSYBOX = "test -x /bin/busybox"
DOCKER_CHAINS = [cmd(f"iptables -w 5 -t {table} -n -L DOCKER") for table in ("nat", "filter")]

INSTALLED = "install ok installed"
BULLSEYE_DOCKER = "20.10.5+dfsg1-1+deb11u2"
BOOKWORM_DOCKER = "20.10.24+dfsg1-1+b3"
TRIXIE_DOCKER = "26.1.5+dfsg1-9"


def packages(version: str = BULLSEYE_DOCKER) -> list[Command]:
    """docker.io installed with its CLI (/usr/bin/docker), and its version asked."""
    return [cmd(DPKG_STATUS, out=INSTALLED), cmd(TEST_CLI), cmd(DPKG_VERSION, out=version)]


def cut_off(firewalld_active: bool = True) -> list[Command]:
    """The 19.03 stand-in's steps on a box with the drop-in absent and the zone file present."""
    return [
        cmd(TEST_DROP_IN, exit=1),
        cmd(TEST_ZONE),
        cmd(WRITE_DROP_IN),
        cmd("systemctl daemon-reload"),
        cmd("systemctl stop docker docker.socket"),
        cmd("rm -f /etc/firewalld/zones/docker.xml"),
        cmd(FIREWALLD_ACTIVE, exit=0 if firewalld_active else 3),
        *([cmd("firewall-cmd --reload")] if firewalld_active else []),
        cmd("systemctl start docker"),
    ]


#: A fresh Debian 11 box: docker.io 20.10 installed, its firewalld zone file written.
FRESH_19_03 = [*packages(), *cut_off(), cmd(DOCKER_ACTIVE)]

#: The same box after that run: only questions, no changes.
SECOND_RUN_19_03 = [*packages(), cmd(TEST_DROP_IN), cmd(TEST_ZONE, exit=1), cmd(DOCKER_ACTIVE)]


def test_constants_match_the_spelled_out_commands() -> None:
    assert f"test -f {DROP_IN}" == TEST_DROP_IN
    assert f"test -f {DOCKER_ZONE_FILE}" == TEST_ZONE
    assert DROP_IN in WRITE_DROP_IN and "fwlab: stand in" in WRITE_DROP_IN


# -- install_docker("19.03"): the stand-in ------------------------------------------
def test_fresh_debian_gets_the_19_03_stand_in() -> None:
    ran = run_scripted(FRESH_19_03, lambda r: r.install_docker("19.03"))
    assert ran.result is True
    assert ran.sent == [
        DPKG_STATUS,
        TEST_CLI,
        DPKG_VERSION,
        TEST_DROP_IN,
        TEST_ZONE,
        WRITE_DROP_IN,
        "systemctl daemon-reload",
        "systemctl stop docker docker.socket",
        "rm -f /etc/firewalld/zones/docker.xml",
        FIREWALLD_ACTIVE,
        "firewall-cmd --reload",
        "systemctl start docker",
        DOCKER_ACTIVE,
    ]
    # The drop-in's text travels as an argument of the write command, never via stdin.
    write = ran.sent.index(WRITE_DROP_IN)
    assert ran.stdin[write].decode() == ""
    assert [s for i, s in enumerate(ran.stdin) if i != write and s] == []


def test_drop_in_points_dockerd_at_a_bus_that_does_not_exist() -> None:
    assert "[Service]" in DROP_IN_TEXT
    assert "Environment=DBUS_SYSTEM_BUS_ADDRESS=unix:path=/run/fwlab-no-dbus" in DROP_IN_TEXT


def test_second_19_03_run_only_looks_and_changes_nothing() -> None:
    ran = run_scripted(SECOND_RUN_19_03, lambda r: r.install_docker("19.03"))
    assert ran.result is False


def test_19_03_with_firewalld_stopped_skips_the_reload() -> None:
    script = [*packages(BOOKWORM_DOCKER), *cut_off(firewalld_active=False), cmd(DOCKER_ACTIVE)]
    assert run_scripted(script, lambda r: r.install_docker("19.03")).result is True


def test_19_03_drop_in_present_but_zone_file_back_cuts_again() -> None:
    # e.g. a 20.10 run wrote the zone again: the whole dance is redone.
    script = [*packages(), cmd(TEST_DROP_IN), *cut_off()[1:], cmd(DOCKER_ACTIVE)]
    assert run_scripted(script, lambda r: r.install_docker("19.03")).result is True


def test_19_03_on_trixie_stands_in_with_trixies_docker_io() -> None:
    script = [*packages(TRIXIE_DOCKER), *cut_off(), cmd(DOCKER_ACTIVE)]
    assert run_scripted(script, lambda r: r.install_docker("19.03")).result is True


def test_docker_io_missing_is_installed_first() -> None:
    # Bullseye and bookworm: docker.io brings the CLI; there is no docker-cli package.
    script = [
        cmd(DPKG_STATUS, exit=1, err="dpkg-query: no packages found matching docker.io\n"),
        cmd("apt-get install -y docker.io"),
        cmd(TEST_CLI),
        cmd(DPKG_VERSION, out=BULLSEYE_DOCKER),
        cmd(TEST_DROP_IN),
        cmd(TEST_ZONE, exit=1),
        cmd(DOCKER_ACTIVE),
    ]
    assert run_scripted(script, lambda r: r.install_docker("19.03")).result is True


def test_docker_io_removed_but_not_purged_is_installed_again() -> None:
    script = [
        cmd(DPKG_STATUS, out="deinstall ok config-files"),
        cmd("apt-get install -y docker.io"),
        cmd(TEST_CLI),
        cmd(DPKG_VERSION, out=BULLSEYE_DOCKER),
        cmd(TEST_DROP_IN),
        cmd(TEST_ZONE, exit=1),
        cmd(DOCKER_ACTIVE),
    ]
    assert run_scripted(script, lambda r: r.install_docker("19.03")).result is True


def test_stopped_docker_is_started() -> None:
    script = [
        *SECOND_RUN_19_03[:-1],
        cmd(DOCKER_ACTIVE, exit=3),
        cmd("systemctl enable --now docker"),
    ]
    assert run_scripted(script, lambda r: r.install_docker("19.03")).result is True


# -- install_docker("20.10") and ("distro"): the real thing ---------------------------
# The stand-in's drop-in found and removed, and docker restarted without it.
DROP_IN_REMOVED = [
    cmd(TEST_DROP_IN),
    cmd(f"rm -f {DROP_IN}"),
    cmd("systemctl daemon-reload"),
    cmd("systemctl restart docker"),
    cmd(DOCKER_ACTIVE),
]


def test_20_10_with_the_drop_in_present_removes_it_and_restarts_docker() -> None:
    script = [*packages(), *DROP_IN_REMOVED]
    assert run_scripted(script, lambda r: r.install_docker("20.10")).result is True


def test_20_10_on_a_fresh_box_changes_nothing() -> None:
    script = [*packages(BOOKWORM_DOCKER), cmd(TEST_DROP_IN, exit=1), cmd(DOCKER_ACTIVE)]
    assert run_scripted(script, lambda r: r.install_docker("20.10")).result is False


def test_distro_on_trixie_accepts_26_1_and_installs_the_separate_cli() -> None:
    script = [
        cmd(DPKG_STATUS, out=INSTALLED),
        cmd(TEST_CLI, exit=1),
        cmd("apt-get install -y docker-cli"),
        cmd(DPKG_VERSION, out=TRIXIE_DOCKER),
        cmd(TEST_DROP_IN, exit=1),
        cmd(DOCKER_ACTIVE),
    ]
    assert run_scripted(script, lambda r: r.install_docker("distro")).result is True


def test_distro_on_a_bare_trixie_installs_docker_io_then_docker_cli() -> None:
    script = [
        cmd(DPKG_STATUS, exit=1, err="dpkg-query: no packages found matching docker.io\n"),
        cmd("apt-get install -y docker.io"),
        cmd(TEST_CLI, exit=1),
        cmd("apt-get install -y docker-cli"),
        cmd(DPKG_VERSION, out=TRIXIE_DOCKER),
        cmd(TEST_DROP_IN, exit=1),
        cmd(DOCKER_ACTIVE, exit=3),
        cmd("systemctl enable --now docker"),
    ]
    assert run_scripted(script, lambda r: r.install_docker("distro")).result is True


def test_distro_on_trixie_with_its_cli_only_looks() -> None:
    script = [*packages(TRIXIE_DOCKER), cmd(TEST_DROP_IN, exit=1), cmd(DOCKER_ACTIVE)]
    assert run_scripted(script, lambda r: r.install_docker("distro")).result is False


def test_distro_after_the_stand_in_gives_dockerd_back_its_firewalld() -> None:
    script = [*packages(BULLSEYE_DOCKER), *DROP_IN_REMOVED]
    assert run_scripted(script, lambda r: r.install_docker("distro")).result is True


def test_20_10_on_trixie_is_refused_naming_docker_distro() -> None:
    with pytest.raises(ProvisionError, match="use docker=distro") as err:
        run_scripted(packages(TRIXIE_DOCKER), lambda r: r.install_docker("20.10"))
    assert f"docker.io is {TRIXIE_DOCKER}, not 20.10" in str(err.value)


@pytest.mark.parametrize("real", ["18.09.1+dfsg1-7.1+deb10u3", "28.5.2+dfsg1-1", "20.100.1"])
def test_docker_io_that_is_not_20_10_is_refused(real: str) -> None:
    with pytest.raises(ProvisionError, match="use docker=distro") as err:
        run_scripted(packages(real), lambda r: r.install_docker("20.10"))
    assert f"docker.io is {real}," in str(err.value)


@pytest.mark.parametrize("version", ["18.09", "19.3", "20.10.5", "", "latest", "26.1"])
def test_unknown_version_is_refused_before_any_command(version: str) -> None:
    with pytest.raises(ProvisionError, match=r"\(Debian: 19\.03, 20\.10, distro\)"):
        run_scripted([], lambda r: r.install_docker(version))


def test_failed_step_raises_with_its_output() -> None:
    script = [
        *packages(),
        cmd(TEST_DROP_IN, exit=1),
        cmd(TEST_ZONE),
        cmd(WRITE_DROP_IN, exit=1, err="install: cannot create directory: Read-only file system\n"),
    ]
    with pytest.raises(ProvisionError, match="Read-only file system"):
        run_scripted(script, lambda r: r.install_docker("19.03"))


def test_failed_apt_get_raises_with_its_output() -> None:
    script = [
        cmd(DPKG_STATUS, exit=1),
        cmd(
            "apt-get install -y docker.io", exit=100, err="E: Unable to locate package docker.io\n"
        ),
    ]
    with pytest.raises(ProvisionError, match="Unable to locate package docker.io"):
        run_scripted(script, lambda r: r.install_docker("distro"))


def test_as_vagrant_every_command_goes_through_sudo() -> None:
    ran = run_scripted(FRESH_19_03, lambda r: r.install_docker("19.03"), user="vagrant")
    assert ran.result is True
    assert all(c.startswith(SUDO) for c in ran.sent)
    assert SUDO + WRITE_DROP_IN in ran.sent


# -- busybox, for the probe image -----------------------------------------------------
def test_busybox_present_only_looks() -> None:
    assert run_scripted([cmd(TEST_BUSYBOX)], lambda r: r.ensure_busybox()).result is False


def test_busybox_missing_installs_busybox_static() -> None:
    script = [cmd(TEST_BUSYBOX, exit=1), cmd("apt-get install -y busybox-static")]
    assert run_scripted(script, lambda r: r.ensure_busybox()).result is True


# -- stood_in -----------------------------------------------------------------------
def test_stood_in_names_the_real_docker_io() -> None:
    ran = run_scripted(
        [],
        lambda r: (
            r.stood_in("19.03", "20.10.5+dfsg1"),
            r.stood_in("20.10", "20.10.5+dfsg1"),
            r.stood_in("distro", "26.1.5+dfsg1"),
        ),
    )
    text, real_20_10, real_distro = ran.result
    assert (real_20_10, real_distro) == (None, None)
    assert text == stood_in_19_03("20.10.5+dfsg1")
    assert "Debian's docker.io 20.10.5+dfsg1 stands in for Docker 19.03" in text
    assert "firewalld integration is cut off" in text
    assert "not the 19.03 binary" in text


def test_stood_in_without_a_known_version() -> None:
    assert "docker.io (version unknown) stands in for Docker 19.03" in stood_in_19_03("")


def test_identity() -> None:
    assert issubclass(DebianRecipe, Recipe)
    assert DebianRecipe.os_ids == ("debian",)
    assert DebianRecipe.version_ids == ()
    assert DebianRecipe.docker_source == "Debian's docker.io"


# -- a Debian machine's facts, as FACTS prints them ----------------------------------
BULLSEYE = dict(
    os_id="debian",
    os_version="11",
    os_codename="bullseye",
    os_name="Debian GNU/Linux 11 (bullseye)",
    kernel="5.10.0-28-amd64",
    firewalld="0.9.3",
    firewalld_backend="nftables",
    firewalld_active="active",
    nftables="0.9.8",
    iptables="1.8.7 (nf_tables)",
    docker="20.10.5+dfsg1",
    docker_package=BULLSEYE_DOCKER,
    containerd="1.4.13~ds1",
)
TRIXIE = dict(
    os_id="debian",
    os_version="13",
    os_codename="trixie",
    os_name="Debian GNU/Linux 13 (trixie)",
    kernel="6.12.38+deb13-amd64",
    firewalld="2.3.0",
    firewalld_backend="nftables",
    firewalld_active="inactive",
    nftables="1.1.3",
    iptables="1.8.11 (nf_tables)",
    docker="26.1.5+dfsg1",
    docker_package=TRIXIE_DOCKER,
    containerd="1.7.24~ds1",
)
#: Unstable: no VERSION_ID, and the codename is the next release's.
SID = dict(
    os_id="debian",
    os_codename="forky",
    os_name="Debian GNU/Linux forky/sid",
    kernel="6.16.3+deb14-amd64",
    firewalld="2.3.1",
    firewalld_backend="nftables",
    firewalld_active="active",
    nftables="1.1.5",
    iptables="1.8.11 (nf_tables)",
    docker="28.5.2+dfsg1",
    docker_package="28.5.2+dfsg1-1",
    containerd="1.7.28~ds1",
)


@pytest.mark.parametrize(
    ("values", "axis", "os", "version_id"),
    [
        (BULLSEYE, "bullseye", "debian 11", "11"),
        (BOOKWORM, "bookworm", "debian 12", "12"),
        (TRIXIE, "trixie", "debian 13", "13"),
        (SID, "sid", "debian sid", ""),
    ],
)
def test_facts_of_each_debian_release(values: dict, axis: str, os: str, version_id: str) -> None:
    found = Facts.parse(facts_output(**values))
    assert found.os_axis == axis
    assert found.versions == {
        "os": os,
        "kernel": values["kernel"],
        "firewalld": values["firewalld"],
        "nftables": values["nftables"],
        "iptables": values["iptables"],
        "docker": values["docker"],
        "containerd": values["containerd"],
    }
    assert found.os_release == {
        "ID": "debian",
        "ID_LIKE": "",
        "VERSION_ID": version_id,
        "PRETTY_NAME": values["os_name"],
    }
    assert found.marker == {}
    assert pick_recipe(found.os_release) is DebianRecipe


def test_facts_with_dockerd_down_fall_back_to_the_package_version() -> None:
    found = Facts.parse(facts_output(**{**TRIXIE, "docker": ""}))
    assert found.versions["docker"] == TRIXIE_DOCKER


def test_facts_of_a_machine_without_docker_or_firewalld() -> None:
    gone = ("docker", "docker_package", "containerd", "firewalld", "firewalld_backend")
    bare = {**BOOKWORM, **dict.fromkeys(gone, ""), "firewalld_active": "inactive"}
    found = Facts.parse(facts_output(**bare))
    assert set(found.versions) == {"os", "kernel", "nftables", "iptables"}


def test_facts_marker() -> None:
    marker = {"os": "trixie", "docker": "distro", "firewalld": "on", "probe_image": "fwlab/x"}
    found = Facts.parse(facts_output(**TRIXIE, marker=json.dumps(marker)))
    assert found.marker == marker
    assert found.get("marker") == json.dumps(marker)


@pytest.mark.parametrize("text", ["{not json", "garbage", '{"os": "trixie"'])
def test_facts_marker_that_is_not_json_is_no_marker(text: str) -> None:
    assert Facts.parse(facts_output(**TRIXIE, marker=text)).marker == {}


def test_facts_parse_skips_lines_without_a_key_and_keeps_equals_in_values() -> None:
    found = Facts.parse("sh: 1: nft: not found\nos_id = debian \nos_name=a=b\n\n")
    assert found.values == {"os_id": "debian", "os_name": "a=b"}
    assert found.get("kernel") == ""


# -- recipe choice ------------------------------------------------------------------------
CENTOS_8 = dict(os_id="centos", os_like="rhel fedora", os_version="8", os_name="CentOS Linux 8")
ROCKY_8 = dict(
    os_id="rocky",
    os_like="rhel centos fedora",
    os_version="8.9",
    os_name="Rocky Linux 8.9 (Green Obsidian)",
)
#: A derivative known only through ID_LIKE.
EL_LIKE_8 = dict(os_id="someel", os_like="rhel centos fedora", os_version="8.6", os_name="Some EL")
CENTOS_7 = dict(
    os_id="centos", os_like="rhel fedora", os_version="7", os_name="CentOS Linux 7 (Core)"
)
ALPINE = dict(os_id="alpine", os_version="3.19.1", os_name="Alpine Linux v3.19")


@pytest.mark.parametrize(
    "values, recipe",
    [
        (BULLSEYE, DebianRecipe),
        (BOOKWORM, DebianRecipe),
        (TRIXIE, DebianRecipe),
        (SID, DebianRecipe),
        (CENTOS_8, CentOS8Recipe),
        (ROCKY_8, CentOS8Recipe),
        (EL_LIKE_8, CentOS8Recipe),
    ],
)
def test_pick_recipe(values: dict, recipe: type[Recipe]) -> None:
    assert pick_recipe(Facts.parse(facts_output(**values)).os_release) is recipe


@pytest.mark.parametrize(
    "values, name", [(CENTOS_7, "CentOS Linux 7 (Core)"), (ALPINE, "Alpine Linux v3.19")]
)
def test_no_recipe(values: dict, name: str) -> None:
    with pytest.raises(ProvisionError, match=re.escape(f"no provisioning recipe for {name}")):
        pick_recipe(Facts.parse(facts_output(**values)).os_release)


def test_no_recipe_for_an_empty_os_release() -> None:
    with pytest.raises(ProvisionError, match="no provisioning recipe for unknown"):
        pick_recipe({})
    with pytest.raises(ProvisionError, match="no provisioning recipe for unknown"):
        pick_recipe(Facts.parse("").os_release)


def test_recipes_are_the_two_we_have() -> None:
    assert RECIPES == (DebianRecipe, CentOS8Recipe)


# -- provision(), end to end on a scripted bookworm machine --------------------------
STATIC_DROP_INS = [
    "test -f /etc/systemd/system/containerd.service.d/fwlab-static.conf",
    "test -f /etc/systemd/system/docker.service.d/fwlab-static.conf",
]
AXES = {"os": "bookworm", "docker": "19.03", "firewalld": "on"}


@pytest.fixture
def machine(tmp_path: Path) -> FakeSFTP:
    """The bookworm machine's files, served over its (fake) SFTP."""
    return FakeSFTP(write_machine_files(tmp_path / "bookworm"))


def wanted_marker(tag: str) -> dict:
    return {
        "os": "bookworm",
        "docker": "19.03",
        "firewalld": "on",
        "axes": AXES,
        "stood_in": stood_in_19_03(BOOKWORM["docker"]),
        "tarball_sha256": "",
        "docker_source": "Debian's docker.io",
        "probe_image": tag,
    }


def test_provision_a_fresh_bookworm_as_19_03_with_firewalld_on(machine: FakeSFTP) -> None:
    assert machine.root is not None
    image = build(LocalRoot(machine.root))
    tag = tag_for(image)
    marker = wanted_marker(tag)
    facts = cmd(FACTS_COMMAND, out=facts_output(**BOOKWORM))
    script = [
        facts,
        *(cmd(c, exit=1) for c in STATIC_DROP_INS),
        *packages(BOOKWORM_DOCKER),
        *cut_off(),
        cmd(DOCKER_ACTIVE),
        cmd("docker network inspect fwlab-net", exit=1),
        cmd("docker network create fwlab-net"),
        cmd(FIREWALLD_ACTIVE),
        cmd("systemctl restart docker"),  # docker changed: its rules go on top of firewalld's
        *DOCKER_CHAINS,
        cmd(TEST_BUSYBOX, exit=1),
        cmd("apt-get install -y busybox-static"),
        cmd(f"docker image inspect {tag}", exit=1),
        cmd(f"docker import /tmp/fwlab-probe.tar {tag}"),
        cmd("rm -f /tmp/fwlab-probe.tar"),
        facts,
        cmd(write_file_command(MARKER, json.dumps(marker) + "\n")),
    ]
    logged: list[str] = []
    ran = run_on_connection(
        script,
        lambda conn: provision(conn, "19.03", "on", log=logged.append, axes=AXES),
        sftp=machine,
    )
    report = ran.result
    assert report.changed is True
    assert report.recipe == "DebianRecipe"
    assert report.docker == Layer(False, stood_in_19_03("20.10.24+dfsg1"))
    assert report.firewalld == Layer(True, "firewalld 1.3.3 (nftables backend), running")
    assert report.probe_image == tag
    assert report.versions["os"] == "debian 12"
    assert machine.uploads == {"/tmp/fwlab-probe.tar": image}
    assert report.steps == logged
    assert "19.03 stand-in: cutting dockerd off from firewalld" in logged
    assert any(step.startswith(f"importing probe image {tag}") for step in logged)


def test_provision_again_only_looks(machine: FakeSFTP) -> None:
    assert machine.root is not None
    tag = tag_for(build(LocalRoot(machine.root)))
    marker = json.dumps(wanted_marker(tag))
    script = [
        cmd(FACTS_COMMAND, out=facts_output(**BOOKWORM, marker=marker)),
        *(cmd(c, exit=1) for c in STATIC_DROP_INS),
        *packages(BOOKWORM_DOCKER),
        cmd(TEST_DROP_IN),
        cmd(TEST_ZONE, exit=1),
        cmd(DOCKER_ACTIVE),
        cmd("docker network inspect fwlab-net"),
        *DOCKER_CHAINS,
        cmd(TEST_BUSYBOX),
        cmd(f"docker image inspect {tag}"),
    ]
    ran = run_on_connection(
        script, lambda conn: provision(conn, "19.03", "on", axes=AXES), sftp=machine
    )
    report = ran.result
    assert report.changed is False
    assert report.steps == ["already provisioned: nothing changed"]
    assert report.docker == Layer(False, stood_in_19_03("20.10.24+dfsg1"))
    assert machine.uploads == {} and machine.opened == []


def test_provision_trixie_as_distro_with_firewalld_off(machine: FakeSFTP) -> None:
    assert machine.root is not None
    image = build(LocalRoot(machine.root))
    tag = tag_for(image)
    marker = {
        "os": "trixie",
        "docker": "distro",
        "firewalld": "off",
        "axes": {},
        "stood_in": "",
        "tarball_sha256": "",
        "docker_source": "Debian's docker.io",
        "probe_image": tag,
    }
    facts = cmd(FACTS_COMMAND, out=facts_output(**TRIXIE))  # firewalld inactive
    script = [
        facts,
        *(cmd(c, exit=1) for c in STATIC_DROP_INS),
        cmd(DPKG_STATUS, out=INSTALLED),
        cmd(TEST_CLI, exit=1),
        cmd("apt-get install -y docker-cli"),
        cmd(DPKG_VERSION, out=TRIXIE_DOCKER),
        cmd(TEST_DROP_IN, exit=1),
        cmd(DOCKER_ACTIVE),
        cmd("docker network inspect fwlab-net"),
        cmd(FIREWALLD_ACTIVE, exit=3),
        cmd("systemctl is-enabled --quiet firewalld", exit=1),
        cmd("systemctl restart docker"),
        *DOCKER_CHAINS,
        cmd(TEST_BUSYBOX),
        cmd(f"docker image inspect {tag}", exit=1),
        cmd(f"docker import /tmp/fwlab-probe.tar {tag}"),
        cmd("rm -f /tmp/fwlab-probe.tar"),
        facts,
        cmd(write_file_command(MARKER, json.dumps(marker) + "\n")),
    ]
    ran = run_on_connection(script, lambda conn: provision(conn, "distro", "off"), sftp=machine)
    report = ran.result
    assert report.changed is True
    assert report.docker == Layer(True, "Docker 26.1.5+dfsg1 (Debian's docker.io)")
    assert report.stood_in_reason == ""
    assert report.firewalld == Layer(True, "firewalld 2.3.0 (nftables backend), stopped")
    assert report.versions["os"] == "debian 13"
    assert machine.uploads == {"/tmp/fwlab-probe.tar": image}
