"""DebianRecipe against Fabric's own mocked SSH remote, and recipe selection by os-release.

As in test_provision_centos8.py: the remote is scripted with fabric.testing.base.Command
objects in the order the recipe must send them, and we compare what was executed
(and what was fed to stdin) with the script.
"""

from __future__ import annotations

import re
from typing import Callable

import pytest
from fabric.testing.base import Command

from harness.provision import RECIPES, parse_os_release, pick_recipe
from harness.provision.base import ProvisionError, Recipe, write_file_command
from harness.provision.centos8 import CentOS8Recipe
from harness.provision.debian import (
    DOCKER_ZONE_FILE,
    DROP_IN,
    DROP_IN_TEXT,
    STOOD_IN_19_03,
    DebianRecipe,
)
from tests.unit.scripted_remote import SUDO, Ran, run_recipe


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
TEST_DROP_IN = "test -f /etc/systemd/system/docker.service.d/fwlab-no-firewalld.conf"
TEST_ZONE = "test -f /etc/firewalld/zones/docker.xml"
WRITE_DROP_IN = write_file_command(DROP_IN, DROP_IN_TEXT)
DOCKER_ACTIVE = "systemctl is-active --quiet docker"
FIREWALLD_ACTIVE = "systemctl is-active --quiet firewalld"

INSTALLED = "install ok installed"
BULLSEYE_DOCKER = "20.10.5+dfsg1-1+deb11u2"
BOOKWORM_DOCKER = "20.10.24+dfsg1-1+b3"
TRIXIE_DOCKER = "26.1.5+dfsg1-9"


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
FRESH_19_03 = [
    cmd(DPKG_STATUS, out=INSTALLED),
    cmd(DPKG_VERSION, out=BULLSEYE_DOCKER),
    *cut_off(),
    cmd(DOCKER_ACTIVE),
]

#: The same box after that run: only questions, no changes.
SECOND_RUN_19_03 = [
    cmd(DPKG_STATUS, out=INSTALLED),
    cmd(DPKG_VERSION, out=BULLSEYE_DOCKER),
    cmd(TEST_DROP_IN),
    cmd(TEST_ZONE, exit=1),
    cmd(DOCKER_ACTIVE),
]


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
    assert ran.stdin[write].decode() == ""  # the text travels as an argument, not stdin
    assert [s for i, s in enumerate(ran.stdin) if i != write and s] == []


def test_drop_in_points_dockerd_at_a_bus_that_does_not_exist() -> None:
    assert "[Service]" in DROP_IN_TEXT
    assert "Environment=DBUS_SYSTEM_BUS_ADDRESS=unix:path=/run/fwlab-no-dbus" in DROP_IN_TEXT


def test_second_19_03_run_only_looks_and_changes_nothing() -> None:
    ran = run_scripted(SECOND_RUN_19_03, lambda r: r.install_docker("19.03"))
    assert ran.result is False


def test_19_03_with_firewalld_stopped_skips_the_reload() -> None:
    script = [
        cmd(DPKG_STATUS, out=INSTALLED),
        cmd(DPKG_VERSION, out=BOOKWORM_DOCKER),
        *cut_off(firewalld_active=False),
        cmd(DOCKER_ACTIVE),
    ]
    assert run_scripted(script, lambda r: r.install_docker("19.03")).result is True


def test_19_03_drop_in_present_but_zone_file_back_cuts_again() -> None:
    # e.g. a 20.10 run wrote the zone again: the whole dance is redone.
    script = [
        cmd(DPKG_STATUS, out=INSTALLED),
        cmd(DPKG_VERSION, out=BULLSEYE_DOCKER),
        cmd(TEST_DROP_IN),
        *cut_off()[1:],
        cmd(DOCKER_ACTIVE),
    ]
    assert run_scripted(script, lambda r: r.install_docker("19.03")).result is True


