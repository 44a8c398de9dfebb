"""CentOS8Recipe against Fabric's own mocked SSH remote: the exact commands, in order.

The remote is scripted with fabric.testing.base.Command objects (command, exit
status, output) in the order the recipe must send them; MockRemote hands out
one mocked channel per command, and we compare what was executed with the script.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Callable

import pytest
from fabric.testing.base import Command

from harness.models import Layer
from harness.provision import FACTS, Facts, firewalld_layer, pick_recipe
from harness.provision.base import DOCKER_VERSIONS, ProvisionError, Recipe
from harness.provision.centos8 import (
    CENTOS_REPO_FILES,
    PINS,
    VAULT_SED,
    CentOS8Recipe,
    pin_specs,
)
from tests.unit.scripted_remote import SUDO, facts_output, run_recipe


def run_scripted(
    script: list[Command], action: Callable[[CentOS8Recipe], object], user: str = "root"
) -> object:
    """Run action(recipe) against a remote that expects exactly `script`, in order."""
    return run_recipe(script, CentOS8Recipe, action, user).result


def cmd(command: str, exit: int = 0, out: str = "") -> Command:
    return Command(command, out=out.encode(), exit=exit)


# -- the commands, spelled out -------------------------------------------------
GREP_MIRRORLIST = "grep -qs '^mirrorlist=' /etc/yum.repos.d/CentOS-*"
SED_VAULT = (
    "sed -i -e 's|^mirrorlist=|#mirrorlist=|'"
    r" -e 's|^#baseurl=http://mirror\.centos\.org/[^/]*/\$releasever/"
    "|baseurl=https://vault.centos.org/8.5.2111/|'"
    " /etc/yum.repos.d/CentOS-*"
)
RPM_DOCKER_VERSION = "rpm -q --qf '%{VERSION}' docker-ce"
TEST_DOCKER_REPO = "test -f /etc/yum.repos.d/docker-ce.repo"
CONFIG_MANAGER_HELP = "dnf config-manager --help"
ADD_DOCKER_REPO = (
    "dnf config-manager --add-repo https://download.docker.com/linux/centos/docker-ce.repo"
)
RPM_CONFLICTS = r"rpm -q --qf '%{NAME}\n' podman runc buildah"
RPM_DOCKER_PACKAGES = (
    r"rpm -q --qf '%{NAME}\n' docker-ce docker-ce-cli containerd.io"
    " docker-ce-rootless-extras docker-scan-plugin docker-buildx-plugin docker-compose-plugin"
)
INSTALL_19_03 = (
    "dnf -y install --setopt=obsoletes=0"
    " docker-ce-3:19.03.15-3.el8 docker-ce-cli-1:19.03.15-3.el8 containerd.io-1.3.9-3.1.el8"
)
INSTALL_20_10 = (
    "dnf -y install --setopt=obsoletes=0"
    " docker-ce-3:20.10.24-3.el8 docker-ce-cli-1:20.10.24-3.el8 containerd.io-1.6.20-3.1.el8"
)
NOT_INSTALLED = "package docker-ce is not installed\n"


def services_started() -> list[Command]:
    """containerd and docker inactive (systemctl says 3), then enabled and started."""
    return [
        cmd("systemctl is-active --quiet containerd", exit=3),
        cmd("systemctl enable --now containerd"),
        cmd("systemctl is-active --quiet docker", exit=3),
        cmd("systemctl enable --now docker"),
    ]


def services_already_running() -> list[Command]:
    return [
        cmd("systemctl is-active --quiet containerd"),
        cmd("systemctl is-enabled --quiet containerd"),
        cmd("systemctl is-active --quiet docker"),
        cmd("systemctl is-enabled --quiet docker"),
    ]


#: A fresh CentOS 8.5 box: mirrorlist repos, no Docker repo, podman (with runc), no Docker.
FRESH_19_03 = [
    cmd(GREP_MIRRORLIST),
    cmd(SED_VAULT),
    cmd(RPM_DOCKER_VERSION, exit=1, out=NOT_INSTALLED),
    cmd(TEST_DOCKER_REPO, exit=1),
    cmd(CONFIG_MANAGER_HELP),
    cmd(ADD_DOCKER_REPO),
    cmd(RPM_CONFLICTS, exit=1, out="podman\nrunc\npackage buildah is not installed\n"),
    cmd("dnf -y remove podman runc"),
    cmd(INSTALL_19_03),
    *services_started(),
]

#: The same box after that run: only questions, no changes.
SECOND_RUN_19_03 = [
    cmd(GREP_MIRRORLIST, exit=1),
    cmd(RPM_DOCKER_VERSION, out="19.03.15"),
    *services_already_running(),
]


# -- install_docker -----------------------------------------------------------
def test_fresh_centos8_gets_docker_19_03():
    assert run_scripted(FRESH_19_03, lambda r: r.install_docker("19.03")) is True


def test_second_run_only_looks_and_changes_nothing():
    assert run_scripted(SECOND_RUN_19_03, lambda r: r.install_docker("19.03")) is False


def test_fresh_rocky8_gets_docker_20_10():
    # No CentOS-* repo files (grep exits 2), Docker's repo already there, no podman.
    script = [
        cmd(GREP_MIRRORLIST, exit=2),
        cmd(RPM_DOCKER_VERSION, exit=1, out=NOT_INSTALLED),
        cmd(TEST_DOCKER_REPO),
        cmd(RPM_CONFLICTS, exit=3, out="".join(f"package {p} is not installed\n" for p in "abc")),
        cmd(INSTALL_20_10),
        *services_started(),
    ]
    assert run_scripted(script, lambda r: r.install_docker("20.10")) is True


def test_missing_config_manager_installs_dnf_plugins_core_first():
    script = [
        cmd(GREP_MIRRORLIST, exit=1),
        cmd(RPM_DOCKER_VERSION, exit=1, out=NOT_INSTALLED),
        cmd(TEST_DOCKER_REPO, exit=1),
        cmd(CONFIG_MANAGER_HELP, exit=1),
        cmd("dnf -y install dnf-plugins-core"),
        cmd(ADD_DOCKER_REPO),
        cmd(RPM_CONFLICTS, exit=3),
        cmd(INSTALL_19_03),
        *services_started(),
    ]
    assert run_scripted(script, lambda r: r.install_docker("19.03")) is True


def test_switching_from_20_10_to_19_03_removes_the_old_packages_first():
    script = [
        cmd(GREP_MIRRORLIST, exit=1),
        cmd(RPM_DOCKER_VERSION, out="20.10.24"),
        cmd(TEST_DOCKER_REPO),
        cmd(RPM_CONFLICTS, exit=3),
        cmd(
            RPM_DOCKER_PACKAGES,
            exit=3,
            out="docker-ce\ndocker-ce-cli\ncontainerd.io\ndocker-ce-rootless-extras\n"
            "docker-scan-plugin\npackage docker-buildx-plugin is not installed\n"
            "package docker-compose-plugin is not installed\n",
        ),
        cmd(
            "dnf -y remove docker-ce docker-ce-cli containerd.io"
            " docker-ce-rootless-extras docker-scan-plugin"
        ),
        cmd(INSTALL_19_03),
        # removing docker-ce stopped (and disabled) the services
        *services_started(),
    ]
    assert run_scripted(script, lambda r: r.install_docker("19.03")) is True


def test_running_but_disabled_docker_gets_enabled_only():
    script = [
        cmd(GREP_MIRRORLIST, exit=1),
        cmd(RPM_DOCKER_VERSION, out="20.10.24"),
        cmd("systemctl is-active --quiet containerd"),
        cmd("systemctl is-enabled --quiet containerd", exit=1),
        cmd("systemctl enable containerd"),
        cmd("systemctl is-active --quiet docker"),
        cmd("systemctl is-enabled --quiet docker"),
    ]
    assert run_scripted(script, lambda r: r.install_docker("20.10")) is True


def test_version_prefix_must_match_a_whole_component():
    # "20.100.1" is not a 20.10: it gets the 20.10 pins.
    script = [
        cmd(GREP_MIRRORLIST, exit=1),
        cmd(RPM_DOCKER_VERSION, out="20.100.1"),
        cmd(TEST_DOCKER_REPO),
        cmd(RPM_CONFLICTS, exit=3),
        cmd(RPM_DOCKER_PACKAGES, exit=6, out="docker-ce\n"),
        cmd("dnf -y remove docker-ce"),
        cmd(INSTALL_20_10),
        *services_started(),
    ]
    assert run_scripted(script, lambda r: r.install_docker("20.10")) is True


@pytest.mark.parametrize("version", ["18.09", "19.3", "20.10.24", "", "latest", "distro"])
def test_unknown_version_is_refused_before_any_command(version):
    with pytest.raises(ProvisionError, match=r"supported versions: 19\.03, 20\.10$"):
        run_scripted([], lambda r: r.install_docker(version))


def test_failed_install_raises_with_dnf_output():
    script = [
        cmd(GREP_MIRRORLIST, exit=1),
        cmd(RPM_DOCKER_VERSION, exit=1, out=NOT_INSTALLED),
        cmd(TEST_DOCKER_REPO),
        cmd(RPM_CONFLICTS, exit=3),
        Command(INSTALL_19_03, exit=1, err=b"Error: Unable to find a match: docker-ce\n"),
    ]
    with pytest.raises(ProvisionError, match="Unable to find a match: docker-ce"):
        run_scripted(script, lambda r: r.install_docker("19.03"))


# -- sudo ---------------------------------------------------------------------
def test_as_vagrant_every_command_goes_through_sudo():
    assert run_scripted(FRESH_19_03, lambda r: r.install_docker("19.03"), user="vagrant") is True


def test_sudo_rendering_of_the_first_command():
    script = [cmd(GREP_MIRRORLIST, exit=1)]
    run_scripted(script, lambda r: r.ensure_vault_repos(), user="vagrant")
    assert script[0].cmd == GREP_MIRRORLIST  # the helper prefixes a copy
    assert SUDO + GREP_MIRRORLIST == (
        "sudo -S -p '[sudo] password: ' grep -qs '^mirrorlist=' /etc/yum.repos.d/CentOS-*"
    )


# -- firewalld ----------------------------------------------------------------
def test_apply_firewalld_on_installs_firewalld_when_missing():
    script = [
        cmd("rpm -q --quiet firewalld", exit=1),
        cmd(GREP_MIRRORLIST, exit=1),
        cmd("dnf -y install firewalld"),
        cmd("systemctl is-active --quiet firewalld", exit=3),
        cmd("systemctl enable --now firewalld"),
        cmd("systemctl restart docker"),
    ]
    assert run_scripted(script, lambda r: r.apply_firewalld("on")) is True


def test_apply_firewalld_on_when_installed_and_running_only_looks():
    script = [cmd("rpm -q --quiet firewalld"), cmd("systemctl is-active --quiet firewalld")]
    assert run_scripted(script, lambda r: r.apply_firewalld("on")) is False


def test_apply_firewalld_off_does_not_install_it():
    script = [
        cmd("systemctl is-active --quiet firewalld", exit=4),
        cmd("systemctl is-enabled --quiet firewalld", exit=1),
    ]
    assert run_scripted(script, lambda r: r.apply_firewalld("off")) is False


# -- constants and the rest ---------------------------------------------------
def test_pins_cover_every_harness_version_but_distro():
    # CentOS 8 ships no Docker of its own (podman instead): `distro` has nothing to install.
    assert sorted(PINS) == sorted(v for v in DOCKER_VERSIONS if v != "distro")


def test_pin_specs():
    assert pin_specs("19.03") == [
        "docker-ce-3:19.03.15-3.el8",
        "docker-ce-cli-1:19.03.15-3.el8",
        "containerd.io-1.3.9-3.1.el8",
    ]
    assert pin_specs("20.10") == [
        "docker-ce-3:20.10.24-3.el8",
        "docker-ce-cli-1:20.10.24-3.el8",
        "containerd.io-1.6.20-3.1.el8",
    ]


def test_identity():
    assert issubclass(CentOS8Recipe, Recipe)
    assert CentOS8Recipe.os_ids == ("centos", "rhel", "rocky", "almalinux")
    assert CentOS8Recipe.version_ids == ("8",)
    assert CentOS8Recipe.docker_source == "docker-ce from Docker's el8 repository"
    stood_in = run_scripted(
        [], lambda r: (r.stood_in("19.03", "19.03.15"), r.stood_in("20.10", "20.10.24"))
    )
    assert stood_in == (None, None)


# -- busybox, for the probe image: from EPEL -------------------------------------
TEST_USR_SBIN_BUSYBOX = "test -x /usr/sbin/busybox"
TEST_SBIN_BUSYBOX = "test -x /sbin/busybox"


def test_busybox_present_only_looks():
    assert run_scripted([cmd(TEST_USR_SBIN_BUSYBOX)], lambda r: r.ensure_busybox()) is False
    script = [cmd(TEST_USR_SBIN_BUSYBOX, exit=1), cmd(TEST_SBIN_BUSYBOX)]
    assert run_scripted(script, lambda r: r.ensure_busybox()) is False


def test_busybox_missing_comes_from_epel_through_the_vault():
    script = [
        cmd(TEST_USR_SBIN_BUSYBOX, exit=1),
        cmd(TEST_SBIN_BUSYBOX, exit=1),
        cmd(GREP_MIRRORLIST),
        cmd(SED_VAULT),
        cmd("dnf -y install epel-release"),
        cmd("dnf -y install busybox"),
    ]
    assert run_scripted(script, lambda r: r.ensure_busybox()) is True


def test_busybox_missing_on_rocky_needs_no_vault():
    script = [
        cmd(TEST_USR_SBIN_BUSYBOX, exit=1),
        cmd(TEST_SBIN_BUSYBOX, exit=1),
        cmd(GREP_MIRRORLIST, exit=2),
        cmd("dnf -y install epel-release"),
        cmd("dnf -y install busybox"),
    ]
    assert run_scripted(script, lambda r: r.ensure_busybox(), user="vagrant") is True


# -- a CentOS 8 machine's facts ------------------------------------------------------
CENTOS_8_FACTS = dict(
    os_id="centos",
    os_version="8",
    os_name="CentOS Linux 8",
    os_like="rhel fedora",
    kernel="4.18.0-348.7.1.el8_5.x86_64",
    firewalld="0.9.3",
    firewalld_backend="nftables",
    firewalld_active="active",
    nftables="0.9.3",
    iptables="1.8.4 (nf_tables)",
    docker="19.03.15",
    docker_package="19.03.15",
    containerd="1.3.9",
)


def test_facts_of_centos8():
    found = Facts.parse(facts_output(**CENTOS_8_FACTS))
    assert found.os_axis == "centos8"
    assert found.versions == {
        "os": "centos 8",
        "kernel": "4.18.0-348.7.1.el8_5.x86_64",
        "firewalld": "0.9.3",
        "nftables": "0.9.3",
        "iptables": "1.8.4 (nf_tables)",
        "docker": "19.03.15",
        "containerd": "1.3.9",
    }
    assert pick_recipe(found.os_release) is CentOS8Recipe
    rocky = Facts.parse(facts_output(**{**CENTOS_8_FACTS, "os_id": "rocky", "os_version": "8.9"}))
    assert rocky.os_axis == "rocky8" and rocky.versions["os"] == "rocky 8.9"


# -- FACTS itself, run by sh against stand-in commands ------------------------------
CENTOS_OS_RELEASE = """\
NAME="CentOS Linux"
VERSION="8"
ID="centos"
ID_LIKE="rhel fedora"
VERSION_ID="8"
PLATFORM_ID="platform:el8"
PRETTY_NAME="CentOS Linux 8"
"""
#: Commands of a CentOS 8.5 box with firewalld running and no Docker installed.
CENTOS_COMMANDS = {
    "uname": "echo 4.18.0-348.7.1.el8_5.x86_64",
    "firewall-cmd": "echo 0.9.3",
    "systemctl": 'echo active; [ "$2" = firewalld ]',
    # firewalld's D-Bus state, which FACTS waits for; docker0 is in no zone.
    "busctl": 'case "$*" in *" state") echo \'s "RUNNING"\' ;; *) exit 1 ;; esac',
    "nft": "echo 'nftables v0.9.3 (Topsy)'",
    "iptables": "echo 'iptables v1.8.4 (nf_tables)'",
    # rpm says so on stdout, and exits 1
    "rpm": 'for p; do case "$p" in -*|%*) ;; *) echo "package $p is not installed";; esac; done; '
    "exit 1",
    "dpkg-query": "echo 'sh: dpkg-query: command not found' >&2; exit 127",
    "docker": "echo 'sh: docker: command not found' >&2; exit 127",
    "containerd": "echo 'sh: containerd: command not found' >&2; exit 127",
}


def run_facts(tmp_path: Path, commands: dict[str, str], marker: dict | None = None) -> Facts:
    """FACTS run by sh, its /etc/ moved under tmp_path, with `commands` as the machine's."""
    etc = tmp_path / "etc"
    (etc / "firewalld").mkdir(parents=True)
    (etc / "os-release").write_text(CENTOS_OS_RELEASE)
    (etc / "firewalld" / "firewalld.conf").write_text(
        "DefaultZone=public\nFirewallBackend=nftables\n"
    )
    if marker is not None:
        (etc / "fwlab").mkdir()
        (etc / "fwlab" / "cell.json").write_text(json.dumps(marker) + "\n")
    bin_ = tmp_path / "bin"
    bin_.mkdir()
    for name, body in commands.items():
        (bin_ / name).write_text(f"#!/bin/sh\n{body}\n")
        (bin_ / name).chmod(0o755)
    script = FACTS.replace("/etc/", f"{etc}/")
    out = subprocess.run(
        ["sh", "-c", script],
        capture_output=True,
        text=True,
        env={"PATH": f"{bin_}:/usr/bin:/bin"},
        timeout=30,
        check=False,
    )
    return Facts.parse(out.stdout)


