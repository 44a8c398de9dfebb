"""Pipelines for the CI engines teams already run: one job per cell, then one job that
merges their reports. fwlab schedules nothing itself; GitHub Actions' `strategy.matrix` and
GitLab CI's `parallel: matrix` fan the cells out across runners.

Both pipelines run fwlab as the README's quick start does (`./scripts/run setup`, as root),
cache the base images by their recipe keys, keep every cell's JSON and JUnit as artifacts
under the cell's id, and merge them with `fwlab report merge`, whose exit status is the
matrix's. See docs/ci.md for what a runner needs.
"""

from __future__ import annotations

import shlex
from typing import Any

import yaml

from harness.labs import Lab
from harness.providers.nspawn.image import ImageRecipe

CELL_TIMEOUT_MINUTES = 30
REPORT_TIMEOUT_MINUTES = 15
FWLAB = ".venv/bin/fwlab"


def _lab_args(lab: Lab, cells: list[str]) -> str:
    """The --lab/--cells arguments that select these cells again, repository-relative."""
    args = ["--lab", lab.argument]
    for text in cells:
        args += ["--cells", text]
    return shlex.join(args)


def image_keys(lab: Lab, cells: list[str]) -> str:
    """Every base image the cells need, by recipe key: what the image cache is keyed by."""
    releases = sorted({lab.recipe(s.cell)["os"] for s in lab.select(cells)})
    return "-".join(f"{r}-{ImageRecipe(suite=r).key}" for r in releases)


