"""fwlab's pytest plugin: a lab folder's ordinary pytest-testinfra tests become its checks.

Loaded in every pytest run (entry point `pytest11`), it acts only on tests that live in
a lab folder (one with a `lab.toml`). There, each test is one check:

- a test marked `@pytest.mark.probe(Http(...))` takes the `observation` fixture: probes
  run at once, each traced, when the first of them runs. Probes whose tests use different
  fixtures of the lab's own (e.g. a module fixture that reloads firewalld) run apart,
  after those fixtures: a step that changes the machine belongs in such a fixture;
- any other test is judged as it ends: it passes (`pass`), an assertion fails (`blocked`,
  reason `assert`), or it records an outcome itself with the `observe` fixture; an
  exception that is not an assertion means the check could not run (`error`).

Each result is compared with what the lab file expects for the cell (`--fwlab-cell`, or
the cell the machine was provisioned as): the test passes when the machine did what its
cell is expected to do. The result (outcome, reason, detail, trace, expectation,
judgement) goes into the test's JUnit properties as `fwlab`, which is how `fwlab matrix`
reads it back.

By hand, against any machine testinfra can reach:

    pytest labs/docker-firewalld --ssh-config=FILE --hosts=ssh://NAME [--fwlab-cell=...]
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from harness.models import ASSERT_REASON, Cell, CheckResult, Expectation

PROPERTY = "fwlab"
MARKER = "probe"
#: Probes run at once on one machine (each an `nsenter`, a few milliseconds of CPU).
PROBES_AT_ONCE = 8
#: Client containers started at once where missing: each is a `docker run`, whose client
#: alone holds about 50 MiB, and two or three at once already keep a small machine busy.
CLIENTS_AT_ONCE = 3
_OBSERVED = pytest.StashKey[CheckResult]()
_STATE = pytest.StashKey["LabRun"]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("fwlab", "fwlab labs")
    group.addoption("--fwlab-cell", help="the cell to judge against: a cell id or axis=value,...")
    group.addoption("--fwlab-lab", help="the lab file (default: the folder's lab.toml)")
    group.addoption(
        "--fwlab-reproduce", action="store_true", help="observe without judging (no cell)"
    )
    group.addoption(
        "--fwlab-outside", help="testinfra host of a client outside the lab (e.g. netns://NAME)"
    )
    group.addoption(
        "--fwlab-time-scale", type=float, default=1.0, help="how slow the machine is (bounds)"
    )
    group.addoption("--fwlab-no-trace", action="store_true", help="don't trace the probes")
    group.addoption(
        "--fwlab-keep-scaffold",
        action="store_true",
        help="leave the servers and probe clients running (the machine is kept, or thrown "
        "away anyway), and reuse what an earlier run left",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", f"{MARKER}(spec): the network probe this check makes (harness.checks.Http/Ping)"
    )
    import harness.ssh  # noqa: F401  (registers the fwlab:// and netns:// testinfra backends)


def check_name(item: pytest.Item) -> str:
    """test_egress_name -> egress-name; parameters (but the testinfra host) in brackets."""
    base = getattr(item, "originalname", item.name).removeprefix("test_").replace("_", "-")
    callspec = getattr(item, "callspec", None)
    params = [
        str(v) for k, v in (callspec.params.items() if callspec else []) if k != "_testinfra_host"
    ]
    return f"{base}[{'-'.join(params)}]" if params else base


def lab_file_of(path: Path) -> Path | None:
    for folder in (path.parent, *path.parents):
        if (folder / "lab.toml").is_file():
            return folder / "lab.toml"
    return None


# -- one run of a lab's checks ------------------------------------------------------
class LabRun:
    """What one pytest session of a lab knows: the lab, the cell, the machine, the
    scaffold, and the probe batches already run."""

    def __init__(self, config: pytest.Config, lab_path: Path, items: list[pytest.Item]):
        from harness import labs

        self.config = config
        self.lab = labs.load(config.getoption("--fwlab-lab") or str(lab_path))
        self.items = items
        self.names = {item.nodeid: check_name(item) for item in items}
        self.judged = not config.getoption("--fwlab-reproduce")
        self.time_scale = config.getoption("--fwlab-time-scale")
        self.trace = not config.getoption("--fwlab-no-trace")
        self.keep_scaffold = config.getoption("--fwlab-keep-scaffold")
        self._spec: Any = None
        self._lock = threading.Lock()
        self.batches: dict[str, dict[str, CheckResult]] = {}

    def machine(self) -> Any:
        """The machine under test: the same testinfra host the `host` fixture gives."""
        import testinfra

        opt = self.config.option
        hosts = opt.hosts.split(",") if opt.hosts else [None]
        found = testinfra.get_hosts(
            hosts,
            connection=opt.connection,
            ssh_config=opt.ssh_config,
            ssh_identity_file=opt.ssh_identity_file,
            sudo=opt.sudo,
            sudo_user=opt.sudo_user,
            ansible_inventory=opt.ansible_inventory,
            force_ansible=opt.force_ansible,
        )
        if len(found) != 1:
            raise pytest.UsageError("a lab checks one machine at a time: give one --hosts")
        return found[0]

    def spec(self) -> Any:
        """The cell's spec (its axes and expectations). Observing without judging, it may
        be unknown (None): a lab's scenario steps still get the cell when one is given."""
        with self._lock:
            if self._spec is None:
                try:
                    self._spec = self._find_spec()
                except pytest.UsageError:
                    if self.judged:
                        raise
                    self._spec = False
            return self._spec or None

    def _find_spec(self) -> Any:
        text = self.config.getoption("--fwlab-cell")
        if not text:
            text = self._provisioned_as()
        chosen = self.lab.select([text])
        if len(chosen) > 1:  # a partial filter: the lab's default run decides
            default = [s for s in chosen if s in self.lab.cells]
            chosen = default or chosen
        if len(chosen) != 1:
            labels = ", ".join(s.cell.label for s in chosen)
            raise pytest.UsageError(f"--fwlab-cell {text!r} fits several cells ({labels})")
        return chosen[0]

    def _provisioned_as(self) -> str:
        from harness.provision import MARKER as CELL_FILE

        out = self.machine().run(f"cat {CELL_FILE}")
        if out.rc != 0:
            raise pytest.UsageError(
                "which cell is this machine? give --fwlab-cell=axis=value,... (or "
                "--fwlab-reproduce to observe without judging); a machine provisioned by "
                f"fwlab says it in {CELL_FILE}"
            )
        marker = json.loads(out.stdout)
        axes = {a: marker[a] for a in ("os", "docker", "firewalld") if marker.get(a)}
        axes.update(marker.get("axes", {}))
        known = set(self.lab.all_axes())
        return ",".join(f"{k}={v}" for k, v in axes.items() if k in known)

    def expectation(self, name: str) -> Expectation | None:
        """What the cell expects of a check; untraced, without its deciding rule (asked not
        to trace, the rule is not observed, so it is not judged)."""
        spec = self.spec() if self.judged else None
        found = spec.expectation(name) if spec is not None else None
        return replace(found, rule=None) if found is not None and not self.trace else found

    def cell(self) -> Cell | None:
        spec = self.spec()
        return spec.cell if spec is not None else None

    # -- probe batches --------------------------------------------------------------
    def batch_key(self, item: pytest.Item) -> str:
        """Probes that see the machine in the same state run together: those whose tests
        use the same fixtures of the lab's own (a module's fixtures: that module only; a
        test with a function-scoped one of its own: alone)."""
        folder = str(self.lab.folder)
        own, scopes = [], set()
        for name, defs in item._fixtureinfo.name2fixturedefs.items():
            fixturedef = defs[-1]
            source = getattr(fixturedef.func, "__code__", None)
            if source is not None and source.co_filename.startswith(folder):
                own.append(name)
                scopes.add(fixturedef.scope)
        if "function" in scopes:
            return item.nodeid
        where = item.nodeid.split("::")[0] if scopes - {"session"} else ""
        return f"{where}|{','.join(sorted(own))}"

    def observation(
        self, item: pytest.Item, machine: Any, scaffold: Any, outside: Any
    ) -> CheckResult:
        key = self.batch_key(item)
        with self._lock:
            if key not in self.batches:
                probes = {
                    self.names[i.nodeid]: i.get_closest_marker(MARKER).args[0]  # type: ignore[union-attr]
                    for i in self.items
                    if i.get_closest_marker(MARKER) and self.batch_key(i) == key
                }
                self.batches[key] = run_probes(probes, machine, scaffold, outside, self.trace)
        return self.batches[key][self.names[item.nodeid]]


