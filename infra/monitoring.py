"""Alarms and the dashboard, on exactly the metrics the handler emits.

Names and dimensions come from ``alb502.metric_names`` (the handler's own
contract): [LoadBalancer] for Requests/ELB502/Target502, [LoadBalancer,
Cause] for Errors502 and ELB5xxOther, none for the health metrics. An alarm
naming any other dimension set would watch a metric that never exists.

Late data (README "Alarms"). Traffic data points carry the minute of their
requests and land when their log object is processed: ALB delivers each
5-minute object 5 to 20 minutes after the interval ends, so a point is up to
25 minutes old when it arrives. CloudWatch evaluates an alarm every minute
on the data points present at that moment over its last EvaluationPeriods
periods, later evaluations seeing points that arrived since ("CloudWatch
alarms evaluate metrics based on data points available at a specific
moment", https://repost.aws/knowledge-center/cloudwatch-trigger-metric;
https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/alarm-evaluation.html).
So the traffic alarms look back TRAFFIC_WINDOW periods (an hour), long enough
to hold an incident's M breaching points after the last one arrived, and
treat missing data as not breaching (no point = no 502s, or not yet
delivered). tests/infra/test_infra_alarm_replay.py replays late points
through this evaluation and measures how soon each alarm pages.

Alarm choices:
- 502 rate: one metric-math alarm per load balancer listed in
  ``loadBalancers`` (a ratio needs metric math on concrete metrics: an alarm's
  math expression returns one time series and SEARCH is not allowed).
- 502 count per load balancer, every load balancer seen: one Metrics Insights
  alarm ``GROUP BY LoadBalancer``; each load balancer is a contributor of its
  own ("You can create an alarm on any Metrics Insights query, including
  queries that return multiple time series",
  https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/Create_Metrics_Insights_Alarm.html).
  Metrics Insights cannot divide two metrics, so the list-free alarm counts.
- Causes that need action: one Metrics Insights alarm each, summed over every
  load balancer. Metrics Insights alarms evaluate the latest 3 hours only and
  an account has 200 of them per region
  (https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/alarm-limits.html):
  TRAFFIC_WINDOW stays well inside both.
"""

from __future__ import annotations

from aws_cdk import Duration, Stack, Token
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
#: Latest a traffic data point lands after its minute: a 5-minute interval
#: plus ALB's delivery delay of up to 20 minutes.
MAX_ARRIVAL_DELAY = Duration.minutes(25)
#: Traffic alarms look back this many periods (one hour): the M breaching
#: points of an incident are all still inside the window when the last of
#: them lands, even 25 minutes late, with room for a slow queue.
TRAFFIC_WINDOW = 12
#: 502-rate and per-load-balancer count alarms: this many breaching periods
#: of TRAFFIC_WINDOW (15 minutes of errors), so one bad period never pages.
RATE_DATAPOINTS = 3
#: Cause alarms: one period over causeAlarmThreshold pages (the threshold
#: keeps single stray 502s out).
CAUSE_DATAPOINTS = 1
#: Causes with their own alarm (causes.md): those a person must act on.
ALARMED_CAUSES: tuple[str, ...] = (
    causes.TARGET_UNREACHABLE,
    causes.TARGET_CONNECT_TIMEOUT,
    causes.TARGET_RESTARTING,
    causes.TARGET_DEREGISTERED,
    causes.TARGET_CLOSED_KEEPALIVE,
    causes.NO_TARGETS,
    causes.LAMBDA_THROTTLED,
    causes.LAMBDA_FUNCTION_ERROR,
    causes.LAMBDA_CONFIG_ERROR,
)
#: The metric a cause's alarm counts: 502s (Errors502), except causes the
#: load balancer logs with another 5xx (ELB5xxOther): no_targets is 503
#: (causes.md rule 6), a connect timeout is a 504 after 10 s (rule 4c).
CAUSE_METRIC: dict[str, str] = {
    causes.NO_TARGETS: m.ELB_5XX_OTHER,
    causes.TARGET_CONNECT_TIMEOUT: m.ELB_5XX_OTHER,
}
AWS_ALB_NAMESPACE = "AWS/ApplicationELB"


def _counted(cause: str) -> str:
    """What a cause alarm counts, in words."""
    if CAUSE_METRIC.get(cause, m.ERRORS_502) == m.ERRORS_502:
        return "502s"
    return "load-balancer 5xx other than 502"


def _safe_id(load_balancer: str) -> str:
    return "".join(ch if ch.isalnum() else "-" for ch in load_balancer)


