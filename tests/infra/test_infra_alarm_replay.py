"""Replay late traffic data through the synthesized alarms (model: alarm_replay.py).

The handler stamps traffic metrics with the request minute and emits them
when it processes the log object: ALB delivers the object of a 5-minute
interval 5-20 minutes after the interval ends. Every traffic alarm must page
for an incident whatever the delay, within the latency the README promises,
and stay quiet for normal traffic with sporadic single 502s.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
from alarm_replay import Point, Store, first_alarm, in_alarm
from infra_synth import EXISTING_BUCKET, Synth

from alb502 import causes
from alb502 import metric_names as m
from infra import monitoring

pytestmark = pytest.mark.slow

NS = m.DEFAULT_NAMESPACE
WEB, API = EXISTING_BUCKET["loadBalancers"].split(",")
#: ALB's delivery delay after an interval ends, minutes.
DELAYS = (5, 10, 20)
REQUESTS_PER_MINUTE = 300
#: An incident: this many 502s of one cause a minute (6.7 % of requests).
INCIDENT_502_PER_MINUTE = 20
INCIDENT_START = 120
INCIDENT_MINUTES = 45
#: Promised paging latency (README "Alarms"): M breaching periods of errors
#: plus the latest a point lands after its minute.
MAX_ARRIVAL = int(monitoring.MAX_ARRIVAL_DELAY.to_minutes())
LATENCY_BOUND = {
    "rate": monitoring.RATE_DATAPOINTS * 5 + MAX_ARRIVAL,
    "cause": monitoring.CAUSE_DATAPOINTS * 5 + MAX_ARRIVAL,
}


def arrives(minute: int, delay: int) -> int:
    """When a point of ``minute`` lands: its 5-minute object, delivered ``delay`` late."""
    return minute // 5 * 5 + 5 + delay


def emit(
    store: Store, lb: str, minute: int, delay: int, requests: int, errors: dict[str, int]
) -> None:
    """What the handler emits for one minute of one load balancer."""
    landing = arrives(minute, delay)

    def put(name: str, dims: dict[str, str], value: float) -> None:
        store.add(Point(NS, name, frozenset(dims.items()), minute, value, landing))

    put(m.REQUESTS, {m.LOAD_BALANCER: lb}, requests)
    # Causes the load balancer logs with a 503 or 504 are not 502s.
    other = {c: n for c, n in errors.items() if c in monitoring.CAUSE_METRIC}
    target = sum(n for c, n in errors.items() if c == causes.TARGET_APP_ERROR)
    elb = sum(errors.values()) - target - sum(other.values())
    # Powertools emits a metric only when it was added: zero counts are absent.
    if elb:
        put(m.ELB_502, {m.LOAD_BALANCER: lb}, elb)
    if target:
        put(m.TARGET_502, {m.LOAD_BALANCER: lb}, target)
    for cause, n in errors.items():
        name = m.ELB_5XX_OTHER if cause in other else m.ERRORS_502
        put(name, {m.LOAD_BALANCER: lb, m.CAUSE: cause}, n)


#: Normal traffic's stray 502s: one at a time, every cause in turn, on either
#: load balancer, a few minutes apart (sometimes two in one 5-minute period).
STRAY_CAUSES = (causes.TARGET_APP_ERROR, *monitoring.ALARMED_CAUSES)


def stray(minute: int) -> tuple[str, str] | None:
    if minute % 7 and minute % 11:
        return None
    return (WEB if minute % 2 else API), STRAY_CAUSES[minute % len(STRAY_CAUSES)]


def traffic(delay: int, minutes: int, incident: str | None) -> Store:
    store = Store()
    for minute in range(minutes):
        for lb in (WEB, API):
            errors: dict[str, int] = {}
            hit = stray(minute)
            if hit and hit[0] == lb:
                errors[hit[1]] = 1
            in_incident = INCIDENT_START <= minute < INCIDENT_START + INCIDENT_MINUTES
            if incident and lb == WEB and in_incident:
                errors[incident] = errors.get(incident, 0) + INCIDENT_502_PER_MINUTE
            emit(store, lb, minute, delay, REQUESTS_PER_MINUTE, errors)
    return store


def traffic_alarms(synth: Synth) -> dict[str, dict[str, Any]]:
    """Alarm name -> properties, for every alarm on the request-stamped metrics."""
    traffic_metrics = {m.REQUESTS, m.ELB_502, m.TARGET_502, m.ERRORS_502, m.ELB_5XX_OTHER}
    found = {}
    for resource in synth.raw["Resources"].values():
        if resource["Type"] != "AWS::CloudWatch::Alarm":
            continue
        alarm = resource["Properties"]
        text = str(alarm.get("Metrics", "")) + alarm.get("MetricName", "")
        if any(name in text for name in traffic_metrics):
            found[alarm["AlarmName"]] = alarm
    return found


def incident_cause(name: str) -> str:
    for cause in monitoring.ALARMED_CAUSES:
        if name.endswith(f"Cause-{cause}"):
            return cause
    return causes.TARGET_UNREACHABLE


def kind(name: str) -> str:
    return "cause" if "-Cause-" in name else "rate"


def test_every_traffic_alarm_is_replayed(existing_synth: Synth) -> None:
    names = set(traffic_alarms(existing_synth))
    assert names == {
        "alb502-prod-ErrorRate-app-web-0123456789abcdef",
        "alb502-prod-ErrorRate-app-api-fedcba9876543210",
        "alb502-prod-Errors502-ByLoadBalancer",
        *(f"alb502-prod-Cause-{c}" for c in monitoring.ALARMED_CAUSES),
    }


@pytest.mark.parametrize("delay", DELAYS)
def test_each_alarm_pages_for_an_incident_whatever_the_delay(
    existing_synth: Synth, delay: int
) -> None:
    latencies = {}
    stores: dict[str, Store] = {}
    for name, alarm in traffic_alarms(existing_synth).items():
        if "ErrorRate-app-api" in name:
            continue  # the incident is on WEB; API's alarm is checked below
        cause = incident_cause(name)
        store = stores.setdefault(
            cause, traffic(delay, INCIDENT_START + INCIDENT_MINUTES + 60, cause)
        )
        first = first_alarm(alarm, store, range(INCIDENT_START + INCIDENT_MINUTES + 60))
        assert first is not None, f"{name} never pages with logs {delay} min late"
        latencies[name] = first - INCIDENT_START
        assert 0 < latencies[name] <= LATENCY_BOUND[kind(name)], (name, latencies[name])
        # It pages while the incident is still on (a 45-minute incident).
        assert first < INCIDENT_START + INCIDENT_MINUTES
    print(f"paging latency, logs {delay} min late:", latencies)


@pytest.mark.parametrize("delay", DELAYS)
def test_no_alarm_pages_on_normal_traffic_with_stray_502s(
    existing_synth: Synth, delay: int
) -> None:
    store = traffic(delay, 12 * 60, incident=None)
    assert sum(1 for p in store.points if p.name == m.ERRORS_502) > 100
    for name, alarm in traffic_alarms(existing_synth).items():
        assert first_alarm(alarm, store, range(12 * 60)) is None, name


def test_the_other_load_balancers_rate_alarm_stays_quiet(existing_synth: Synth) -> None:
    (alarm,) = [a for n, a in traffic_alarms(existing_synth).items() if "ErrorRate-app-api" in n]
    store = traffic(20, INCIDENT_START + INCIDENT_MINUTES + 60, causes.TARGET_UNREACHABLE)
    assert first_alarm(alarm, store, range(INCIDENT_START + INCIDENT_MINUTES + 60)) is None


def test_the_fleet_alarm_names_the_load_balancer(existing_synth: Synth) -> None:
    (alarm,) = [a for n, a in traffic_alarms(existing_synth).items() if "ByLoadBalancer" in n]
    store = traffic(10, INCIDENT_START + INCIDENT_MINUTES + 60, causes.TARGET_UNREACHABLE)
    # Without GROUP BY both load balancers' strays would add to one series;
    # with it, WEB alone breaches.
    assert "GROUP BY LoadBalancer" in alarm["Metrics"][0]["Expression"]
    assert in_alarm(alarm, store, INCIDENT_START + INCIDENT_MINUTES)


@pytest.mark.parametrize("delay", [15, 20])
def test_the_old_3_of_5_window_misses_late_incidents(existing_synth: Synth, delay: int) -> None:
    """The model reproduces issue 8: once logs land 15 minutes or more after their
    interval, 3 of 5 periods never hold 3 breaching points at once."""
    (alarm,) = [a for n, a in traffic_alarms(existing_synth).items() if "ErrorRate-app-web" in n]
    old = copy.deepcopy(alarm)
    old["EvaluationPeriods"], old["DatapointsToAlarm"] = 5, 3
    # A 15-minute incident (3 periods): fully breaching, but late.
    store = Store()
    for minute in range(240):
        n = INCIDENT_502_PER_MINUTE if INCIDENT_START <= minute < INCIDENT_START + 15 else 0
        emit(store, WEB, minute, delay, REQUESTS_PER_MINUTE, {causes.TARGET_UNREACHABLE: n})
    assert first_alarm(old, store, range(240)) is None
    assert first_alarm(alarm, store, range(240)) is not None


def test_one_stray_502_per_period_never_pages_a_cause(existing_synth: Synth) -> None:
    """The old threshold 0 paged on any single target_unreachable 502."""
    for name, alarm in traffic_alarms(existing_synth).items():
        if kind(name) != "cause":
            continue
        store = Store()
        for minute in range(0, 180, 5):
            emit(store, WEB, minute, 5, REQUESTS_PER_MINUTE, {incident_cause(name): 1})
        assert first_alarm(alarm, store, range(180)) is None, name
