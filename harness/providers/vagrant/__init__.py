"""The vagrant provider: the repository's Vagrantfile on VirtualBox, or on libvirt
confined to a network namespace of fwlab's (see provider.py)."""

from harness.providers.vagrant.provider import VagrantProvider

__all__ = ["VagrantProvider"]
