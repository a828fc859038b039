"""Realistic incident objects, written from AWS's documented access-log fields.

Each scenario is one log object (one load balancer node, five minutes) with
steady background traffic on a few healthy targets and one incident laid
over it, the way ALB logs it:

- ``time`` is when the load balancer answered, ``request_creation_time``
  when it received the request; lines are written in ``time`` order.
- A refused or failed connection is logged before the request was sent:
  ``request_processing_time`` -1 (``-1 -1 -1``), 502; a connection that is
  never established ends after the 10 s connect timeout with 504.
- A target that closes the connection after the request was sent leaves a
  request time and no response: ``0.001 0.000 -1 502 -`` (a keep-alive race
  when it happens instantly on a healthy target), or a longer target time
  when it crashed mid-request.
- A slow target hits the idle timeout (60 s): ``0.001 -1 -1 504 -``.
- Lambda targets, AWS WAF and the authenticate action log an error_reason
  (500 for WAF and an unreachable identity provider, 561 for an error from
  it); a target group without targets answers 503 with no target.

Every failed line carries the cause a reader of ``causes.md`` v2 gives it,
decided by the scenario (what happened), never by the classifier.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

START = datetime(2026, 11, 20, 10, 0, 0, tzinfo=UTC)
OBJECT_SECONDS = 300.0
LB = "app/shop/50dc6c495c0c9188"
TG = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/web/73e2d6bc24d8a067"
HEALTHY = ("10.0.1.10:8080", "10.0.1.11:8080", "10.0.1.12:8080")


@dataclass(frozen=True)
class Line:
    """One entry: its text, when it was answered, and the cause it should get."""

    time: float
    text: str
    cause: str | None


def _iso(seconds: float) -> str:
    return (START + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass
class Incident:
    """An object being written: background traffic plus what a scenario adds."""

    seed: int
    lines: list[Line] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)
        self._trace = 0

    def entry(
        self,
        created: float,
        *,
        target: str = HEALTHY[0],
        timings: tuple[float, float, float] = (0.001, 0.012, 0.000),
        elb_status: int = 200,
        target_status: str = "200",
        path: str = "/",
        error_reason: str = "-",
        actions: str = "forward",
        cause: str | None = None,
        waited: float | None = None,
    ) -> None:
        """Log one request received at ``created`` seconds into the object."""
        self._trace += 1
        spent = waited if waited is not None else sum(t for t in timings if t > 0)
        answered = created + spent
        fields = " ".join("-1" if t == -1 else f"{t:.3f}" for t in timings)
        client = f"192.0.2.{self.rng.randrange(1, 250)}:{self.rng.randrange(1024, 65535)}"
        text = (
            f"https {_iso(answered)} {LB} {client} {target} {fields} "
            f"{elb_status} {target_status} 120 {0 if target_status == '-' else 2048} "
            f'"GET https://shop.example.com:443{path} HTTP/1.1" "Mozilla/5.0" '
            f"ECDHE-RSA-AES128-GCM-SHA256 TLSv1.2 {TG} "
            f'"Root=1-6740{self._trace:08x}-{self.seed:024x}" "shop.example.com" "-" 1 '
            f'{_iso(created)} "{actions}" "-" "{error_reason}" "{target}" "{target_status}" '
            f'"-" "-" TID_{self._trace:08x} "-" "-" "-"'
        )
        self.lines.append(Line(answered, text, cause))

    def refused(
        self,
        created: float,
        target: str,
        cause: str,
        *,
        status: int = 502,
        waited: float = 0.001,
    ) -> None:
        """A connection the target refused (or, 504, never accepted): never sent."""
        self.entry(
            created,
            target=target,
            timings=REFUSED,
            elb_status=status,
            target_status="-",
            cause=cause,
            waited=waited,
        )

    def cut(
        self, created: float, target: str, cause: str, *, target_time: float, path: str = "/"
    ) -> None:
        """A request sent to the target, whose connection closed with no response."""
        self.entry(
            created,
            target=target,
            timings=(0.001, target_time, -1.0),
            elb_status=502,
            target_status="-",
            path=path,
            cause=cause,
        )

    def background(self, targets: tuple[str, ...] = HEALTHY, rate: float = 4.0) -> None:
        """Healthy traffic on ``targets``, ``rate`` requests a second each, all object long."""
        for target in targets:
            self.serve(target, 0.0, OBJECT_SECONDS, rate)

    def serve(self, target: str, start: float, end: float, rate: float, path: str = "/") -> None:
        """Successful requests to ``target`` between ``start`` and ``end``."""
        t = start + self.rng.random() / rate
        while t < end:
            timings = (0.001, round(self.rng.uniform(0.004, 0.080), 3), 0.000)
            self.entry(t, target=target, timings=timings, path=path)
            t += self.rng.expovariate(rate)

    def text(self) -> str:
        """The object's text: entries in the order the load balancer answered them."""
        ordered = sorted(self.lines, key=lambda line: line.time)
        return "".join(f"{line.text}\n" for line in ordered)

    def expected(self) -> list[str | None]:
        """The cause of each line, in the order of :meth:`text`."""
        return [line.cause for line in sorted(self.lines, key=lambda line: line.time)]


