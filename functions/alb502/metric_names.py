"""The CloudWatch metric contract: namespace, metric and dimension names.

The Lambda handler emits exactly these (EMF, through Powertools Metrics) and
the CDK alarms and dashboard read exactly these, so both import them from
here. Renaming one is a breaking change for users' own alarms.
"""

from __future__ import annotations

import os

DEFAULT_NAMESPACE = "ALB502"


def namespace() -> str:
    """The namespace in force: ``POWERTOOLS_METRICS_NAMESPACE`` or ``ALB502``."""
    return os.environ.get("POWERTOOLS_METRICS_NAMESPACE") or DEFAULT_NAMESPACE


#: Dimension carrying the ``elb`` value (``app/<name>/<id>``), exactly as the
#: ``LoadBalancer`` dimension of AWS's own ``AWS/ApplicationELB`` metrics.
LOAD_BALANCER = "LoadBalancer"
#: Dimension carrying the ``cause`` of a tagged entry (closed set, ``causes.md``).
CAUSE = "Cause"

# Traffic metrics, dimension set [LoadBalancer], stamped with the request minute.
REQUESTS = "Requests"
ELB_502 = "ELB502"
TARGET_502 = "Target502"
# 502s by cause, dimension set [LoadBalancer, Cause].
ERRORS_502 = "Errors502"
#: The other 5xx the load balancer produced itself (500 WAF/auth, 503, 504,
#: 561, ...), by cause, dimension set [LoadBalancer, Cause].
ELB_5XX_OTHER = "ELB5xxOther"

# Pipeline health, no dimensions, stamped with the processing time.
LINES_PARSED = "LinesParsed"
LINES_REJECTED = "LinesRejected"
OBJECTS_PROCESSED = "ObjectsProcessed"
OBJECTS_SKIPPED = "ObjectsSkipped"
#: Seconds from the end of the object's 5-minute interval to its processing.
PROCESSING_LAG = "ProcessingLag"
