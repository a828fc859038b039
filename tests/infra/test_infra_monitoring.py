"""Alarms and dashboard read exactly the metrics the handler emits.

The contract is ``alb502.metric_names``: Requests/ELB502/Target502 with the
dimension set [LoadBalancer], Errors502 with [LoadBalancer, Cause], the
health metrics with none. A CloudWatch alarm on any other combination
watches a metric that never exists and stays silent forever.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from infra_synth import EXISTING_BUCKET, Synth

from alb502 import causes
from alb502 import metric_names as m
from infra import monitoring

pytestmark = pytest.mark.slow

CONTRACT: dict[str, frozenset[str]] = {
    m.REQUESTS: frozenset({m.LOAD_BALANCER}),
    m.ELB_502: frozenset({m.LOAD_BALANCER}),
    m.TARGET_502: frozenset({m.LOAD_BALANCER}),
    m.ERRORS_502: frozenset({m.LOAD_BALANCER, m.CAUSE}),
    m.ELB_5XX_OTHER: frozenset({m.LOAD_BALANCER, m.CAUSE}),
    m.LINES_PARSED: frozenset(),
    m.LINES_REJECTED: frozenset(),
    m.OBJECTS_PROCESSED: frozenset(),
    m.OBJECTS_SKIPPED: frozenset(),
    m.PROCESSING_LAG: frozenset(),
}
LOAD_BALANCERS = EXISTING_BUCKET["loadBalancers"].split(",")


def alarms(synth: Synth) -> dict[str, dict[str, Any]]:
    return {
        k: r["Properties"]
        for k, r in synth.raw["Resources"].items()
        if r["Type"] == "AWS::CloudWatch::Alarm"
    }


def metric_stats(alarm: dict[str, Any]) -> list[tuple[str, str, frozenset[str], dict[str, Any]]]:
    """(namespace, name, dimension names, dimensions) of every metric an alarm reads."""
    if "MetricName" in alarm:
        dims = {d["Name"]: d["Value"] for d in alarm.get("Dimensions", [])}
        return [(alarm["Namespace"], alarm["MetricName"], frozenset(dims), dims)]
    found = []
    for query in alarm["Metrics"]:
        if "MetricStat" in query:
            metric = query["MetricStat"]["Metric"]
            dims = {d["Name"]: d["Value"] for d in metric.get("Dimensions", [])}
            found.append((metric["Namespace"], metric["MetricName"], frozenset(dims), dims))
    return found


def dashboard_body(synth: Synth) -> dict[str, Any]:
    (dashboard,) = [
        r["Properties"]["DashboardBody"]
        for r in synth.raw["Resources"].values()
        if r["Type"] == "AWS::CloudWatch::Dashboard"
    ]
    # Tokens (Refs to the queue, function, region) only occur inside strings.
    parts = dashboard["Fn::Join"][1]
    body: dict[str, Any] = json.loads("".join(p if isinstance(p, str) else "TOKEN" for p in parts))
    return body


def by_description(synth: Synth, needle: str) -> list[dict[str, Any]]:
    return [a for a in alarms(synth).values() if needle in a["AlarmDescription"]]


@pytest.mark.parametrize("which", ["default_synth", "existing_synth"])
def test_every_custom_metric_in_alarms_follows_the_contract(
    which: str, request: pytest.FixtureRequest
) -> None:
    synth: Synth = request.getfixturevalue(which)
    seen = set()
    for alarm in alarms(synth).values():
        for namespace, name, dims, _ in metric_stats(alarm):
            if namespace == m.DEFAULT_NAMESPACE:
                assert CONTRACT[name] == dims, (name, dims)
                seen.add(name)
        # Metrics Insights alarms must name the exact schema too.
        for query in alarm.get("Metrics", []):
            if query.get("Expression", "").startswith("SELECT"):
                assert 'FROM SCHEMA("ALB502", Cause, LoadBalancer)' in query["Expression"]
                # Both metrics carry exactly the [LoadBalancer, Cause] dimension set.
                assert any(
                    f"SUM({name})" in query["Expression"]
                    for name in (m.ERRORS_502, m.ELB_5XX_OTHER)
                )
    assert {m.PROCESSING_LAG, m.LINES_REJECTED} <= seen
    if which == "existing_synth":
        assert {m.REQUESTS, m.ELB_502, m.TARGET_502} <= seen


@pytest.mark.parametrize("which", ["default_synth", "existing_synth"])
def test_every_custom_metric_on_the_dashboard_follows_the_contract(
    which: str, request: pytest.FixtureRequest
) -> None:
    synth: Synth = request.getfixturevalue(which)
    body = dashboard_body(synth)
    names = set()
    for widget in body["widgets"]:
        for line in widget.get("properties", {}).get("metrics", []):
            if isinstance(line[0], str) and line[0] == m.DEFAULT_NAMESPACE:
                # [namespace, name, dim1, value1, ..., {options}]
                plain = [x for x in line if isinstance(x, str)]
                dims = frozenset(plain[2::2])
                assert CONTRACT[plain[1]] == dims, line
                names.add(plain[1])
            elif isinstance(line[0], str) and line[0] == ".":
                pytest.fail(f"abbreviated metric line hides its namespace: {line}")
            elif isinstance(line[0], dict) and "expression" in line[0]:
                expression = line[0]["expression"]
                for schema in re.findall(r'SCHEMA\("ALB502"[^)]*\)', expression):
                    assert schema == 'SCHEMA("ALB502", Cause, LoadBalancer)'
                for search in re.findall(r"\{ALB502,[^}]*\}", expression):
                    assert search == "{ALB502,LoadBalancer}"
    assert {m.PROCESSING_LAG, m.LINES_REJECTED, m.LINES_PARSED} <= names


def test_502_rate_alarm_per_listed_load_balancer(existing_synth: Synth) -> None:
    rate_alarms = by_description(existing_synth, "502 rate of")
    assert len(rate_alarms) == len(LOAD_BALANCERS)
    for lb in LOAD_BALANCERS:
        (alarm,) = [a for a in rate_alarms if f"502 rate of {lb} " in a["AlarmDescription"]]
        (expression,) = [q for q in alarm["Metrics"] if "Expression" in q]
        assert expression["Expression"] == (
            "IF(requests >= 20, 100 * (FILL(elb502, 0) + FILL(target502, 0)) / requests, 0)"
        )
        assert expression["ReturnData"] is True
        inputs = {
            q["Id"]: (q["MetricStat"]["Metric"]["MetricName"], q["MetricStat"]["Stat"])
            for q in alarm["Metrics"]
            if "MetricStat" in q
        }
        assert inputs == {
            "requests": (m.REQUESTS, "Sum"),
            "elb502": (m.ELB_502, "Sum"),
            "target502": (m.TARGET_502, "Sum"),
        }
        for _, _, _, dims in metric_stats(alarm):
            assert dims == {m.LOAD_BALANCER: lb}
        assert all(q["MetricStat"]["Period"] == 300 for q in alarm["Metrics"] if "MetricStat" in q)
        # 3 of 12 five-minute periods, missing data never breaches: the
        # window holds 3 breaching points even when logs land 25 minutes
        # late (test_infra_alarm_replay.py replays it).
        assert (alarm["EvaluationPeriods"], alarm["DatapointsToAlarm"]) == (12, 3)
        assert alarm["TreatMissingData"] == "notBreaching"
        assert alarm["Threshold"] == 5
        assert alarm["ComparisonOperator"] == "GreaterThanThreshold"


def test_no_rate_alarm_without_listed_load_balancers(default_synth: Synth) -> None:
    assert by_description(default_synth, "502 rate of") == []


@pytest.mark.parametrize("cause", monitoring.ALARMED_CAUSES)
def test_cause_alarms_query_every_load_balancer(default_synth: Synth, cause: str) -> None:
    (alarm,) = by_description(default_synth, f"with cause {cause} ")
    (query,) = alarm["Metrics"]
    # 503s (no targets) and 504s (connect timeouts) are not 502s: Errors502
    # never counts them, ELB5xxOther does.
    metric = "ELB5xxOther" if cause in ("no_targets", "target_connect_timeout") else "Errors502"
    assert query["Expression"] == (
        f"SELECT SUM({metric}) FROM SCHEMA(\"ALB502\", Cause, LoadBalancer) WHERE Cause = '{cause}'"
    )
    assert query["Period"] == 300
    # One stray 502 never pages; more than 5 in a period does.
    assert alarm["Threshold"] == 5
    assert (alarm["EvaluationPeriods"], alarm["DatapointsToAlarm"]) == (12, 1)
    assert alarm["TreatMissingData"] == "notBreaching"
    assert causes.REMEDIES[cause] in alarm["AlarmDescription"]


def test_alarmed_causes_are_v2_causes_that_need_action() -> None:
    assert set(monitoring.ALARMED_CAUSES) <= set(causes.CAUSES)
    assert {
        causes.TARGET_UNREACHABLE,
        causes.TARGET_RESTARTING,
        causes.TARGET_DEREGISTERED,
        causes.TARGET_CONNECT_TIMEOUT,
        causes.TARGET_CLOSED_KEEPALIVE,
        causes.LAMBDA_THROTTLED,
        causes.LAMBDA_FUNCTION_ERROR,
    } <= set(monitoring.ALARMED_CAUSES)


def test_fleet_alarm_covers_every_load_balancer_without_a_list(default_synth: Synth) -> None:
    (alarm,) = by_description(default_synth, "every load balancer whose logs")
    (query,) = alarm["Metrics"]
    assert query["Expression"] == (
        'SELECT SUM(Errors502) FROM SCHEMA("ALB502", Cause, LoadBalancer) GROUP BY LoadBalancer'
    )
    assert query["ReturnData"] is True
    assert alarm["Threshold"] == 25
    assert (alarm["EvaluationPeriods"], alarm["DatapointsToAlarm"]) == (12, 3)
    assert alarm["TreatMissingData"] == "notBreaching"


def test_health_alarms(default_synth: Synth) -> None:
    synth = default_synth
    resources = synth.raw["Resources"]
    (dlq_id,) = [
        k
        for k in resources
        if k.startswith("ProcessorDeadLetterQueue") and resources[k]["Type"] == "AWS::SQS::Queue"
    ]
    (queue_id,) = [
        k
        for k in resources
        if k.startswith("ProcessorQueue") and resources[k]["Type"] == "AWS::SQS::Queue"
    ]
    (function_id,) = [
        k
        for k, r in resources.items()
        if r["Type"] == "AWS::Lambda::Function"
        and r["Properties"].get("Handler") == "alb502.handler.lambda_handler"
    ]
    want = {
        "sit in the dead-letter queue": (
            "AWS/SQS",
            "ApproximateNumberOfMessagesVisible",
            "Maximum",
            0,
        ),
        "crashed or timed out": ("AWS/Lambda", "Errors", "Sum", 0),
        "after their 5-minute interval": (m.DEFAULT_NAMESPACE, m.PROCESSING_LAG, "Maximum", 1800),
        "could not be parsed": (m.DEFAULT_NAMESPACE, m.LINES_REJECTED, "Sum", 0),
        "oldest message in the alb502 queue": (
            "AWS/SQS",
            "ApproximateAgeOfOldestMessage",
            "Maximum",
            1800,
        ),
    }
    for needle, (namespace, name, statistic, threshold) in want.items():
        (alarm,) = by_description(synth, needle)
        assert (alarm["Namespace"], alarm["MetricName"], alarm["Statistic"]) == (
            namespace,
            name,
            statistic,
        )
        assert alarm["Threshold"] == threshold
        assert alarm["Period"] == 300
        assert alarm["ComparisonOperator"] == "GreaterThanThreshold"
        assert alarm["TreatMissingData"] == "notBreaching"
    (dlq_alarm,) = by_description(synth, "sit in the dead-letter queue")
    assert dlq_alarm["Dimensions"] == [
        {"Name": "QueueName", "Value": {"Fn::GetAtt": [dlq_id, "QueueName"]}}
    ]
    # The age alarm watches the main queue (failing objects sit there for
    # hours before the DLQ sees them), not the dead-letter queue.
    (age_alarm,) = by_description(synth, "oldest message in the alb502 queue")
    assert age_alarm["AlarmName"] == "Alb502-QueueAge"
    assert age_alarm["Dimensions"] == [
        {"Name": "QueueName", "Value": {"Fn::GetAtt": [queue_id, "QueueName"]}}
    ]
    assert (age_alarm["EvaluationPeriods"], age_alarm["DatapointsToAlarm"]) == (1, 1)
    (errors_alarm,) = by_description(synth, "crashed or timed out")
    assert errors_alarm["Dimensions"] == [{"Name": "FunctionName", "Value": {"Ref": function_id}}]


def test_lag_threshold_sets_both_lag_alarms(existing_synth: Synth) -> None:
    threshold = EXISTING_BUCKET["lagThresholdSeconds"]
    (age_alarm,) = by_description(existing_synth, "oldest message in the alb502 queue")
    (lag_alarm,) = by_description(existing_synth, "after their 5-minute interval")
    assert age_alarm["Threshold"] == lag_alarm["Threshold"] == threshold != 1800


def test_alarm_email_gets_every_alarm(existing_synth: Synth, default_synth: Synth) -> None:
    resources = existing_synth.raw["Resources"]
    (topic_id,) = [k for k, r in resources.items() if r["Type"] == "AWS::SNS::Topic"]
    (subscription,) = [r for r in resources.values() if r["Type"] == "AWS::SNS::Subscription"]
    assert subscription["Properties"]["Protocol"] == "email"
    assert subscription["Properties"]["Endpoint"] == "oncall@example.com"
    assert subscription["Properties"]["TopicArn"] == {"Ref": topic_id}
    for alarm in alarms(existing_synth).values():
        assert alarm["AlarmActions"] == [{"Ref": topic_id}]
    # 2 rate alarms, the fleet alarm, 9 cause alarms, 5 health alarms.
    assert len(alarms(existing_synth)) == 17

    assert not [
        r for r in default_synth.raw["Resources"].values() if r["Type"].startswith("AWS::SNS")
    ]
    assert all("AlarmActions" not in a for a in alarms(default_synth).values())
    assert len(alarms(default_synth)) == 15


def test_existing_topic_gets_every_alarm(eventbridge_synth: Synth) -> None:
    topic = "arn:aws:sns:us-east-1:111122223333:pager"
    assert not [
        r for r in eventbridge_synth.raw["Resources"].values() if r["Type"].startswith("AWS::SNS")
    ]
    assert len(alarms(eventbridge_synth)) == 15
    for alarm in alarms(eventbridge_synth).values():
        assert alarm["AlarmActions"] == [topic]


def test_dashboard_widgets(existing_synth: Synth) -> None:
    widgets = dashboard_body(existing_synth)["widgets"]
    by_title = {w["properties"].get("title"): w["properties"] for w in widgets}
    other = by_title["Load balancer 5xx other than 502 (ELB5xxOther) by cause"]
    assert other["metrics"] == [
        [
            {
                "expression": 'SELECT SUM(ELB5xxOther) FROM SCHEMA("ALB502", Cause, LoadBalancer) '
                "GROUP BY Cause"
            }
        ]
    ]
    fleet = by_title["502s by load balancer (every one seen)"]
    assert fleet["metrics"] == [
        [
            {
                "expression": 'SELECT SUM(Errors502) FROM SCHEMA("ALB502", Cause, LoadBalancer) '
                "GROUP BY LoadBalancer"
            }
        ]
    ]
    by_cause = by_title["502s by cause (all load balancers)"]
    assert by_cause["stacked"] is True
    assert by_cause["metrics"] == [
        [
            {
                "expression": 'SELECT SUM(Errors502) FROM SCHEMA("ALB502", Cause, LoadBalancer) '
                "GROUP BY Cause"
            }
        ]
    ]
    for lb in LOAD_BALANCERS:
        rate = by_title[f"502 rate of {lb} next to AWS's HTTPCode_ELB_502_Count"]
        aws_lines = [line for line in rate["metrics"] if line[0] == "AWS/ApplicationELB"]
        assert aws_lines and aws_lines[0][1:4] == ["HTTPCode_ELB_502_Count", "LoadBalancer", lb]
        assert aws_lines[0][4]["yAxis"] == "right"
    # Like next to like: AWS's 502 count beside alb502's summed ELB502 count
    # (both counts, right axis); the rate alone on the left, in percent.
    overview = by_title["502 rate; alb502's ELB502 next to AWS's HTTPCode_ELB_502_Count"]
    axes = {
        line[0]["label"]: (line[0]["expression"], line[0].get("yAxis", "left"))
        for line in overview["metrics"]
    }
    rate_expression, rate_axis = axes.pop("502 rate % (all load balancers)")
    assert rate_expression.startswith("100 * (") and rate_axis == "left"
    assert axes == {
        "AWS HTTPCode_ELB_502_Count (all load balancers)": (
            'SELECT SUM(HTTPCode_ELB_502_Count) FROM SCHEMA("AWS/ApplicationELB", LoadBalancer)',
            "right",
        ),
        "alb502 ELB502 (all load balancers)": (
            "FILL(SUM(SEARCH('{ALB502,LoadBalancer} MetricName=\"ELB502\"', 'Sum', 300)), 0)",
            "right",
        ),
    }
    assert overview["yAxis"]["right"]["label"] == "count"
    assert overview["yAxis"]["left"]["label"] == "%"
    titles = " | ".join(t for t in by_title if t)
    assert "Processing lag" in titles
    assert "Rejected lines" in titles
    assert any(w["type"] == "alarm" for w in widgets)


def test_queue_widget_graphs_the_age_the_alarm_watches(existing_synth: Synth) -> None:
    (queue,) = [
        w["properties"]
        for w in dashboard_body(existing_synth)["widgets"]
        if w["properties"].get("title") == "Queue"
    ]
    (age,) = [line for line in queue["metrics"] if line[1] == "ApproximateAgeOfOldestMessage"]
    assert age[0] == "AWS/SQS" and age[2] == "QueueName"
    assert (age[4]["stat"], age[4]["yAxis"]) == ("Maximum", "right")
    assert queue["annotations"]["horizontal"] == [
        {
            "value": EXISTING_BUCKET["lagThresholdSeconds"],
            "label": "age alarm threshold",
            "yAxis": "right",
        }
    ]
    # The token after the metric name is the main queue's name, not the DLQ's.
    (dashboard,) = [
        r["Properties"]["DashboardBody"]
        for r in existing_synth.raw["Resources"].values()
        if r["Type"] == "AWS::CloudWatch::Dashboard"
    ]
    parts = dashboard["Fn::Join"][1]
    (i,) = [
        i
        for i, p in enumerate(parts)
        if isinstance(p, str) and p.endswith('"ApproximateAgeOfOldestMessage","QueueName","')
    ]
    (queue_id,) = [
        k
        for k, r in existing_synth.raw["Resources"].items()
        if k.startswith("ProcessorQueue") and r["Type"] == "AWS::SQS::Queue"
    ]
    assert parts[i + 1] == {"Fn::GetAtt": [queue_id, "QueueName"]}


def test_alarm_and_dashboard_names_start_with_the_stack_name(
    default_synth: Synth, existing_synth: Synth
) -> None:
    def names(synth: Synth, kind: str, key: str) -> set[str]:
        return {r["Properties"][key] for r in synth.raw["Resources"].values() if r["Type"] == kind}

    health = {"DeadLetters", "FunctionErrors", "ProcessingLag", "QueueAge", "RejectedLines"}
    traffic = {f"Cause-{c}" for c in monitoring.ALARMED_CAUSES} | {"Errors502-ByLoadBalancer"}
    assert names(default_synth, "AWS::CloudWatch::Alarm", "AlarmName") == {
        f"Alb502-{n}" for n in health | traffic
    }
    assert names(existing_synth, "AWS::CloudWatch::Alarm", "AlarmName") == {
        f"alb502-prod-{n}"
        for n in health
        | traffic
        | {"ErrorRate-app-web-0123456789abcdef", "ErrorRate-app-api-fedcba9876543210"}
    }
    # Dashboards are account-wide: the region is part of the name.
    for synth, stack_name in ((default_synth, "Alb502"), (existing_synth, "alb502-prod")):
        (dashboard,) = [
            r["Properties"]
            for r in synth.raw["Resources"].values()
            if r["Type"] == "AWS::CloudWatch::Dashboard"
        ]
        assert dashboard["DashboardName"] == {
            "Fn::Join": ["", [f"{stack_name}-", {"Ref": "AWS::Region"}]]
        }


def test_two_regions_of_one_account_get_their_own_dashboard(regions_synth: list[Synth]) -> None:
    names = []
    for synth in regions_synth:
        (dashboard,) = [
            r["Properties"]
            for r in synth.raw["Resources"].values()
            if r["Type"] == "AWS::CloudWatch::Dashboard"
        ]
        names.append(dashboard["DashboardName"])
    assert names == ["Alb502-us-east-1", "Alb502-eu-west-1"]