REFUSED = (-1.0, -1.0, -1.0)


def keepalive_races(seed: int) -> Incident:
    """Busy, healthy targets; now and then one closes an idle connection as it is reused.

    Both shapes: refused on reuse (``-1 -1 -1 502``) and closed right after
    the request was written (``0.001 0.000 -1 502``).
    """
    incident = Incident(seed)
    incident.background(rate=8.0)
    for i, second in enumerate((31.2, 77.9, 140.4, 188.8, 251.3)):
        target = HEALTHY[i % len(HEALTHY)]
        incident.refused(second, target, "target_closed_keepalive")
        incident.cut(second + 3.7, target, "target_closed_keepalive", target_time=0.000)
    return incident


def restart(seed: int) -> Incident:
    """A target is OOM-killed and back 20 s later, still registered all along.

    Requests in flight when it died were cut mid-request; new ones are refused.
    """
    incident = Incident(seed)
    sick = HEALTHY[0]
    incident.background(HEALTHY[1:], rate=6.0)
    incident.serve(sick, 0.0, 119.0, 6.0)
    # In flight when it died: sent, then cut. Part of the dense run, which ends
    # in answers again: not a deregistration (5b) but a connection closed (5e).
    incident.cut(119.6, sick, "target_connection_closed", target_time=0.4)
    incident.cut(119.8, sick, "target_connection_closed", target_time=0.2)
    t = 120.05
    while t < 140.0:
        incident.refused(t, sick, "target_restarting")
        t += incident.rng.expovariate(6.0)
    incident.serve(sick, 140.5, OBJECT_SECONDS, 6.0)
    return incident


def deploy_without_draining(seed: int, *, dropped: bool = False) -> Incident:
    """A rolling deploy stops a task before the load balancer has drained it.

    Its connections are refused (or, with ``dropped``, time out after 10 s:
    the same ``-1 -1 -1 504`` a security group drop leaves) until the
    deregistration takes effect; then it is gone from the object.
    """
    incident = Incident(seed)
    old = HEALTHY[0]
    incident.background(HEALTHY[1:], rate=6.0)
    incident.serve(old, 0.0, 89.0, 6.0)
    # In flight when the task stopped: sent, then cut (rule 5b).
    incident.cut(89.5, old, "target_deregistered", target_time=0.5)
    t = 90.1
    while t < 97.0:
        if dropped:
            incident.refused(t, old, "target_deregistered", status=504, waited=10.0)
        else:
            incident.refused(t, old, "target_deregistered")
        t += incident.rng.expovariate(6.0)
    return incident


def blocked_new_target(seed: int, *, silently: bool) -> Incident:
    """A new target joins on a port that refuses (a host firewall, nothing listening),
    or behind a security group that silently drops the load balancer (10 s timeouts)."""
    incident = Incident(seed)
    incident.background(rate=5.0)
    new = "10.0.2.20:8080"
    t = 60.0
    while t < OBJECT_SECONDS - 12:
        if silently:
            incident.refused(t, new, "target_connect_timeout", status=504, waited=10.0)
        else:
            incident.refused(t, new, "target_unreachable")
        t += incident.rng.expovariate(5.0)
    return incident


