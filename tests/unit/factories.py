"""Sample MatrixResult objects for report tests.

`sample_matrix()` is a realistic docker-firewalld run on a Debian 12 box:

==========================================  =========================================
docker=19.03,firewalld=on                   STOOD IN (Docker 20.10, firewalld integration
                                            cut off); egress blocked as expected, the
                                            egress-ip block carries an nft trace
docker=19.03,firewalld=off                  infrastructure error (box never booted)
docker=20.10,firewalld=on                   MISMATCH: c2c-ip expected pass, observed
                                            blocked (xtables-monitor trace)
docker=20.10,firewalld=off                  everything passes, as expected
docker=20.10,firewalld=stopped-no-restart   egress blocked (NAT rules flushed), as expected
==========================================  =========================================

=> judged: 3/5 cells match.
"""

from __future__ import annotations

from harness.models import Cell, CellResult, CheckResult, MatrixResult, TraceVerdict

LAB = "docker-firewalld"
PROVIDER = "vagrant:debian-12"
CHECKS = (
    "egress-name",
    "egress-ip",
    "c2c-name",
    "c2c-ip",
    "c2c-default-bridge",
    "icmp-c2c",
    "host-network",
)

STOOD_IN_REASON = (
    "Debian 12 has no Docker 19.03 package: Docker 20.10 stands in with its firewalld "
    "integration cut off (no 'docker' zone, DOCKER-USER not registered with firewalld)"
)
NO_ROUTE = "wget: can't connect to remote host (203.0.113.10): No route to host"
INFRA_ERROR = (
    "vagrant up failed: Timed out while waiting for the machine to boot.\n"
    "boot_timeout=300s exceeded for machine 'fwlab-docker1903-fwoff'"
)

STOOD_IN_CELL = "docker=19.03,firewalld=on"
ERROR_CELL = "docker=19.03,firewalld=off"
MISMATCH_CELL = "docker=20.10,firewalld=on"
MISMATCH_CHECK = "c2c-ip"
TRACED_CHECK = "egress-ip"


def firewalld_reject_trace() -> TraceVerdict:
    """firewalld's own forward chain rejects docker0 traffic (no zone for it)."""
    return TraceVerdict(
        family="inet",
        table="firewalld",
        chain="filter_FORWARD",
        verdict="reject",
        rule='reject with icmpx admin-prohibited comment "zone default: reject"',
        tool="nft",
        path=[
            "filter:FORWARD",
            "filter:DOCKER-USER",
            "filter:DOCKER-ISOLATION-STAGE-1",
            "filter:DOCKER-FORWARD",
            "firewalld:filter_FORWARD",
        ],
        diagnosis=(
            "docker0 is in no firewalld zone, so firewalld's filter_FORWARD rejects the "
            "container's forwarded packets after Docker's own chains accepted them; "
            "put docker0 in the 'trusted' zone or use Docker >= 20.10's firewalld integration"
        ),
    )


def isolation_drop_trace() -> TraceVerdict:
    """Docker's isolation chain drops traffic between the two user networks."""
    return TraceVerdict(
        family="ip",
        table="filter",
        chain="DOCKER-ISOLATION-STAGE-2",
        verdict="drop",
        rule="-A DOCKER-ISOLATION-STAGE-2 -o br-5f0c2a1d9e3b -j DROP",
        tool="xtables-monitor",
        path=[
            "filter:FORWARD",
            "filter:DOCKER-USER",
            "filter:DOCKER-ISOLATION-STAGE-1",
            "filter:DOCKER-ISOLATION-STAGE-2",
        ],
        diagnosis=(
            "the two containers ended up on different user-defined networks; Docker "
            "isolates bridge networks from each other by design"
        ),
        warnings=["xtables-monitor printed no rule counters (legacy backend?)"],
    )


_PASS_DETAIL = {
    "egress-name": "Connecting to example.com (93.184.215.14:80)\nsaving to 'index.html'",
    "egress-ip": "Connecting to 203.0.113.10 (203.0.113.10:80)\nsaving to 'index.html'",
    "c2c-name": "Connecting to web (172.20.0.2:80)\nsaving to 'index.html'",
    "c2c-ip": "Connecting to 172.20.0.2 (172.20.0.2:80)\nsaving to 'index.html'",
    "c2c-default-bridge": "Connecting to 172.17.0.2 (172.17.0.2:80)\nsaving to 'index.html'",
    "icmp-c2c": "3 packets transmitted, 3 packets received, 0% packet loss",
    "host-network": "Connecting to 127.0.0.1 (127.0.0.1:8080)\nsaving to 'index.html'",
}


