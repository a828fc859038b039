"""CloudWatch metrics as EMF (Embedded Metric Format) through Powertools Metrics.

Names and dimensions come from ``alb502.metric_names``: the alarms and the
dashboard read exactly those. What is emitted, per processed object:

- per request minute and load balancer, one blob stamped with that minute:
  ``Requests``, ``ELB502``, ``Target502`` (dimension set ``[LoadBalancer]``);
- per request minute, load balancer and cause with at least one 502, one
  blob stamped with that minute: ``Errors502`` (``[LoadBalancer, Cause]``);
  likewise ``ELB5xxOther`` (``[LoadBalancer, Cause]``) for the load
  balancer's other 5xx;
- one blob stamped with the processing time, no dimensions:
  ``LinesParsed``, ``LinesRejected``, ``ObjectsProcessed`` and, when the key
  names its interval, ``ProcessingLag`` (seconds).

A skipped object emits ``ObjectsSkipped`` the same way. One blob carries one
timestamp and one value per dimension, hence one blob per (minute, dimension
values); each holds at most 4 metrics of one value, far under EMF's limits
of 100 metrics per blob and 100 values per metric.

There is deliberately no ``service`` dimension: Powertools would add one
from ``POWERTOOLS_SERVICE_NAME``, and alarms must name the exact dimension
set, so our private provider is built with an empty service.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.metrics.functions import is_metrics_disabled
from aws_lambda_powertools.metrics.provider.cloudwatch_emf.cloudwatch import (
    AmazonCloudWatchEMFProvider,
)

from alb502 import metric_names as names

if TYPE_CHECKING:  # the pipeline (pyarrow) is not needed to emit metrics
    from alb502.pipeline import ObjectReport

# Explicit service: a child logger finds its parent (the handler's) by name.
logger = Logger(service="alb502", child=True)

#: CloudWatch drops EMF data points older than 14 days or more than 2 hours
#: ahead; a small margin keeps us clear of the edges (the lake keeps all).
MAX_AGE = timedelta(days=14) - timedelta(minutes=10)
MAX_AHEAD = timedelta(hours=2) - timedelta(minutes=5)


def utc_now() -> datetime:
    return datetime.now(UTC)


class MetricsEmitter:
    """Prints EMF blobs on stdout (Lambda ships stdout to CloudWatch Logs)."""

    def __init__(
        self, namespace: str | None = None, clock: Callable[[], datetime] = utc_now
    ) -> None:
        self._namespace = namespace
        self._clock = clock
        self._warned_disabled = False

    def _metrics(self) -> Metrics:
        # A provider of our own: Metrics() instances share one class-level
        # metric set, and the default one would add a `service` dimension.
        provider = AmazonCloudWatchEMFProvider(
            namespace=self._namespace or names.namespace(), service=""
        )
        return Metrics(provider=provider)

    def _flush(
        self, when: datetime, dimensions: Mapping[str, str], values: Mapping[str, tuple[float, str]]
    ) -> None:
        metrics = self._metrics()
        for name, value in dimensions.items():
            metrics.add_dimension(name=name, value=value)
        for name, (number, unit) in values.items():
            metrics.add_metric(name=name, unit=unit, value=number)
        metrics.set_timestamp(when)
        metrics.flush_metrics()

    def _check_enabled(self) -> bool:
        if not is_metrics_disabled():
            return True
        if not self._warned_disabled:
            # Powertools drops metrics silently with POWERTOOLS_DEV=true or
            # POWERTOOLS_METRICS_DISABLED=true; say it once, loudly.
            logger.warning(
                "metrics are disabled by POWERTOOLS_DEV or POWERTOOLS_METRICS_DISABLED: "
                "no EMF is written"
            )
            self._warned_disabled = True
        return False

    def object_processed(self, report: ObjectReport) -> None:
        """Traffic metrics per request minute, then the pipeline health metrics."""
        if not self._check_enabled():
            return
        now = self._clock()
        earliest, latest = now - MAX_AGE, now + MAX_AHEAD
        too_old = [m.minute for m in report.minutes if m.minute < earliest]
        too_new = [m.minute for m in report.minutes if m.minute > latest]
        if too_old or too_new:
            logger.warning(
                "minutes outside CloudWatch's EMF window are in the lake but not in metrics",
                extra={
                    "source": report.source,
                    "minutes_too_old": len(too_old),
                    "minutes_too_new": len(too_new),
                    "oldest": min(too_old or too_new).isoformat(),
                },
            )
        if report.untracked:
            logger.warning(
                "entries over too many minutes: some are in the lake but not in metrics",
                extra={"source": report.source, "entries_not_in_metrics": report.untracked},
            )
        for m in report.minutes:
            if not earliest <= m.minute <= latest:
                continue
            lb = {names.LOAD_BALANCER: m.load_balancer}
            self._flush(
                m.minute,
                lb,
                {
                    names.REQUESTS: (m.requests, MetricUnit.Count.value),
                    names.ELB_502: (m.elb_502, MetricUnit.Count.value),
                    names.TARGET_502: (m.target_502, MetricUnit.Count.value),
                },
            )
            for metric, by_cause in (
                (names.ERRORS_502, m.by_cause),
                (names.ELB_5XX_OTHER, m.other_5xx_by_cause),
            ):
                for cause, count in sorted(by_cause.items()):
                    if count:
                        self._flush(
                            m.minute,
                            {**lb, names.CAUSE: cause},
                            {metric: (count, MetricUnit.Count.value)},
                        )
        health: dict[str, tuple[float, str]] = {
            names.LINES_PARSED: (report.rows, MetricUnit.Count.value),
            names.LINES_REJECTED: (report.rejects, MetricUnit.Count.value),
            names.OBJECTS_PROCESSED: (1, MetricUnit.Count.value),
        }
        if report.interval_end is not None:
            lag = (now - report.interval_end).total_seconds()
            health[names.PROCESSING_LAG] = (max(lag, 0.0), MetricUnit.Seconds.value)
        self._flush(now, {}, health)

    def object_skipped(self) -> None:
        if self._check_enabled():
            self._flush(self._clock(), {}, {names.OBJECTS_SKIPPED: (1, MetricUnit.Count.value)})


# Reading EMF back: the tests and the demo use it to show what CloudWatch
# would have received.


@dataclass(frozen=True)
class DataPoint:
    namespace: str
    metric: str
    dimensions: tuple[tuple[str, str], ...]
    timestamp: datetime
    value: float
    unit: str


def parse_emf(lines: Iterable[str]) -> list[DataPoint]:
    """The data points in the EMF blobs among ``lines`` (other lines ignored).

    Strict about the EMF structure: a blob whose declared metric or
    dimension is missing from its root raises ``ValueError``.
    """
    points: list[DataPoint] = []
    for line in lines:
        line = line.strip()
        if not line.startswith("{"):
            continue
        try:
            blob: dict[str, Any] = json.loads(line)
        except json.JSONDecodeError:
            continue
        meta = blob.get("_aws")
        if not isinstance(meta, dict) or "CloudWatchMetrics" not in meta:
            continue
        when = datetime.fromtimestamp(meta["Timestamp"] / 1000, UTC)
        for directive in meta["CloudWatchMetrics"]:
            for dimension_set in directive["Dimensions"]:
                dims = tuple((d, _str(blob, d)) for d in dimension_set)
                for definition in directive["Metrics"]:
                    name = definition["Name"]
                    if name not in blob:
                        raise ValueError(f"EMF metric {name} declared but has no value")
                    raw = blob[name]
                    for value in raw if isinstance(raw, list) else [raw]:
                        points.append(
                            DataPoint(
                                namespace=directive["Namespace"],
                                metric=name,
                                dimensions=dims,
                                timestamp=when,
                                value=float(value),
                                unit=definition.get("Unit", "None"),
                            )
                        )
    return points


def _str(blob: Mapping[str, Any], key: str) -> str:
    value = blob.get(key)
    if not isinstance(value, str):
        raise ValueError(f"EMF dimension {key} declared but has no string value")
    return value


def summarize(points: Iterable[DataPoint]) -> str:
    """Totals per metric, grouped by the first dimension (the load balancer).

    Each row: metric, its other dimensions, total (max for seconds), data
    points and the span of their timestamps.
    """
    groups: dict[tuple[str, tuple[tuple[str, str], ...], str, tuple[str, ...]], list[DataPoint]]
    groups = {}
    for p in points:
        head = p.dimensions[:1]
        rest = tuple(f"{k}={v}" for k, v in p.dimensions[1:])
        groups.setdefault((p.namespace, head, p.metric, rest), []).append(p)
    order = {name: i for i, name in enumerate(_METRIC_ORDER)}
    lines: list[str] = []
    current: tuple[str, tuple[tuple[str, str], ...]] | None = None
    for (namespace, head, metric, rest), group in sorted(
        groups.items(),
        key=lambda item: (item[0][0], item[0][1], order.get(item[0][2], 99), item[0][3]),
    ):
        if (namespace, head) != current:
            current = (namespace, head)
            where = " ".join(f"{k}={v}" for k, v in head) or "(no dimensions)"
            lines.append(f"  {namespace}  {where}")
        if group[0].unit == "Seconds":
            shown = f"max {max(p.value for p in group):,.0f} s"
        else:
            shown = f"{sum(p.value for p in group):,.0f}"
        first = min(p.timestamp for p in group).strftime("%m-%d %H:%M")
        last = max(p.timestamp for p in group).strftime("%m-%d %H:%M")
        name = " ".join((metric, *rest))
        lines.append(f"    {name:<42} {shown:>12} {len(group):>6,} pts  {first} .. {last}")
    return "\n".join(lines)


_METRIC_ORDER = (
    names.REQUESTS,
    names.ELB_502,
    names.TARGET_502,
    names.ERRORS_502,
    names.ELB_5XX_OTHER,
    names.LINES_PARSED,
    names.LINES_REJECTED,
    names.OBJECTS_PROCESSED,
    names.OBJECTS_SKIPPED,
    names.PROCESSING_LAG,
)