def run_probes(
    probes: dict[str, Any], machine: Any, scaffold: Any, outside: Any, trace: bool
) -> dict[str, CheckResult]:
    """Run every probe at once, each traced by its own narrow rule; each result is still
    that probe's own (its outcome, words, time and packets)."""
    from harness.checks import probe as p
    from harness.trace.capture import Captured, Monitors, Selector

    bounds = scaffold.bounds
    resolved = {name: spec.resolved(scaffold) for name, spec in probes.items()}
    inside = [name for name, spec in resolved.items() if spec.network != "outside"]
    with ThreadPoolExecutor(max_workers=CLIENTS_AT_ONCE) as pool:  # made where missing
        clients = dict(zip(inside, pool.map(lambda n: scaffold.client(n, resolved[n]), inside)))
    pids = scaffold.pids([client for client, _mac in clients.values()])
    plans = {}
    for name, spec in resolved.items():
        if name in clients:
            client, mac = clients[name]
            command = p.nsenter_command(spec, pids[client], bounds)
            selector = Selector(mac=mac) if spec.traceable else None
            plans[name] = (spec, machine, command, selector)
            continue
        if outside is None:
            raise pytest.UsageError(f"{name} probes from outside the lab: give --fwlab-outside")
        url = urlsplit(spec.target if "://" in spec.target else f"//{spec.target}")
        selector = Selector(dst=url.hostname or "", dport=str(url.port or 80))
        plans[name] = (spec, outside, p.outside_command(spec, bounds), selector)
    monitors = Monitors(machine, seconds=bounds.hard * 2 + 30) if trace else None
    if monitors:
        monitors.start([plan[3] for plan in plans.values() if plan[3] is not None])
    try:
        with ThreadPoolExecutor(max_workers=PROBES_AT_ONCE) as pool:
            futures = {
                name: pool.submit(p.run, host, cmd, spec, bounds, name)
                for name, (spec, host, cmd, _sel) in plans.items()
            }
            results = {name: f.result() for name, f in futures.items()}
    finally:
        captured = Captured.of(*monitors.stop()) if monitors else None
    if captured is not None:
        for name, result in results.items():
            selector = plans[name][3]
            if selector is not None and result.outcome != "error":
                result.trace = captured.for_probe(selector, result.outcome == "pass")
    return results


