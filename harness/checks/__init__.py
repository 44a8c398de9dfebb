"""Checks: probes run on a lab machine through pytest + testinfra.

`probes.py` says what each check runs; `plugin.py` and `test_lab.py` are the
pytest side; `runner.py` starts that pytest run for one machine and reads back
its results.
"""

from harness.checks.probes import CHECKS, Check

__all__ = ["CHECKS", "Check"]
