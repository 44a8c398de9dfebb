"""Workshops: a guided lab (`labs/<lab>/workshop.toml` + `guide.md`) with live checkpoints,
for one student (`fwlab lab ...`) or a room (`fwlab workshop ...`).

A checkpoint looks at the live machine through testinfra and says pass, or exactly
what is missing. Passed checkpoints are recorded on the machine itself
(/root/.fwlab-workshop.json), so progress survives and `workshop status` reads it.
"""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.checks.probes import CHECKS, Scaffold, probe_image_tag, run_check
from harness.errors import FwlabError, UsageError
from harness.labs import LABS_DIR, read_toml, validate
from harness.trace.diagnose import analyse

PROGRESS_FILE = "/root/.fwlab-workshop.json"

_CONDITION = {
    "type": "object",
    "required": ["missing"],
    "additionalProperties": False,
    "properties": {
        "missing": {"type": "string"},
        "run": {"type": "string"},
        "match": {"type": "string"},
        "absent": {"type": "boolean"},
        "probe": {"enum": sorted(CHECKS)},
        "expect": {"enum": ["pass", "blocked"]},
        "trace_file": {"type": "string"},
        "chain": {"type": "string"},
        "verdict": {"type": "string"},
    },
    "oneOf": [
        {"required": ["run", "match"]},
        {"required": ["probe", "expect"]},
        {"required": ["trace_file", "chain", "verdict"]},
    ],
}
SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["lab", "start", "step"],
    "additionalProperties": False,
    "properties": {
        "lab": {"type": "string"},
        "start": {
            "type": "object",
            "required": ["docker", "firewalld"],
            "properties": {"docker": {"type": "string"}, "firewalld": {"type": "string"}},
        },
        "step": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "required": ["title", "hint", "solve", "check"],
                "additionalProperties": False,
                "properties": {
                    "title": {"type": "string"},
                    "hint": {"type": "string"},
                    "solve": {"type": "array", "items": {"type": "string"}},
                    "check": {"type": "array", "items": _CONDITION, "minItems": 1},
                },
            },
        },
    },
}


@dataclass
class Step:
    number: int
    title: str
    hint: str
    solve: list[str]
    conditions: list[dict[str, Any]]


@dataclass
class Workshop:
    lab: str
    start: dict[str, str]
    steps: list[Step] = field(default_factory=list)

    def step(self, number: int) -> Step:
        if not 1 <= number <= len(self.steps):
            raise UsageError(
                f"no step {number}: the {self.lab} workshop has steps 1-{len(self.steps)}"
            )
        return self.steps[number - 1]


def load(lab: str) -> Workshop:
    path = LABS_DIR / lab / "workshop.toml"
    if not path.is_file():
        raise UsageError(f"lab {lab!r} has no workshop ({path} is missing)")
    data = read_toml(path)
    validate(data, SCHEMA, path)
    workshop = Workshop(data["lab"], data["start"])
    for i, raw in enumerate(data["step"], start=1):
        workshop.steps.append(Step(i, raw["title"], raw["hint"], raw["solve"], raw["check"]))
    return workshop


# -- on a live machine -------------------------------------------------------------
def check(host: Any, step: Step) -> list[str]:
    """What is still missing for the step's checkpoint; empty when it passes."""
    missing = [c["missing"] for c in step.conditions if not _holds(host, c)]
    if not missing:
        record(host, step.number)
    return missing


def _holds(host: Any, condition: dict[str, Any]) -> bool:
    if "run" in condition:
        res = host.run(condition["run"])
        found = re.search(condition["match"], res.stdout + res.stderr, re.MULTILINE)
        return bool(found) != bool(condition.get("absent", False))
    if "probe" in condition:
        scaffold = Scaffold(probe_image_tag(host), "", "", "", "")
        result = run_check(host, CHECKS[condition["probe"]], scaffold)
        return result.observed == condition["expect"]
    res = host.run(f"cat {shlex.quote(condition['trace_file'])}")
    verdict = analyse(res.stdout).verdict if res.rc == 0 else None
    return bool(
        verdict and verdict.chain == condition["chain"] and verdict.verdict == condition["verdict"]
    )


def solve(host: Any, step: Step) -> None:
    image = probe_image_tag(host)
    for command in step.solve:
        res = host.run(command.format(image=image))
        if res.rc != 0:
            said = (res.stderr or res.stdout).strip()
            raise FwlabError(f"step {step.number}: `{command}` exited {res.rc}: {said}")


def passed(host: Any) -> list[int]:
    res = host.run(f"cat {PROGRESS_FILE}")
    return sorted(json.loads(res.stdout)["passed"]) if res.rc == 0 else []


def record(host: Any, number: int) -> None:
    done = sorted(set(passed(host)) | {number})
    text = json.dumps({"passed": done})
    host.run(f"sh -c {shlex.quote(f'echo {shlex.quote(text)} > {PROGRESS_FILE}')}")


def progress(host: Any, workshop: Workshop) -> list[int]:
    """Checkpoints passed: those recorded, then any further ones that pass now, in order."""
    done = set(passed(host))
    for step in workshop.steps:
        if step.number not in done:
            if check(host, step):
                break
            done.add(step.number)
    return sorted(done)


def guide_path(lab: str) -> Path:
    return LABS_DIR / lab / "guide.md"