needs_shell_tools = pytest.mark.skipif(
    not all(shutil.which(t) for t in ("sh", "sed", "awk", "cat", "timeout")),
    reason="needs sh, sed, awk, cat and timeout",
)


@needs_shell_tools
def test_facts_script_on_centos8_without_docker(tmp_path):
    found = run_facts(tmp_path, CENTOS_COMMANDS)
    assert found.os_axis == "centos8"
    assert found.os_release["PRETTY_NAME"] == "CentOS Linux 8"
    assert found.get("firewalld_backend") == "nftables"
    assert found.get("firewalld_active") == "active"
    # rpm's "package docker-ce is not installed" is no Docker version.
    assert found.versions == {
        "os": "centos 8",
        "kernel": "4.18.0-348.7.1.el8_5.x86_64",
        "firewalld": "0.9.3",
        "nftables": "0.9.3",
        "iptables": "1.8.4 (nf_tables)",
    }
    assert found.marker == {}


@needs_shell_tools
def test_facts_script_on_centos8_without_firewalld(tmp_path):
    commands = {
        **CENTOS_COMMANDS,
        "firewall-cmd": "echo 'sh: firewall-cmd: command not found' >&2; exit 127",
        "systemctl": "echo inactive; exit 3",
    }
    found = run_facts(tmp_path, commands)
    # rpm's "package firewalld is not installed" is no firewalld version either.
    assert "firewalld" not in found.versions
    assert firewalld_layer(found) == Layer(True, "firewalld is not installed")