class Monitoring(Construct):
    """Alarms, optional SNS topics, and the alb502 dashboard."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: Settings,
        function: lambda_.IFunction,
        queue: sqs.IQueue,
        dead_letter_queue: sqs.IQueue,
        alarm_topic: sns.ITopic | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        self.settings = settings
        self.namespace = settings.metrics_namespace
        #: Alarm and dashboard names start with the stack's, so a person can
        #: tell which deployment paged them.
        self.name_prefix = Stack.of(self).stack_name
        self.alarms: list[cw.Alarm] = []

        #: Every alarm notifies each of these: the e-mail topic this
        #: construct makes, and an existing topic (alarmTopicArn).
        self.topics: list[sns.ITopic] = []
        self.topic: sns.Topic | None = None
        if settings.alarm_email:
            self.topic = sns.Topic(
                self, "AlarmTopic", display_name="alb502 alarms", enforce_ssl=True
            )
            self.topic.add_subscription(subs.EmailSubscription(settings.alarm_email))
            self.topics.append(self.topic)
        if alarm_topic is not None:
            self.topics.append(alarm_topic)

        window_minutes = TRAFFIC_WINDOW * PERIOD.to_minutes()
        # Traffic: per listed load balancer.
        self.rate_alarms = {
            lb: self._alarm(
                f"ErrorRate-{self._lb_id(i, lb)}",
                metric=self.error_rate(lb),
                threshold=settings.error_rate_threshold_percent,
                evaluation_periods=TRAFFIC_WINDOW,
                datapoints_to_alarm=RATE_DATAPOINTS,
                description=(
                    f"502 rate of {lb} above {settings.error_rate_threshold_percent}% of "
                    f"requests in {RATE_DATAPOINTS} 5-minute periods of the last "
                    f"{window_minutes} minutes (periods under "
                    f"{settings.error_rate_min_requests} requests never breach; logs land "
                    "5-25 minutes after the requests). See the dashboard's 502s by cause "
                    "and the saved query 'alb502: 502s by cause'."
                ),
            )
            for i, lb in enumerate(settings.load_balancers)
        }
        # Traffic: every load balancer seen, each its own contributor.
        self.fleet_alarm = self._alarm(
            "Errors502-ByLoadBalancer",
            metric=self.errors_by_load_balancer(),
            threshold=settings.error_count_threshold,
            evaluation_periods=TRAFFIC_WINDOW,
            datapoints_to_alarm=RATE_DATAPOINTS,
            description=(
                f"A load balancer returned more than {settings.error_count_threshold} 502s "
                f"in {RATE_DATAPOINTS} 5-minute periods of the last {window_minutes} minutes "
                "(every load balancer whose logs alb502 reads; the alarm names the "
                "contributors). See the dashboard's 502s by cause and by load balancer."
            ),
        )
        # Causes: all load balancers at once.
        self.cause_alarms = {
            cause: self._alarm(
                f"Cause-{cause}",
                metric=self.cause_count(cause),
                threshold=settings.cause_alarm_threshold,
                evaluation_periods=TRAFFIC_WINDOW,
                datapoints_to_alarm=CAUSE_DATAPOINTS,
                description=(
                    f"More than {settings.cause_alarm_threshold} {_counted(cause)} "
                    f"with cause {cause} in a 5-minute period: {causes.REMEDIES[cause]} The "
                    "saved queries name the load balancers and targets."
                ),
            )
            for cause in ALARMED_CAUSES
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
        """Entries of one cause (``CAUSE_METRIC``), summed over every load balancer
        (Metrics Insights)."""
        metric = CAUSE_METRIC.get(cause, m.ERRORS_502)
        return cw.MathExpression(
            expression=self._insights(f"SUM({metric})", where=f"{m.CAUSE} = '{cause}'"),
            using_metrics={},
            label=f"{metric} {cause}",
            period=PERIOD,
        )

    def errors_by_load_balancer(self) -> cw.MathExpression:
        """Errors502 per load balancer, every one seen (Metrics Insights GROUP BY)."""
        return cw.MathExpression(
            expression=self._insights(f"SUM({m.ERRORS_502})", group_by=m.LOAD_BALANCER),
            using_metrics={},
            label="502s by load balancer",
            period=PERIOD,
        )

    @staticmethod
    def _lb_id(index: int, load_balancer: str) -> str:
        # A token (an ALB of the same app) has no readable name at synth time.
        return str(index + 1) if Token.is_unresolved(load_balancer) else _safe_id(load_balancer)

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
        for topic in self.topics:
            alarm.add_alarm_action(cw_actions.SnsAction(topic))
        self.alarms.append(alarm)
        return alarm

    # -- dashboard -----------------------------------------------------------

    def _by(self, name: str, dimension: str) -> cw.MathExpression:
        return cw.MathExpression(
            expression=self._insights(f"SUM({name})", group_by=dimension),
            using_metrics={},
            label="",
            period=PERIOD,
        )

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
        # Dashboards are global to the account (alarms are regional): the
        # region in the name lets two regions deploy side by side.
        dashboard = cw.Dashboard(
            self,
            "Dashboard",
            dashboard_name=f"{self.name_prefix}-{Stack.of(self).region}",
            default_interval=Duration.hours(6),
        )
        dashboard.add_widgets(
            cw.GraphWidget(
                title="502s by cause (all load balancers)",
                left=[self._by(m.ERRORS_502, m.CAUSE)],
                stacked=True,
                width=8,
            ),
            cw.GraphWidget(
                title="Load balancer 5xx other than 502 (ELB5xxOther) by cause",
                left=[self._by(m.ELB_5XX_OTHER, m.CAUSE)],
                stacked=True,
                width=8,
            ),
            cw.GraphWidget(
                title="502s by load balancer (every one seen)",
                left=[self._by(m.ERRORS_502, m.LOAD_BALANCER)],
                left_annotations=[
                    cw.HorizontalAnnotation(
                        value=self.settings.error_count_threshold, label="alarm threshold"
                    )
                ],
                width=8,
            ),
        )
        dashboard.add_widgets(
            cw.GraphWidget(
                title="502 rate; alb502's ELB502 next to AWS's HTTPCode_ELB_502_Count",
                left=[self._all_lbs_rate()],
                right=[self._aws_elb_502(None), self._all_lbs_elb_502()],
                left_y_axis=cw.YAxisProps(label="%", min=0, show_units=False),
                right_y_axis=cw.YAxisProps(label="count", min=0, show_units=False),
                width=24,
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