# -- collection ---------------------------------------------------------------------
def pytest_collection_modifyitems(
    session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
) -> None:
    found: dict[Path, list[pytest.Item]] = {}
    for item in items:
        lab_file = lab_file_of(Path(str(item.path)))
        if lab_file is not None:
            found.setdefault(lab_file, []).append(item)
    if not found:
        return
    if len(found) > 1:
        raise pytest.UsageError(f"one lab at a time, not {', '.join(map(str, found))}")
    lab_file, lab_items = next(iter(found.items()))
    run = LabRun(config, lab_file, lab_items)
    names = list(run.names.values())
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise pytest.UsageError(f"{run.lab.folder}: check {twice[0]!r} is defined twice")
    for spec in run.lab.known:
        unused = spec.unused_patterns(names)
        if unused:
            raise pytest.UsageError(
                f"{run.lab.path}: cell {spec.cell.label}: expectation {unused[0]!r} names no "
                f"check (checks: {', '.join(names)})"
            )
    config.stash[_STATE] = run


def _run_of(item: pytest.Item) -> LabRun | None:
    run = item.config.stash.get(_STATE, None)
    return run if run is not None and item.nodeid in run.names else None


# -- fixtures -----------------------------------------------------------------------
@pytest.fixture(scope="session")
def fwlab(request: pytest.FixtureRequest) -> LabRun:
    run = request.config.stash.get(_STATE, None)
    if run is None:
        pytest.fail("fwlab fixtures work in a lab folder (one with a lab.toml)")
    return run


@pytest.fixture(scope="session")
def lab(fwlab: LabRun) -> Any:
    """The lab (its lab.toml)."""
    return fwlab.lab


@pytest.fixture(scope="session")
def cell(fwlab: LabRun) -> Cell | None:
    """The cell being checked (`cell.get("zone")`); None only when observing a machine
    without judging and without saying which cell it is."""
    return fwlab.cell()


@pytest.fixture(scope="session")
def machine(fwlab: LabRun) -> Any:
    """The machine under test, as a testinfra host (session-wide, unlike `host`)."""
    return fwlab.machine()