@needs_shell_tools
def test_facts_script_on_centos8_with_docker_ce(tmp_path):
    marker = {"os": "centos8", "docker": "19.03", "firewalld": "on"}
    commands = {
        **CENTOS_COMMANDS,
        "rpm": "printf %s 19.03.15",
        "docker": "echo 19.03.15",
        "containerd": "echo 'containerd containerd.io 1.3.9 ea765aba0d05'",
    }
    found = run_facts(tmp_path, commands, marker)
    assert found.get("docker_package") == "19.03.15"
    assert found.versions["docker"] == "19.03.15"
    assert found.versions["containerd"] == "1.3.9"
    assert found.marker == marker


# -- the vault sed, run for real on copies of CentOS 8.5 repo files ----------
BASEOS_REPO = """\
[baseos]
name=CentOS Linux $releasever - BaseOS
mirrorlist=http://mirrorlist.centos.org/?release=$releasever&arch=$basearch&repo=BaseOS&infra=$infra
#baseurl=http://mirror.centos.org/$contentdir/$releasever/BaseOS/$basearch/os/
gpgcheck=1
enabled=1
gpgkey=file:///etc/pki/rpm-gpg/RPM-GPG-KEY-centosofficial
"""
APPSTREAM_REPO = """\
[appstream]
name=CentOS Linux $releasever - AppStream
mirrorlist=http://mirrorlist.centos.org/?release=$releasever&arch=$basearch&repo=AppStream&infra=$infra
#baseurl=http://mirror.centos.org/$contentdir/$releasever/AppStream/$basearch/os/
gpgcheck=1
enabled=1
gpgkey=file:///etc/pki/rpm-gpg/RPM-GPG-KEY-centosofficial
"""