def _check(
    name: str,
    observed: str,
    expected: str | None,
    detail: str = "",
    seconds: float = 1.25,
    trace: TraceVerdict | None = None,
) -> CheckResult:
    if not detail:
        detail = _PASS_DETAIL.get(name, "") if observed == "pass" else "wget: download timed out"
    return CheckResult(name, observed, detail, seconds, expected, trace)  # type: ignore[arg-type]


def _checks(outcomes: dict[str, str], judged: bool, **overrides: CheckResult) -> list[CheckResult]:
    out = []
    for i, name in enumerate(CHECKS):
        if name in overrides:
            out.append(overrides[name])
            continue
        observed = outcomes.get(name, "pass")
        out.append(_check(name, observed, observed if judged else None, seconds=0.5 + i / 10))
    return out


def sample_matrix(judged: bool = True, detail_override: str | None = None) -> MatrixResult:
    """The five-cell docker-firewalld matrix described in the module docstring.

    judged=False builds the --reproduce flavour (no expectations, nothing judged).
    detail_override replaces the traced egress-ip check's detail (e.g. to inject markup).
    """

    def exp(outcome: str) -> str | None:
        return outcome if judged else None

    reject = firewalld_reject_trace()
    egress_ip = _check(
        TRACED_CHECK,
        "blocked",
        exp("blocked"),
        detail=detail_override if detail_override is not None else NO_ROUTE,
        seconds=3.02,
        trace=reject,
    )
    stood_in = CellResult(
        cell=Cell.of(docker="19.03", firewalld="on"),
        provider=PROVIDER,
        stood_in=True,
        stood_in_reason=STOOD_IN_REASON,
        checks=_checks(
            {"egress-name": "blocked"},
            judged,
            **{
                "egress-name": _check(
                    "egress-name", "blocked", exp("blocked"), "wget: bad address 'example.com'"
                ),
                TRACED_CHECK: egress_ip,
            },
        ),
        trace=reject,
        timings={"up": 41.5, "provision": 88.25, "check": 14.0, "down": 6.5},
        notes=["docker 20.10.24 installed; firewalld backend disabled via daemon.json"],
    )

    error = CellResult(
        cell=Cell.of(docker="19.03", firewalld="off"),
        provider=PROVIDER,
        error=INFRA_ERROR,
        timings={"up": 300.0},
    )

    drop = isolation_drop_trace()
    mismatch = CellResult(
        cell=Cell.of(docker="20.10", firewalld="on"),
        provider=PROVIDER,
        checks=_checks(
            {},
            judged,
            **{
                MISMATCH_CHECK: _check(
                    MISMATCH_CHECK,
                    "blocked",
                    exp("pass"),
                    "wget: download timed out",
                    seconds=10.0,
                    trace=drop,
                )
            },
        ),
        trace=drop,
        timings={"up": 39.0, "provision": 61.0, "check": 21.0, "down": 5.0},
    )

    all_pass = CellResult(
        cell=Cell.of(docker="20.10", firewalld="off"),
        provider=PROVIDER,
        checks=_checks({}, judged),
        timings={"up": 38.0, "provision": 55.0, "check": 9.0, "down": 5.0},
    )

    stopped = CellResult(
        cell=Cell.of(docker="20.10", firewalld="stopped-no-restart"),
        provider=PROVIDER,
        checks=_checks({"egress-name": "blocked", "egress-ip": "blocked"}, judged),
        timings={"up": 40.0, "provision": 70.0, "check": 25.0, "down": 5.0},
        notes=["firewalld stopped after dockerd started; its flush removed Docker's NAT rules"],
    )

    return MatrixResult(
        lab=LAB,
        provider=PROVIDER,
        cells=[stood_in, error, mismatch, all_pass, stopped],
        judged=judged,
        seconds=934.5,
    )


def reproduce_matrix() -> MatrixResult:
    """The same run in --reproduce mode: observed outcomes only."""
    return sample_matrix(judged=False)