@pytest.fixture(scope="session")
def outside(request: pytest.FixtureRequest) -> Any:
    """A client outside the lab (`--fwlab-outside`), as a testinfra host; None if none."""
    import testinfra

    spec = request.config.getoption("--fwlab-outside")
    return testinfra.get_host(spec) if spec else None


@pytest.fixture(scope="session")
def scenario() -> None:
    """The lab's own steps before its probes; a lab's conftest.py overrides this."""
    return None


@pytest.fixture(scope="session")
def scaffold(fwlab: LabRun, machine: Any, scenario: None) -> Iterator[Any]:
    """The probe image and the servers probes talk to, once per cell."""
    from harness.checks.scaffold import Scaffold

    built = Scaffold(machine, fwlab.time_scale, fwlab.lab.name, fwlab.keep_scaffold)
    try:
        built.start()
        yield built
    finally:
        built.teardown()


@pytest.fixture
def observation(
    request: pytest.FixtureRequest, fwlab: LabRun, machine: Any, scaffold: Any, outside: Any
) -> CheckResult:
    """What this test's `@pytest.mark.probe(...)` saw."""
    if request.node.get_closest_marker(MARKER) is None:
        pytest.fail("the observation fixture needs @pytest.mark.probe(Http(...) or Ping(...))")
    result = fwlab.observation(request.node, machine, scaffold, outside)
    request.node.stash[_OBSERVED] = result
    return result


class Probe:
    """Run a probe now, from a test body: `probe(Http(url))`. It is traced, and becomes
    the test's observation."""

    def __init__(self, item: pytest.Item, fwlab: LabRun, machine: Any, scaffold: Any, outside: Any):
        self.item, self.fwlab, self.machine, self.scaffold, self.outside = (
            item,
            fwlab,
            machine,
            scaffold,
            outside,
        )

    def __call__(self, spec: Any) -> CheckResult:
        name = self.fwlab.names[self.item.nodeid]
        result = run_probes(
            {name: spec}, self.machine, self.scaffold, self.outside, self.fwlab.trace
        )[name]
        self.item.stash[_OBSERVED] = result
        return result


@pytest.fixture
def probe(
    request: pytest.FixtureRequest, fwlab: LabRun, machine: Any, scaffold: Any, outside: Any
) -> Probe:
    return Probe(request.node, fwlab, machine, scaffold, outside)


class Observe:
    """Record what a check that is not a probe saw: `observe.blocked("zone-conflict", msg)`."""

    def __init__(self, item: pytest.Item):
        self.item = item

    def _set(self, outcome: str, reason: str | None, detail: str) -> None:
        self.item.stash[_OBSERVED] = CheckResult("", outcome, reason, detail)  # type: ignore[arg-type]

    def passed(self, detail: str = "") -> None:
        self._set("pass", None, detail)

    def blocked(self, reason: str, detail: str = "") -> None:
        self._set("blocked", reason, detail)

    def error(self, detail: str) -> None:
        self._set("error", None, detail)


@pytest.fixture
def observe(request: pytest.FixtureRequest) -> Observe:
    return Observe(request.node)


# -- judging ------------------------------------------------------------------------
@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    run = _run_of(item)
    if run is None:
        return (yield)
    started = time.monotonic()
    name = run.names[item.nodeid]
    try:
        yield
    except AssertionError as exc:  # the machine did not do what the test asserts
        item.stash.setdefault(_OBSERVED, CheckResult(name, "blocked", ASSERT_REASON, _first(exc)))
    except Exception as exc:
        item.stash[_OBSERVED] = CheckResult(
            name, "error", None, f"{type(exc).__name__}: {_first(exc)}"
        )
        _record(item, run, started)
        raise
    else:
        item.stash.setdefault(_OBSERVED, CheckResult(name, "pass", None, "the test passed"))
    result = _record(item, run, started)
    if result.outcome == "error":
        raise AssertionError(f"{name} could not run: {result.detail}")
    if result.judgement == "mismatch":
        raise AssertionError(result.mismatch_message())
    return None


def _record(item: pytest.Item, run: LabRun, started: float) -> CheckResult:
    result = item.stash[_OBSERVED]
    result.name = run.names[item.nodeid]
    doc = getattr(getattr(item, "function", None), "__doc__", None) or ""
    result.description = doc.strip().splitlines()[0] if doc.strip() else result.description
    result.seconds = result.seconds or time.monotonic() - started
    result.expected = run.expectation(result.name)
    item.user_properties.append((PROPERTY, json.dumps(result.as_dict())))
    return result


def _first(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
