"""CentOS 8 (and its el8 rebuilds): Docker 19.03 or 20.10 from Docker's el8 repository.

On CentOS 8 both Docker versions are the real thing: Docker's el8 repository
still carries 19.03.13 to 19.03.15 and every 20.10.x, so `stood_in()` is None.

What `install_docker()` does, each step looking before it acts:

1. vault:      CentOS 8 is end-of-life and its mirrors are gone, so any
               /etc/yum.repos.d/CentOS-* file still using `mirrorlist=` is
               rewritten to https://vault.centos.org/8.5.2111/ (the last release).
2. version:    `rpm -q docker-ce`; when it already is the requested version,
               steps 3 to 6 are skipped.
3. docker repo: Docker's docker-ce.repo, added with `dnf config-manager`
               (dnf-plugins-core installed first if config-manager is missing).
4. conflicts:  podman, runc and buildah are removed (containerd.io conflicts
               with podman's runc).
5. switch:     when another Docker version is installed, its packages are removed.
6. install:    the exact pins of `PINS`.
7. services:   containerd and docker enabled and running.

Every command is a single simple command (no pipes, no `&&`, no redirections):
`Recipe.sh()` prefixes it with `sudo` when we log in as someone else, and sudo
only elevates the first command of a shell line. Globs are fine: the login
user's shell expands them, and /etc/yum.repos.d is world-readable.
"""

from __future__ import annotations

from typing import ClassVar

from .base import ProvisionError, Recipe

#: The release vault.centos.org keeps CentOS 8 under.
VAULT_RELEASE = "8.5.2111"
VAULT_URL = f"https://vault.centos.org/{VAULT_RELEASE}/"
CENTOS_REPO_FILES = "/etc/yum.repos.d/CentOS-*"

#: CentOS 8.x repo files say, for example:
#:   mirrorlist=http://mirrorlist.centos.org/?release=$releasever&arch=$basearch&repo=BaseOS&infra=$infra
#:   #baseurl=http://mirror.centos.org/$contentdir/$releasever/BaseOS/$basearch/os/
#: and after this sed:
#:   #mirrorlist=http://mirrorlist.centos.org/?release=$releasever&arch=$basearch&repo=BaseOS&infra=$infra
#:   baseurl=https://vault.centos.org/8.5.2111/BaseOS/$basearch/os/
#: `$contentdir/$releasever` becomes the literal 8.5.2111 in the URL itself; we do
#: not pin $releasever globally (/etc/dnf/vars/releasever) because Docker's repo
#: file uses $releasever too and wants it to stay "8".
#: (`[^/]*` also covers files that spell `centos` instead of `$contentdir`;
#: `$` in the middle of a sed regex is escaped so it is never an anchor.)
VAULT_SED = (
    "sed -i"
    " -e 's|^mirrorlist=|#mirrorlist=|'"
    r" -e 's|^#baseurl=http://mirror\.centos\.org/[^/]*/\$releasever/|baseurl="
    + VAULT_URL
    + "|'"
    + f" {CENTOS_REPO_FILES}"
)

DOCKER_REPO_URL = "https://download.docker.com/linux/centos/docker-ce.repo"
DOCKER_REPO_FILE = "/etc/yum.repos.d/docker-ce.repo"

#: Exact packages per Docker version, as `name-[epoch:]version-release` (dnf
#: accepts that form). Epochs in Docker's el8 repository: docker-ce 3,
#: docker-ce-cli 1, containerd.io none.
#:
#: 19.03: the last 19.03 (19.03.15, Feb 2021) with the containerd Docker shipped
#:        alongside it in the el8 repository (1.3.9-3.1.el8).
#: 20.10: the last 20.10 (20.10.24, Apr 2023) with the containerd it was
#:        released with (upstream 20.10.24 bundles containerd v1.6.20).
PINS: dict[str, dict[str, str]] = {
    "19.03": {
        "docker-ce": "3:19.03.15-3.el8",
        "docker-ce-cli": "1:19.03.15-3.el8",
        "containerd.io": "1.3.9-3.1.el8",
    },
    "20.10": {
        "docker-ce": "3:20.10.24-3.el8",
        "docker-ce-cli": "1:20.10.24-3.el8",
        "containerd.io": "1.6.20-3.1.el8",
    },
}