class _Dumper(yaml.SafeDumper):
    """Multi-line strings as literal blocks, keys in the order written, no anchors."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _literal(dumper: yaml.SafeDumper, text: str) -> yaml.ScalarNode:
    style = "|" if "\n" in text else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", text, style=style)


_Dumper.add_representer(str, _literal)


def _yaml(document: dict[str, Any], header: str) -> str:
    return header + yaml.dump(document, Dumper=_Dumper, sort_keys=False, width=100)


def github(lab: Lab, cells: list[str]) -> str:
    """A GitHub Actions workflow: list the cells, one job per cell, merge the reports."""
    select = _lab_args(lab, cells)
    checkout = {"uses": "actions/checkout@v4"}
    setup = {
        "name": "Install fwlab (as the README's quick start does)",
        "run": "sudo ./scripts/run setup",
    }
    cache_dir = ".fwlab-cache"
    document = {
        "name": f"fwlab matrix: {lab.name}",
        "on": {"push": {"branches": ["main"]}, "pull_request": {}, "workflow_dispatch": {}},
        "permissions": {"contents": "read"},
        "jobs": {
            "cells": {
                "name": "List the cells",
                "runs-on": "ubuntu-latest",
                "timeout-minutes": 10,
                "outputs": {
                    "cells": "${{ steps.list.outputs.cells }}",
                    "images": "${{ steps.list.outputs.images }}",
                },
                "steps": [
                    checkout,
                    {"uses": "actions/setup-python@v5", "with": {"python-version": "3.11"}},
                    {"run": "python -m pip install --quiet ."},
                    {
                        "id": "list",
                        "run": (
                            f"fwlab matrix {select} --list --json cells.json\n"
                            'python3 -c \'import json; print("cells=" + json.dumps('
                            '[c["id"] for c in json.load(open("cells.json"))["cells"]]))\''
                            ' >> "$GITHUB_OUTPUT"\n'
                            f'echo "images=$(fwlab image key {select})" >> "$GITHUB_OUTPUT"'
                        ),
                    },
                ],
            },
            "cell": {
                "name": "${{ matrix.cell }}",
                "needs": "cells",
                "runs-on": "ubuntu-latest",
                "timeout-minutes": CELL_TIMEOUT_MINUTES,
                "strategy": {
                    "fail-fast": False,
                    "matrix": {"cell": "${{ fromJSON(needs.cells.outputs.cells) }}"},
                },
                "steps": [
                    checkout,
                    {
                        "name": "Base images, cached by their recipe keys",
                        "uses": "actions/cache@v4",
                        "with": {
                            "path": cache_dir,
                            "key": "fwlab-images-${{ needs.cells.outputs.images }}",
                        },
                    },
                    setup,
                    {
                        "name": "Restore the cached images",
                        "run": (
                            f"if [ -f {cache_dir}/images.tar ]; then sudo mkdir -p /var/lib/fwlab"
                            f" && sudo tar -xf {cache_dir}/images.tar -C /var/lib/fwlab; fi"
                        ),
                    },
                    {
                        "name": "Run the cell",
                        "run": (
                            f'sudo {FWLAB} matrix {select} --cells "${{{{ matrix.cell }}}}" '
                            '--json "out/${{ matrix.cell }}.json" '
                            '--junit "out/${{ matrix.cell }}.xml"'
                        ),
                    },
                    {
                        "name": "Keep the images for the next run",
                        "if": "always()",
                        "run": (
                            f"mkdir -p {cache_dir} && sudo tar -cf {cache_dir}/images.tar "
                            "-C /var/lib/fwlab images && "
                            f'sudo chown "$(id -u)" {cache_dir}/images.tar'
                        ),
                    },
                    {
                        "uses": "actions/upload-artifact@v4",
                        "if": "always()",
                        "with": {
                            "name": "cell-${{ matrix.cell }}",
                            "path": "out/",
                            "if-no-files-found": "warn",
                        },
                    },
                ],
            },
            "report": {
                "name": "Merged matrix",
                "needs": "cell",
                "if": "always()",
                "runs-on": "ubuntu-latest",
                "timeout-minutes": REPORT_TIMEOUT_MINUTES,
                "steps": [
                    checkout,
                    {"uses": "actions/setup-python@v5", "with": {"python-version": "3.11"}},
                    {"run": "python -m pip install --quiet ."},
                    {
                        "uses": "actions/download-artifact@v4",
                        "with": {"pattern": "cell-*", "path": "cells", "merge-multiple": True},
                    },
                    {
                        "name": "Merge (its exit status is the matrix's)",
                        "run": (
                            f"fwlab report merge merged cells/*.json {select} "
                            '--markdown "$GITHUB_STEP_SUMMARY"'
                        ),
                    },
                    {
                        "uses": "actions/upload-artifact@v4",
                        "if": "always()",
                        "with": {"name": "matrix", "path": "merged/"},
                    },
                ],
            },
        },
    }
    header = f"# Generated by `fwlab ci github {select}`: regenerate, don't edit.\n"
    return _yaml(document, header)


def gitlab(lab: Lab, cells: list[str]) -> str:
    """A GitLab CI pipeline: `parallel: matrix` over the cells, then a merge job."""
    select = _lab_args(lab, cells)
    ids = [s.cell.id for s in lab.select(cells)]
    setup = [
        "apt-get update -q && apt-get install -y -q git sudo python3 python3-venv",
        "./scripts/run setup",
    ]
    document = {
        "stages": ["cells", "report"],
        "variables": {"FWLAB_IMAGE_CACHE": "$CI_PROJECT_DIR/.fwlab-images"},
        "cell": {
            "stage": "cells",
            "image": "debian:bookworm",
            "tags": ["privileged"],
            "timeout": f"{CELL_TIMEOUT_MINUTES}m",
            "parallel": {"matrix": [{"CELL": ids}]},
            "cache": {"key": f"fwlab-images-{image_keys(lab, cells)}", "paths": [".fwlab-images/"]},
            "script": setup
            + [
                f'{FWLAB} matrix {select} --cells "$CELL" '
                '--json "out/$CELL.json" --junit "out/$CELL.xml"'
            ],
            "artifacts": {"when": "always", "paths": ["out/"], "reports": {"junit": "out/*.xml"}},
        },
        "report": {
            "stage": "report",
            "image": "debian:bookworm",
            "when": "always",
            "needs": ["cell"],
            "timeout": f"{REPORT_TIMEOUT_MINUTES}m",
            "script": setup
            + [f"{FWLAB} report merge merged out/*.json {select} --markdown merged/summary.md"],
            "artifacts": {
                "when": "always",
                "paths": ["merged/"],
                "reports": {"junit": "merged/matrix.xml"},
            },
        },
    }
    header = f"# Generated by `fwlab ci gitlab {select}`: regenerate, don't edit.\n"
    return _yaml(document, header)