def test_docker_io_missing_is_installed_first() -> None:
    script = [
        cmd(DPKG_STATUS, exit=1, err="dpkg-query: no packages found matching docker.io\n"),
        cmd("apt-get install -y docker.io"),
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


# -- install_docker("20.10"): the real thing --------------------------------------
def test_20_10_with_the_drop_in_present_removes_it_and_restarts_docker() -> None:
    script = [
        cmd(DPKG_STATUS, out=INSTALLED),
        cmd(DPKG_VERSION, out=BULLSEYE_DOCKER),
        cmd(TEST_DROP_IN),
        cmd(f"rm -f {DROP_IN}"),
        cmd("systemctl daemon-reload"),
        cmd("systemctl restart docker"),
        cmd(DOCKER_ACTIVE),
    ]
    assert run_scripted(script, lambda r: r.install_docker("20.10")).result is True


def test_20_10_on_a_fresh_box_changes_nothing() -> None:
    script = [
        cmd(DPKG_STATUS, out=INSTALLED),
        cmd(DPKG_VERSION, out=BOOKWORM_DOCKER),
        cmd(TEST_DROP_IN, exit=1),
        cmd(DOCKER_ACTIVE),
    ]
    assert run_scripted(script, lambda r: r.install_docker("20.10")).result is False


@pytest.mark.parametrize("real", [TRIXIE_DOCKER, "18.09.1+dfsg1-7.1+deb10u3", ""])
def test_docker_io_that_is_not_20_10_is_refused(real: str) -> None:
    script = [cmd(DPKG_STATUS, out=INSTALLED), cmd(DPKG_VERSION, out=real)]
    with pytest.raises(ProvisionError, match="needs 20.10") as err:
        run_scripted(script, lambda r: r.install_docker("19.03"))
    assert f"docker.io is {real};" in str(err.value)


@pytest.mark.parametrize("version", ["18.09", "19.3", "20.10.5", "", "latest"])
def test_unknown_version_is_refused_before_any_command(version: str) -> None:
    with pytest.raises(ProvisionError, match=r"supported: 19\.03, 20\.10"):
        run_scripted([], lambda r: r.install_docker(version))


def test_failed_step_raises_with_its_output() -> None:
    script = [
        cmd(DPKG_STATUS, out=INSTALLED),
        cmd(DPKG_VERSION, out=BULLSEYE_DOCKER),
        cmd(TEST_DROP_IN, exit=1),
        cmd(TEST_ZONE),
        cmd(WRITE_DROP_IN, exit=1, err="install: cannot create directory: Read-only file system\n"),
    ]
    with pytest.raises(ProvisionError, match="Read-only file system"):
        run_scripted(script, lambda r: r.install_docker("19.03"))


def test_as_vagrant_every_command_goes_through_sudo() -> None:
    ran = run_scripted(FRESH_19_03, lambda r: r.install_docker("19.03"), user="vagrant")
    assert ran.result is True
    assert all(c.startswith(SUDO) for c in ran.sent)
    assert SUDO + WRITE_DROP_IN in ran.sent


# -- stood_in -----------------------------------------------------------------------
def test_stood_in() -> None:
    ran = run_scripted([], lambda r: (r.stood_in("19.03"), r.stood_in("20.10")))
    assert ran.result == (STOOD_IN_19_03, None)
    assert "19.03" in STOOD_IN_19_03
    assert "20.10" in STOOD_IN_19_03
    assert "no Docker 19.03" in STOOD_IN_19_03
    assert "not the 19.03 binary" in STOOD_IN_19_03


def test_identity() -> None:
    assert issubclass(DebianRecipe, Recipe)
    assert DebianRecipe.os_ids == ("debian",)
    assert DebianRecipe.version_ids == ()


# -- harness.provision: os-release and recipe choice ------------------------------
DEBIAN_11 = """\
PRETTY_NAME="Debian GNU/Linux 11 (bullseye)"
NAME="Debian GNU/Linux"
VERSION_ID="11"
VERSION="11 (bullseye)"
VERSION_CODENAME=bullseye
ID=debian
HOME_URL="https://www.debian.org/"
"""
DEBIAN_12 = """\
PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"
NAME="Debian GNU/Linux"
VERSION_ID="12"
VERSION="12 (bookworm)"
VERSION_CODENAME=bookworm
ID=debian
"""
CENTOS_8 = """\
NAME="CentOS Linux"
VERSION="8"
ID="centos"
ID_LIKE="rhel fedora"
VERSION_ID="8"
PLATFORM_ID="platform:el8"
PRETTY_NAME="CentOS Linux 8"
ANSI_COLOR="0;31"
"""
ROCKY_8 = """\
NAME="Rocky Linux"
VERSION="8.9 (Green Obsidian)"
ID="rocky"
ID_LIKE="rhel centos fedora"
VERSION_ID="8.9"
PRETTY_NAME="Rocky Linux 8.9 (Green Obsidian)"
"""
#: A derivative known only through ID_LIKE.
EL_LIKE_8 = (
    'ID="someel"\nID_LIKE="rhel centos fedora"\nVERSION_ID="8.6"\nPRETTY_NAME="Some EL 8.6"\n'
)
CENTOS_7 = """\
NAME="CentOS Linux"
VERSION="7 (Core)"
ID="centos"
ID_LIKE="rhel fedora"
VERSION_ID="7"
PRETTY_NAME="CentOS Linux 7 (Core)"
"""
ALPINE = """\
NAME="Alpine Linux"
ID=alpine
VERSION_ID=3.19.1
PRETTY_NAME="Alpine Linux v3.19"
"""


def test_parse_os_release() -> None:
    fields = parse_os_release(DEBIAN_11)
    assert fields["ID"] == "debian"
    assert fields["VERSION_ID"] == "11"
    assert fields["PRETTY_NAME"] == "Debian GNU/Linux 11 (bullseye)"
    assert fields["VERSION_CODENAME"] == "bullseye"
    centos = parse_os_release(CENTOS_8)
    assert centos["ID"] == "centos"
    assert centos["ID_LIKE"] == "rhel fedora"


def test_parse_os_release_skips_comments_blanks_and_junk() -> None:
    text = '# a comment\n\nID=debian\nnot a field\nNAME="x=y"\nVERSION_ID="12"  \n'
    assert parse_os_release(text) == {"ID": "debian", "NAME": "x=y", "VERSION_ID": "12"}


@pytest.mark.parametrize(
    "text, recipe",
    [
        (DEBIAN_11, DebianRecipe),
        (DEBIAN_12, DebianRecipe),
        (CENTOS_8, CentOS8Recipe),
        (ROCKY_8, CentOS8Recipe),
        (EL_LIKE_8, CentOS8Recipe),
    ],
)
def test_pick_recipe(text: str, recipe: type[Recipe]) -> None:
    assert pick_recipe(parse_os_release(text)) is recipe


@pytest.mark.parametrize(
    "text, name", [(CENTOS_7, "CentOS Linux 7 (Core)"), (ALPINE, "Alpine Linux v3.19")]
)
def test_no_recipe(text: str, name: str) -> None:
    with pytest.raises(ProvisionError, match=re.escape(f"no provisioning recipe for {name}")):
        pick_recipe(parse_os_release(text))


def test_no_recipe_for_an_empty_os_release() -> None:
    with pytest.raises(ProvisionError, match="no provisioning recipe for unknown"):
        pick_recipe({})


def test_recipes_are_the_two_we_have() -> None:
    assert RECIPES == (DebianRecipe, CentOS8Recipe)