#: Installed by podman's container-tools module; its runc conflicts with containerd.io.
CONFLICTING_PACKAGES = ("podman", "runc", "buildah")

#: Everything Docker's repository may have put here, for a version switch.
DOCKER_PACKAGES = (
    "docker-ce",
    "docker-ce-cli",
    "containerd.io",
    "docker-ce-rootless-extras",
    "docker-scan-plugin",
    "docker-buildx-plugin",
    "docker-compose-plugin",
)

#: dnf downloads from the vault can be slow; Recipe.sh's default is 300 s.
DNF_TIMEOUT = 1800


def pin_specs(version: str) -> list[str]:
    """The `dnf install` arguments for `version`, e.g. `docker-ce-3:19.03.15-3.el8`."""
    return [f"{name}-{evr}" for name, evr in PINS[version].items()]


class CentOS8Recipe(Recipe):
    """Docker from Docker's el8 repository on CentOS 8, RHEL 8, Rocky 8, AlmaLinux 8."""

    os_ids: ClassVar[tuple[str, ...]] = ("centos", "rhel", "rocky", "almalinux")
    version_ids: ClassVar[tuple[str, ...]] = ("8",)
    docker_source: ClassVar[str] = "docker-ce from Docker's el8 repository"

    # -- the steps -------------------------------------------------------
    def ensure_vault_repos(self) -> bool:
        """Point CentOS's own repo files at vault.centos.org if they still use mirrorlist.

        RHEL, Rocky and AlmaLinux have no CentOS-* files: the grep fails, nothing to do.
        """
        if not self.ok(f"grep -qs '^mirrorlist=' {CENTOS_REPO_FILES}"):
            return False
        self.log(f"pointing dnf at {VAULT_URL} (CentOS 8 is end-of-life)")
        self.sh(VAULT_SED)
        return True

    def installed_docker_version(self) -> str | None:
        """docker-ce's VERSION (e.g. "19.03.15"), or None when it is not installed."""
        result = self.sh("rpm -q --qf '%{VERSION}' docker-ce", check=False)
        if result.exited != 0:
            return None
        return result.stdout.strip() or None

    def ensure_docker_repo(self) -> bool:
        if self.ok(f"test -f {DOCKER_REPO_FILE}"):
            return False
        if not self.ok("dnf config-manager --help"):
            self.log("installing dnf-plugins-core (for dnf config-manager)")
            self.sh("dnf -y install dnf-plugins-core", timeout=DNF_TIMEOUT)
        self.log("adding Docker's el8 repository")
        self.sh(f"dnf config-manager --add-repo {DOCKER_REPO_URL}", timeout=DNF_TIMEOUT)
        return True

    def installed_packages(self, names: tuple[str, ...]) -> list[str]:
        """Which of `names` rpm knows as installed, in the order given."""
        # rpm prints %{NAME} for each installed one and "package X is not
        # installed" for the others (and then exits non-zero: not an error here).
        result = self.sh(f"rpm -q --qf '%{{NAME}}\\n' {' '.join(names)}", check=False)
        # Compare whole lines: "package buildah is not installed" names buildah too.
        found = {line.strip() for line in result.stdout.splitlines()}
        return [name for name in names if name in found]

    def remove_conflicting_packages(self) -> bool:
        """Remove podman/runc/buildah: containerd.io conflicts with podman's runc.

        We remove them explicitly rather than `dnf install --allowerasing`:
        the removal is then a visible, logged step of its own, and dnf's solver
        is never free to erase whatever else it finds in the way.
        """
        return self.remove_installed(CONFLICTING_PACKAGES, "conflict with containerd.io")

    def remove_docker_packages(self) -> bool:
        """Remove the installed Docker packages, before installing another version.

        Remove-then-install rather than `dnf install --allowerasing` or
        `dnf downgrade`: the same install command then serves a fresh machine,
        an upgrade and a downgrade, and it avoids the file conflicts a downgrade
        can hit (docker-ce-cli 19.03 ships the buildx plugin that
        docker-buildx-plugin also owns; --allowerasing does not solve file
        conflicts). Removing docker-ce also stops docker (its %preun scriptlet),
        so the service step below starts the new version. /var/lib/docker stays.
        """
        return self.remove_installed(DOCKER_PACKAGES, "switching Docker version")

    def remove_installed(self, packages: tuple[str, ...], why: str) -> bool:
        installed = self.installed_packages(packages)
        if not installed:
            return False
        self.log(f"removing {', '.join(installed)} ({why})")
        self.sh(f"dnf -y remove {' '.join(installed)}", timeout=DNF_TIMEOUT)
        return True

    def install_pins(self, version: str) -> None:
        # obsoletes=0: containerd.io "obsoletes" runc; we removed runc ourselves
        # above, so dnf must not go replacing anything else through obsoletes.
        specs = " ".join(pin_specs(version))
        self.log(f"installing Docker {version}: {specs}")
        self.sh(f"dnf -y install --setopt=obsoletes=0 {specs}", timeout=DNF_TIMEOUT)

    def ensure_services(self) -> bool:
        """containerd and docker enabled and running (containerd first)."""
        changed = False
        for unit in ("containerd", "docker"):
            if not self.ok(f"systemctl is-active --quiet {unit}"):
                self.log(f"enabling and starting {unit}")
                self.sh(f"systemctl enable --now {unit}")
                changed = True
            elif not self.ok(f"systemctl is-enabled --quiet {unit}"):
                self.log(f"enabling {unit}")
                self.sh(f"systemctl enable {unit}")
                changed = True
        return changed

    def ensure_firewalld_installed(self) -> bool:
        """Install firewalld when missing (it is part of @core, but a box may lack it).

        Installing does not start it; `apply_firewalld` decides its state.
        """
        if self.ok("rpm -q --quiet firewalld"):
            return False
        self.ensure_vault_repos()
        self.log("installing firewalld")
        self.sh("dnf -y install firewalld", timeout=DNF_TIMEOUT)
        return True

    # -- the Recipe interface ---------------------------------------------
    def install_docker(self, version: str) -> bool:
        if version not in PINS:
            supported = ", ".join(sorted(PINS))
            raise ProvisionError(
                f"Docker {version!r} is not supported on CentOS 8; supported versions: {supported}"
            )
        changed = self.ensure_vault_repos()
        current = self.installed_docker_version()
        if current is not None and (current == version or current.startswith(version + ".")):
            self.log(f"docker-ce {current} already installed")
        else:
            changed |= self.ensure_docker_repo()
            changed |= self.remove_conflicting_packages()
            if current is not None:
                self.log(f"docker-ce {current} installed, switching to {version}")
                changed |= self.remove_docker_packages()
            self.install_pins(version)
            changed = True
        changed |= self.ensure_services()
        return changed

    def stood_in(self, version: str, real: str) -> str | None:
        """None: on CentOS 8 both 19.03 and 20.10 are the real packages."""
        return None

    def ensure_busybox(self) -> bool:
        """The probe image is made from the machine's own busybox (EPEL has it)."""
        if self.ok("test -x /usr/sbin/busybox") or self.ok("test -x /sbin/busybox"):
            return False
        self.ensure_vault_repos()
        self.log("installing busybox from EPEL (the probe image is made from it)")
        self.sh("dnf -y install epel-release", timeout=DNF_TIMEOUT)
        self.sh("dnf -y install busybox", timeout=DNF_TIMEOUT)
        return True

    def apply_firewalld(self, state: str, force_docker_restart: bool = False) -> bool:
        """As `Recipe.apply_firewalld`, installing firewalld first when a state needs it."""
        changed = False
        if state in ("on", "stopped-no-restart"):
            changed = self.ensure_firewalld_installed()
        return super().apply_firewalld(state, force_docker_restart) or changed