def target_answers_502(seed: int) -> Incident:
    """An nginx sidecar in the target answers 502 when its app upstream fails."""
    incident = Incident(seed)
    incident.background(rate=5.0)
    for second in range(100, 160, 3):
        incident.entry(
            second + 0.3,
            target=HEALTHY[1],
            timings=(0.001, 0.003, 0.000),
            elb_status=502,
            target_status="502",
            cause="target_app_error",
        )
    return incident


def invalid_responses_on_one_path(seed: int) -> Incident:
    """One endpoint returns oversized headers: it fails after dispatch on every target."""
    incident = Incident(seed)
    incident.background(rate=5.0)
    for i in range(60):
        created = 20.0 + i * 4.1
        target = HEALTHY[i % len(HEALTHY)]
        if i % 4 == 0:
            incident.cut(
                created,
                target,
                "target_invalid_response",
                target_time=0.090,
                path="/api/report" + (f"?id={i}" if i % 3 else ""),
            )
        else:
            incident.entry(
                created,
                target=target,
                timings=(0.001, 0.085, 0.000),
                path="/api/report" + (f"?id={i}" if i % 3 else ""),
            )
    return incident


def slow_requests(seed: int) -> Incident:
    """An export endpoint takes longer than the 60 s idle timeout."""
    incident = Incident(seed)
    incident.background(rate=4.0)
    for i in range(4):
        incident.entry(
            30.0 + i * 40,
            target=HEALTHY[i % 3],
            timings=(0.001, -1.0, -1.0),
            elb_status=504,
            target_status="-",
            path="/export",
            cause="target_response_timeout",
            waited=60.0,
        )
    return incident


def lambda_and_edge_failures(seed: int) -> Incident:
    """Lambda target errors, AWS WAF and identity-provider failures, no targets.

    None of these reach an instance target: the load balancer logs its own code.
    """
    incident = Incident(seed)
    incident.background(rate=3.0)
    logged = (
        (502, "LambdaUnhandled", "lambda_function_error"),
        (502, "LambdaInvalidResponse", "lambda_function_error"),
        (502, "LambdaResponseTooLarge", "lambda_response_too_large"),
        (503, "LambdaThrottling", "lambda_throttled"),
        (502, "LambdaAccessDenied", "lambda_config_error"),
        (500, "WAFConnectionTimeout", "waf_error"),
        (500, "WAFServiceError", "waf_error"),
        (500, "AuthTokenEpRequestTimeout", "auth_error"),
        (561, "AuthInvalidIdToken", "auth_error"),
    )
    for i, (status, code, cause) in enumerate(logged * 3):
        incident.entry(
            10.0 + i * 9.3,
            target="-",
            timings=(0.001, 0.100, -1.0),
            elb_status=status,
            target_status="-",
            error_reason=code,
            cause=cause,
        )
    for i in range(5):
        incident.entry(
            200.0 + i * 7,
            target="-",
            timings=(-1.0, -1.0, -1.0),
            elb_status=503,
            target_status="-",
            cause="no_targets",
            waited=0.0,
        )
    incident.entry(
        260.0,
        target="-",
        timings=(-1.0, -1.0, -1.0),
        elb_status=502,
        target_status="-",
        actions="fixed-response",
        cause="fixed_response",
        waited=0.0,
    )
    return incident


SCENARIOS: dict[str, Callable[[int], Incident]] = {
    "keepalive_races": keepalive_races,
    "restart": restart,
    "deploy_without_draining": deploy_without_draining,
    "deploy_dropped": lambda seed: deploy_without_draining(seed, dropped=True),
    "blocked_refused": lambda seed: blocked_new_target(seed, silently=False),
    "blocked_dropped": lambda seed: blocked_new_target(seed, silently=True),
    "target_answers_502": target_answers_502,
    "invalid_responses": invalid_responses_on_one_path,
    "slow_requests": slow_requests,
    "lambda_and_edge": lambda_and_edge_failures,
}


def mixed(seed: int) -> Incident:
    """Every scenario on one load balancer in one object.

    Each scenario keeps its own targets (renumbered into a subnet of its
    own), as a real fleet has many target groups behind one load balancer.
    """
    merged = Incident(seed)
    for n, build in enumerate(SCENARIOS.values()):
        for line in build(seed + n).lines:
            text = line.text.replace("10.0.1.", f"10.{n}.1.").replace("10.0.2.", f"10.{n}.2.")
            merged.lines.append(Line(line.time, text, line.cause))
    return merged
