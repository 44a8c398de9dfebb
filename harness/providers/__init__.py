"""Provider registry. Modules load lazily so `fwlab` starts fast and a provider's
heavy imports (python-vagrant) are paid only when used: as pytest-testinfra does."""

from __future__ import annotations

import importlib

from harness.errors import UsageError
from harness.providers.base import Machine, Provider

PROVIDERS: dict[str, str] = {
    "nspawn": "harness.providers.nspawn:NspawnProvider",
    "vagrant": "harness.providers.vagrant:VagrantProvider",
}

DEFAULT_PROVIDER = "nspawn"


def get_provider(name: str = DEFAULT_PROVIDER) -> Provider:
    try:
        target = PROVIDERS[name]
    except KeyError:
        raise UsageError(
            f"unknown provider {name!r} (known: {', '.join(sorted(PROVIDERS))})"
        ) from None
    module, cls = target.split(":")
    return getattr(importlib.import_module(module), cls)()


__all__ = ["DEFAULT_PROVIDER", "PROVIDERS", "Machine", "Provider", "get_provider"]