@pytest.mark.skipif(not (shutil.which("sed") and shutil.which("grep")), reason="needs sed, grep")
def test_vault_sed_rewrites_centos8_repo_files(tmp_path):
    (tmp_path / "CentOS-Linux-BaseOS.repo").write_text(BASEOS_REPO)
    (tmp_path / "CentOS-Linux-AppStream.repo").write_text(APPSTREAM_REPO)
    (tmp_path / "docker-ce.repo").write_text("baseurl=https://download.docker.com/$releasever/\n")
    glob = str(tmp_path / "CentOS-*")

    def sh(command: str) -> int:
        local = command.replace(CENTOS_REPO_FILES, glob)
        return subprocess.run(["bash", "-c", local], check=False).returncode

    grep = GREP_MIRRORLIST
    assert sh(grep) == 0
    assert sh(VAULT_SED) == 0
    assert sh(grep) == 1  # second run: nothing left to do

    baseos = (tmp_path / "CentOS-Linux-BaseOS.repo").read_text().splitlines()
    assert "baseurl=https://vault.centos.org/8.5.2111/BaseOS/$basearch/os/" in baseos
    assert (
        "#mirrorlist=http://mirrorlist.centos.org/"
        "?release=$releasever&arch=$basearch&repo=BaseOS&infra=$infra"
    ) in baseos
    appstream = (tmp_path / "CentOS-Linux-AppStream.repo").read_text().splitlines()
    assert "baseurl=https://vault.centos.org/8.5.2111/AppStream/$basearch/os/" in appstream
    # Docker's repo file is not a CentOS-* file and keeps its $releasever.
    assert (tmp_path / "docker-ce.repo").read_text() == (
        "baseurl=https://download.docker.com/$releasever/\n"
    )
