"""A small model of CloudWatch metric-alarm evaluation, to replay late data.

It reads an alarm exactly as synthesized (``AWS::CloudWatch::Alarm``
properties) and follows CloudWatch's documented evaluation:

- Period, EvaluationPeriods (N) and DatapointsToAlarm (M): the alarm goes to
  ALARM when at least M of the N most recent periods breach the threshold
  with ComparisonOperator, and to OK otherwise
  (https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/alarm-evaluation.html).
- It is evaluated every minute on the data points present at that moment;
  a point that lands late is seen by the evaluations after it lands
  (https://repost.aws/knowledge-center/cloudwatch-trigger-metric).
- TreatMissingData ``notBreaching``: a period without a data point counts as
  not breaching; ``breaching`` as breaching; ``missing``/``ignore`` leave it
  out of the count (https://docs.aws.amazon.com/AmazonCloudWatch/latest/
  monitoring/alarms-and-missing-data.html).
- Metric math: an input without a point makes the result's point missing
  unless FILL(x, v) replaces it; IF(c, a, b) picks per point
  (https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/using-metric-math.html).
- Metrics Insights ``SELECT SUM(m) FROM SCHEMA("ns", d1, d2) [WHERE d = 'v']
  [GROUP BY d]``: sums the series with exactly that dimension set; GROUP BY
  makes one series per value, each a contributor that alarms on its own
  (https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/Create_Metrics_Insights_Alarm.html).

Simplifications (stated, and on the pessimistic side): periods are aligned
to the clock; "the N most recent periods" at minute t are the N whole
periods ending at or before t (the period still filling is not evaluated);
only the Sum statistic is modelled, which is all the traffic alarms use.
"""

from __future__ import annotations

import ast
import bisect
import operator
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

Dims = frozenset[tuple[str, str]]
Series = dict[int, float | None]  # period start minute -> value (None: missing)


@dataclass(frozen=True)
class Point:
    """One EMF value: metric, dimensions, request minute, value, minute it lands."""

    namespace: str
    name: str
    dims: Dims
    minute: int
    value: float
    arrives: int


@dataclass
class Store:
    """Every data point ever emitted, by request minute."""

    points: list[Point] = field(default_factory=list)

    def add(self, point: Point) -> None:
        bisect.insort(self.points, point, key=lambda p: p.minute)

    def visible(self, first: int, end: int, now: int) -> list[Point]:
        """Points of minutes [first, end) that CloudWatch holds at minute ``now``."""
        lo = bisect.bisect_left(self.points, first, key=lambda p: p.minute)
        hi = bisect.bisect_left(self.points, end, key=lambda p: p.minute)
        return [p for p in self.points[lo:hi] if p.arrives <= now]

    def change_minutes(self, minutes: range, period: int) -> list[int]:
        """Minutes of ``minutes`` at which an alarm's inputs can change: a
        point lands or a period ends (between them every evaluation is equal)."""
        landing = {p.arrives for p in self.points}
        return [t for t in minutes if t in landing or t % period == 0]


_INSIGHTS = re.compile(
    r'^SELECT SUM\((?P<metric>\w+)\) FROM SCHEMA\("(?P<ns>[^"]+)",\s*(?P<dims>[^)]*)\)'
    r"(?: WHERE (?P<wkey>\w+) = '(?P<wvalue>[^']*)')?"
    r"(?: GROUP BY (?P<group>\w+))?$"
)
_COMPARE: dict[str, Callable[[float, float], bool]] = {
    "GreaterThanThreshold": operator.gt,
    "GreaterThanOrEqualToThreshold": operator.ge,
    "LessThanThreshold": operator.lt,
    "LessThanOrEqualToThreshold": operator.le,
}


def _sums(points: Iterable[Point], starts: list[int], period: int) -> Series:
    """Sum per period; None for a period without any point (missing)."""
    series: Series = dict.fromkeys(starts)
    for p in points:
        start = p.minute // period * period
        if start in series:
            series[start] = (series[start] or 0.0) + p.value
    return series


def _metric_series(
    points: list[Point], stat: Mapping[str, Any], starts: list[int], period: int
) -> Series:
    metric = stat["Metric"]
    assert stat["Stat"] == "Sum", "the model only knows Sum"
    dims: Dims = frozenset((d["Name"], d["Value"]) for d in metric.get("Dimensions", []))
    mine = [
        p
        for p in points
        if (p.namespace, p.name, p.dims) == (metric["Namespace"], metric["MetricName"], dims)
    ]
    return _sums(mine, starts, period)


def _insights(points: list[Point], query: str, starts: list[int], period: int) -> dict[str, Series]:
    match = _INSIGHTS.match(query)
    assert match, f"query outside the model: {query}"
    schema = frozenset(d.strip() for d in match["dims"].split(","))
    chosen = [
        p
        for p in points
        if p.namespace == match["ns"]
        and p.name == match["metric"]
        and frozenset(k for k, _ in p.dims) == schema
        and (match["wkey"] is None or (match["wkey"], match["wvalue"]) in p.dims)
    ]
    groups: dict[str, list[Point]] = {}
    for p in chosen:
        key = dict(p.dims)[match["group"]] if match["group"] else ""
        groups.setdefault(key, []).append(p)
    if not match["group"]:
        groups.setdefault("", [])
    return {key: _sums(ps, starts, period) for key, ps in groups.items()}


