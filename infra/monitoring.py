"""Alarms and the dashboard, on exactly the metrics the handler emits.

Names and dimensions come from ``alb502.metric_names`` (the handler's own
contract): [LoadBalancer] for Requests/ELB502/Target502, [LoadBalancer,
Cause] for Errors502, none for the health metrics. An alarm naming any other
dimension set would watch a metric that never exists.

Traffic data points carry the minute of the requests, and ALB delivers logs
5 to 15 minutes late, so traffic alarms look back over several periods and
treat missing data as not breaching.

Alarm choices (README "Alarms"):
- 502 rate: one alarm per load balancer listed in context ``loadBalancers``
  (metric math needs concrete metrics; SEARCH is not allowed in alarms).
- target_unreachable / target_closed_keepalive: one Metrics Insights query
  alarm each, summed over every load balancer, so they work with no list.
"""

from __future__ import annotations

from aws_cdk import Duration, Stack
from aws_cdk import aws_cloudwatch as cw
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subs
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from alb502 import causes
from alb502 import metric_names as m
from infra.config import Settings

#: Metrics are emitted per 5-minute log object; alarm and graph at that grain.
PERIOD = Duration.minutes(5)
#: 502-rate alarm: this many breaching periods out of the last RATE_WINDOW.
RATE_DATAPOINTS = 3
RATE_WINDOW = 5
#: Cause alarms look back this many periods, which spans log delivery delay.
CAUSE_WINDOW = 3
#: Causes with their own alarm (causes.md): the two that need action on targets.
ALARMED_CAUSES = {
    causes.TARGET_UNREACHABLE: "the load balancer could not connect to a target "
    "(nothing listening, crash or restart, security group/NACL, target TLS)",
    causes.TARGET_CLOSED_KEEPALIVE: "targets close idle keep-alive connections before the "
    "load balancer does (raise the target's keep-alive timeout above the ALB idle timeout)",
}
AWS_ALB_NAMESPACE = "AWS/ApplicationELB"


def _safe_id(load_balancer: str) -> str:
    return "".join(ch if ch.isalnum() else "-" for ch in load_balancer)


