"""The nspawn provider: Debian system containers behind a VirtualBox-NAT stand-in."""

from harness.providers.nspawn.provider import NspawnProvider

__all__ = ["NspawnProvider"]