def _math(expression: str, inputs: Mapping[str, Series], starts: list[int]) -> Series:
    tree = ast.parse(expression, mode="eval")
    binary: dict[type[ast.operator], Callable[[float, float], float]] = {
        ast.Add: operator.add,
        ast.Sub: operator.sub,
        ast.Mult: operator.mul,
        ast.Div: operator.truediv,
    }
    compare: dict[type[ast.cmpop], Callable[[float, float], bool]] = {
        ast.GtE: operator.ge,
        ast.Gt: operator.gt,
        ast.LtE: operator.le,
        ast.Lt: operator.lt,
    }

    def value(node: ast.expr, start: int) -> float | None:
        if isinstance(node, ast.Constant):
            return float(node.value)
        if isinstance(node, ast.Name):
            return inputs[node.id][start]
        if isinstance(node, ast.BinOp):
            left, right = value(node.left, start), value(node.right, start)
            if left is None or right is None:
                return None
            return binary[type(node.op)](left, right)
        if isinstance(node, ast.Compare):
            left, right = value(node.left, start), value(node.comparators[0], start)
            if left is None or right is None:
                return None
            return 1.0 if compare[type(node.ops[0])](left, right) else 0.0
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            args = node.args
            if node.func.id == "FILL":
                got = value(args[0], start)
                return value(args[1], start) if got is None else got
            if node.func.id == "IF":
                condition = value(args[0], start)
                if condition is None:
                    return None
                return value(args[1] if condition else args[2], start)
        raise AssertionError(f"expression outside the model: {ast.dump(node)}")

    return {s: value(tree.body, s) for s in starts}


def contributors(
    alarm: Mapping[str, Any], points: list[Point], starts: list[int]
) -> dict[str, Series]:
    """The alarm's time series (one per contributor) over the periods ``starts``."""
    if "MetricName" in alarm:
        stat = {
            "Metric": {
                "Namespace": alarm["Namespace"],
                "MetricName": alarm["MetricName"],
                "Dimensions": alarm.get("Dimensions", []),
            },
            "Stat": alarm["Statistic"],
        }
        return {"": _metric_series(points, stat, starts, alarm["Period"] // 60)}
    queries = {q["Id"]: q for q in alarm["Metrics"]}
    (returned,) = [q for q in alarm["Metrics"] if q.get("ReturnData", True)]
    if "MetricStat" in returned:
        period = returned["MetricStat"]["Period"] // 60
        return {"": _metric_series(points, returned["MetricStat"], starts, period)}
    expression = returned["Expression"]
    if expression.startswith("SELECT"):
        return _insights(points, expression, starts, returned["Period"] // 60)
    inputs = {
        qid: _metric_series(points, q["MetricStat"], starts, q["MetricStat"]["Period"] // 60)
        for qid, q in queries.items()
        if "MetricStat" in q
    }
    return {"": _math(expression, inputs, starts)}


def alarm_period_minutes(alarm: Mapping[str, Any]) -> int:
    if "Period" in alarm:
        return int(alarm["Period"]) // 60
    (returned,) = [q for q in alarm["Metrics"] if q.get("ReturnData", True)]
    if "MetricStat" in returned:
        return int(returned["MetricStat"]["Period"]) // 60
    if "Period" in returned:
        return int(returned["Period"]) // 60
    # A math expression runs at its inputs' period (all the same in an alarm).
    (period,) = {q["MetricStat"]["Period"] for q in alarm["Metrics"] if "MetricStat" in q}
    return int(period) // 60


def in_alarm(alarm: Mapping[str, Any], store: Store, minute: int) -> bool:
    """The alarm's state after its evaluation at ``minute``: True for ALARM."""
    period = alarm_period_minutes(alarm)
    last_end = minute // period * period
    starts = [last_end - period * k for k in range(alarm["EvaluationPeriods"], 0, -1)]
    m = alarm.get("DatapointsToAlarm", alarm["EvaluationPeriods"])
    compare = _COMPARE[alarm["ComparisonOperator"]]
    missing = alarm.get("TreatMissingData", "missing")
    points = store.visible(starts[0], last_end, minute)
    for series in contributors(alarm, points, starts).values():
        breaching = 0
        for start in starts:
            point = series[start]
            if point is None:
                breaching += missing == "breaching"
            else:
                breaching += compare(point, float(alarm["Threshold"]))
        if breaching >= m:
            return True
    return False


def first_alarm(alarm: Mapping[str, Any], store: Store, minutes: range) -> int | None:
    """The first minute in ``minutes`` at which the alarm is in ALARM, if any."""
    period = alarm_period_minutes(alarm)
    return next(
        (t for t in store.change_minutes(minutes, period) if in_alarm(alarm, store, t)), None
    )