class Monitoring(Construct):
    """Alarms, optional SNS topic, and the alb502 dashboard."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: Settings,
        function: lambda_.IFunction,
        queue: sqs.IQueue,
        dead_letter_queue: sqs.IQueue,
    ) -> None:
        super().__init__(scope, construct_id)
        self.settings = settings
        self.namespace = settings.metrics_namespace
        #: Alarm and dashboard names start with the stack's, so a person can
        #: tell which deployment paged them.
        self.name_prefix = Stack.of(self).stack_name
        self.alarms: list[cw.Alarm] = []

        self.topic: sns.Topic | None = None
        if settings.alarm_email:
            self.topic = sns.Topic(
                self, "AlarmTopic", display_name="alb502 alarms", enforce_ssl=True
            )
            self.topic.add_subscription(subs.EmailSubscription(settings.alarm_email))

        # Traffic: per listed load balancer.
        self.rate_alarms = {
            lb: self._alarm(
                f"ErrorRate-{_safe_id(lb)}",
                metric=self.error_rate(lb),
                threshold=settings.error_rate_threshold_percent,
                evaluation_periods=RATE_WINDOW,
                datapoints_to_alarm=RATE_DATAPOINTS,
                description=(
                    f"502 rate of {lb} above {settings.error_rate_threshold_percent}% of "
                    f"requests in {RATE_DATAPOINTS} of {RATE_WINDOW} 5-minute periods "
                    f"(periods under {settings.error_rate_min_requests} requests never breach). "
                    "See the dashboard's 502s by cause and the saved query "
                    "'alb502: 502s by cause'."
                ),
            )
            for lb in settings.load_balancers
        }
        # Causes: all load balancers at once.
        self.cause_alarms = {
            cause: self._alarm(
                f"Cause-{cause}",
                metric=self.cause_count(cause),
                threshold=settings.cause_alarm_threshold,
                evaluation_periods=CAUSE_WINDOW,
                datapoints_to_alarm=1,
                description=(
                    f"More than {settings.cause_alarm_threshold} 502s with cause {cause} in a "
                    f"5-minute period: {meaning}. The saved queries name the load "
                    "balancers and targets."
                ),
            )
            for cause, meaning in ALARMED_CAUSES.items()
        }

        # Pipeline health.
        self.dlq_alarm = self._alarm(
            "DeadLetters",
            metric=dead_letter_queue.metric_approximate_number_of_messages_visible(
                period=PERIOD, statistic="Maximum"
            ),
            threshold=0,
            description=(
                "Log objects failed processing 5 times and sit in the dead-letter "
                "queue: their entries are missing from the lake and the metrics. "
                "Read the function's log, fix, then redrive the DLQ."
            ),
        )
        self.errors_alarm = self._alarm(
            "FunctionErrors",
            metric=function.metric_errors(period=PERIOD, statistic="Sum"),
            threshold=0,
            description=(
                "The alb502 function crashed or timed out (its messages are retried, "
                "then dead-lettered). Check its log; raise functionMemoryMb or "
                "functionTimeoutSeconds if it ran out of either."
            ),
        )
        self.lag_alarm = self._alarm(
            "ProcessingLag",
            metric=self.health_metric(m.PROCESSING_LAG, "Maximum"),
            threshold=settings.lag_threshold_seconds,
            evaluation_periods=3,
            datapoints_to_alarm=2,
            description=(
                f"Log objects are processed more than {settings.lag_threshold_seconds} s after "
                "their 5-minute interval ended: the queue is backing up (throttling, "
                "maxConcurrency too low, or failures)."
            ),
        )
        # Per-object failures are reported to the event source, not raised, so
        # they count in no Lambda Errors, and ProcessingLag is only emitted on
        # success: the age of the oldest message is what grows when every
        # object fails (long before the DLQ gets its first message).
        self.queue_age_alarm = self._alarm(
            "QueueAge",
            metric=queue.metric_approximate_age_of_oldest_message(
                period=PERIOD, statistic="Maximum"
            ),
            threshold=settings.lag_threshold_seconds,
            description=(
                f"The oldest message in the alb502 queue is more than "
                f"{settings.lag_threshold_seconds} s old: log objects are failing (retried "
                "until dead-lettered) or not being picked up (throttling, maxConcurrency "
                "too low). Check the function's log for failed objects."
            ),
        )
        self.rejects_alarm = self._alarm(
            "RejectedLines",
            metric=self.health_metric(m.LINES_REJECTED, "Sum"),
            threshold=0,
            description=(
                "Some log lines could not be parsed and went to the alb_log_rejects table "
                "(nothing is dropped). Run the saved query 'alb502: rejects by reason'."
            ),
        )

        self.dashboard = self._dashboard(function, queue, dead_letter_queue)

    # -- metrics -------------------------------------------------------------

    def lb_metric(self, name: str, load_balancer: str) -> cw.Metric:
        """An alb502 traffic metric of one load balancer (dimension set [LoadBalancer])."""
        return cw.Metric(
            namespace=self.namespace,
            metric_name=name,
            dimensions_map={m.LOAD_BALANCER: load_balancer},
            statistic="Sum",
            period=PERIOD,
        )

    def health_metric(self, name: str, statistic: str) -> cw.Metric:
        """A pipeline health metric (no dimensions)."""
        return cw.Metric(
            namespace=self.namespace, metric_name=name, statistic=statistic, period=PERIOD
        )

    def error_rate(self, load_balancer: str) -> cw.MathExpression:
        """502s (load balancer's plus targets') per 100 requests of one load balancer.

        Missing ELB502/Target502 points mean "no 502s" (FILL 0); a period
        without Requests has no value at all, and quiet periods (under
        errorRateMinRequests) count as 0% so one failed request of two is
        not a page.
        """
        minimum = self.settings.error_rate_min_requests
        return cw.MathExpression(
            expression=(
                f"IF(requests >= {minimum}, "
                "100 * (FILL(elb502, 0) + FILL(target502, 0)) / requests, 0)"
            ),
            using_metrics={
                "requests": self.lb_metric(m.REQUESTS, load_balancer),
                "elb502": self.lb_metric(m.ELB_502, load_balancer),
                "target502": self.lb_metric(m.TARGET_502, load_balancer),
            },
            label=f"502 rate % {load_balancer}",
            period=PERIOD,
        )

    def _insights(self, select: str, where: str = "", group_by: str = "") -> str:
        query = f'SELECT {select} FROM SCHEMA("{self.namespace}", {m.CAUSE}, {m.LOAD_BALANCER})'
        if where:
            query += f" WHERE {where}"
        if group_by:
            query += f" GROUP BY {group_by}"
        return query

    def cause_count(self, cause: str) -> cw.MathExpression:
        """Errors502 of one cause, summed over every load balancer (Metrics Insights)."""
        return cw.MathExpression(
            expression=self._insights(f"SUM({m.ERRORS_502})", where=f"{m.CAUSE} = '{cause}'"),
            using_metrics={},
            label=f"502s {cause}",
            period=PERIOD,
        )

    # -- alarms --------------------------------------------------------------

    def _alarm(
        self,
        construct_id: str,
        *,
        metric: cw.IMetric,
        threshold: float,
        description: str,
        evaluation_periods: int = 1,
        datapoints_to_alarm: int = 1,
    ) -> cw.Alarm:
        alarm = cw.Alarm(
            self,
            construct_id,
            metric=metric,
            threshold=threshold,
            comparison_operator=cw.ComparisonOperator.GREATER_THAN_THRESHOLD,
            evaluation_periods=evaluation_periods,
            datapoints_to_alarm=datapoints_to_alarm,
            # No data is the normal state of a healthy system (and of every
            # traffic metric until late logs arrive): never a breach.
            treat_missing_data=cw.TreatMissingData.NOT_BREACHING,
            alarm_name=f"{self.name_prefix}-{construct_id}",
            alarm_description=description,
        )
        if self.topic is not None:
            alarm.add_alarm_action(cw_actions.SnsAction(self.topic))
        self.alarms.append(alarm)
        return alarm

    # -- dashboard -----------------------------------------------------------

    def _search_total(self, name: str) -> str:
        # Dashboards (unlike alarms) may SEARCH; '{ns,LoadBalancer}' matches
        # exactly the [LoadBalancer] dimension set, not Errors502's.
        search = (
            f"SEARCH('{{{self.namespace},{m.LOAD_BALANCER}}} MetricName=\"{name}\"', 'Sum', 300)"
        )
        return f"SUM({search})"

    def _all_lbs_rate(self) -> cw.MathExpression:
        def total(name: str) -> str:
            return f"FILL({self._search_total(name)}, 0)"

        return cw.MathExpression(
            expression=(
                f"100 * ({total(m.ELB_502)} + {total(m.TARGET_502)}) / "
                f"{self._search_total(m.REQUESTS)}"
            ),
            using_metrics={},
            label="502 rate % (all load balancers)",
            period=PERIOD,
        )

    def _all_lbs_elb_502(self) -> cw.MathExpression:
        """alb502's ELB502 count summed over every load balancer: AWS's count's twin."""
        return cw.MathExpression(
            expression=f"FILL({self._search_total(m.ELB_502)}, 0)",
            using_metrics={},
            label="alb502 ELB502 (all load balancers)",
            period=PERIOD,
        )

    def _aws_elb_502(self, load_balancer: str | None) -> cw.IMetric:
        if load_balancer is not None:
            return cw.Metric(
                namespace=AWS_ALB_NAMESPACE,
                metric_name="HTTPCode_ELB_502_Count",
                dimensions_map={m.LOAD_BALANCER: load_balancer},
                statistic="Sum",
                period=PERIOD,
                label="AWS HTTPCode_ELB_502_Count",
            )
        return cw.MathExpression(
            expression=(
                f'SELECT SUM(HTTPCode_ELB_502_Count) FROM SCHEMA("{AWS_ALB_NAMESPACE}", '
                f"{m.LOAD_BALANCER})"
            ),
            using_metrics={},
            label="AWS HTTPCode_ELB_502_Count (all load balancers)",
            period=PERIOD,
        )

    def _dashboard(
        self, function: lambda_.IFunction, queue: sqs.IQueue, dead_letter_queue: sqs.IQueue
    ) -> cw.Dashboard:
        dashboard = cw.Dashboard(
            self,
            "Dashboard",
            dashboard_name=self.name_prefix,
            default_interval=Duration.hours(6),
        )
        dashboard.add_widgets(
            cw.GraphWidget(
                title="502s by cause (all load balancers)",
                left=[
                    cw.MathExpression(
                        expression=self._insights(f"SUM({m.ERRORS_502})", group_by=m.CAUSE),
                        using_metrics={},
                        label="",
                        period=PERIOD,
                    )
                ],
                stacked=True,
                width=12,
            ),
            cw.GraphWidget(
                title="502 rate; alb502's ELB502 next to AWS's HTTPCode_ELB_502_Count",
                left=[self._all_lbs_rate()],
                right=[self._aws_elb_502(None), self._all_lbs_elb_502()],
                left_y_axis=cw.YAxisProps(label="%", min=0, show_units=False),
                right_y_axis=cw.YAxisProps(label="count", min=0, show_units=False),
                width=12,
            ),
        )
        for lb in self.settings.load_balancers:
            dashboard.add_widgets(
                cw.GraphWidget(
                    title=f"502 rate of {lb} next to AWS's HTTPCode_ELB_502_Count",
                    left=[self.error_rate(lb)],
                    right=[
                        self._aws_elb_502(lb),
                        self.lb_metric(m.ELB_502, lb).with_(label="alb502 ELB502"),
                    ],
                    left_annotations=[
                        cw.HorizontalAnnotation(
                            value=self.settings.error_rate_threshold_percent,
                            label="alarm threshold",
                        )
                    ],
                    left_y_axis=cw.YAxisProps(label="%", min=0, show_units=False),
                    width=24,
                )
            )
        dashboard.add_widgets(
            cw.GraphWidget(
                title="Processing lag (s after the log interval ended)",
                left=[
                    self.health_metric(m.PROCESSING_LAG, "Maximum"),
                    self.health_metric(m.PROCESSING_LAG, "Average"),
                ],
                left_annotations=[
                    cw.HorizontalAnnotation(
                        value=self.settings.lag_threshold_seconds, label="alarm threshold"
                    )
                ],
                width=8,
            ),
            cw.GraphWidget(
                title="Rejected lines (see table alb_log_rejects)",
                left=[self.health_metric(m.LINES_REJECTED, "Sum")],
                right=[self.health_metric(m.LINES_PARSED, "Sum")],
                width=8,
            ),
            cw.GraphWidget(
                title="Objects processed / skipped (not access logs)",
                left=[
                    self.health_metric(m.OBJECTS_PROCESSED, "Sum"),
                    self.health_metric(m.OBJECTS_SKIPPED, "Sum"),
                ],
                width=8,
            ),
        )
        dashboard.add_widgets(
            cw.GraphWidget(
                title="Queue",
                left=[
                    queue.metric_approximate_number_of_messages_visible(period=PERIOD),
                    dead_letter_queue.metric_approximate_number_of_messages_visible(
                        period=PERIOD, label="dead letters"
                    ),
                ],
                right=[
                    queue.metric_approximate_age_of_oldest_message(
                        period=PERIOD, statistic="Maximum", label="age of oldest message (s)"
                    )
                ],
                right_annotations=[
                    cw.HorizontalAnnotation(
                        value=self.settings.lag_threshold_seconds, label="age alarm threshold"
                    )
                ],
                width=8,
            ),
            cw.GraphWidget(
                title="Function",
                left=[
                    function.metric_invocations(period=PERIOD),
                    function.metric_errors(period=PERIOD),
                    function.metric_throttles(period=PERIOD),
                ],
                right=[function.metric_duration(period=PERIOD, statistic="Maximum")],
                width=8,
            ),
            cw.AlarmStatusWidget(title="alb502 alarms", alarms=list(self.alarms), width=8),
        )
        return dashboard
