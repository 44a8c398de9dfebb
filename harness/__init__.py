"""fwlab: reproducible labs for container-networking bugs caused by the host firewall."""

__version__ = "0.1.0"
