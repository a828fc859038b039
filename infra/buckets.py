"""The one way this app makes an S3 bucket, and lets ALB deliver logs to one."""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import Aws, CfnCondition, CfnMapping, Fn, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from constructs import Construct


def private_bucket(
    scope: Construct,
    construct_id: str,
    *,
    lifecycle_rules: Sequence[s3.LifecycleRule] | None = None,
) -> s3.Bucket:
    """An S3 bucket that is SSE-S3 encrypted, TLS-only and never public.

    SSE-S3 rather than KMS: ALB log delivery only supports SSE-S3, and the
    lake needs no key policy to be readable by Athena users.
    """
    return s3.Bucket(
        scope,
        construct_id,
        encryption=s3.BucketEncryption.S3_MANAGED,
        block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
        enforce_ssl=True,
        object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
        lifecycle_rules=lifecycle_rules,
        # The buckets hold users' data: deleting the stack must not delete it.
        removal_policy=RemovalPolicy.RETAIN,
    )


#: ALB's log-delivery service principal: what AWS's guide grants in every
#: region opened in August 2022 or later, and recommends everywhere.
ELB_LOG_DELIVERY = "logdelivery.elasticloadbalancing.amazonaws.com"

#: The Elastic Load Balancing account that delivers access logs in each region
#: available before August 2022. AWS still supports this legacy bucket policy
#: there ("Enable access logs for your Application Load Balancer", Step 2:
#: https://docs.aws.amazon.com/elasticloadbalancing/latest/application/enable-access-logging.html);
#: regions not listed never supported it.
LEGACY_ELB_LOG_ACCOUNTS: dict[str, str] = {
    "us-east-1": "127311923021",
    "us-east-2": "033677994240",
    "us-west-1": "027434742980",
    "us-west-2": "797873946194",
    "af-south-1": "098369216593",
    "ap-east-1": "754344448648",
    "ap-southeast-3": "589379963580",
    "ap-south-1": "718504428378",
    "ap-northeast-3": "383597477331",
    "ap-northeast-2": "600734575887",
    "ap-southeast-1": "114774131450",
    "ap-southeast-2": "783225319266",
    "ap-northeast-1": "582318560864",
    "ca-central-1": "985666609251",
    "eu-central-1": "054676820928",
    "eu-west-1": "156460612806",
    "eu-west-2": "652711504416",
    "eu-south-1": "635631232127",
    "eu-west-3": "009996457667",
    "eu-north-1": "897822967062",
    "me-south-1": "076674570225",
    "sa-east-1": "507241528517",
    "us-gov-east-1": "190560391635",
    "us-gov-west-1": "048591011584",
}
#: Fn::Or takes at most 10 conditions.
_OR_LIMIT = 10


def allow_elb_log_delivery(bucket: s3.Bucket, objects: str) -> None:
    """Let ALB deliver access logs to ``objects`` (a key pattern) in ``bucket``.

    One statement with both principals: the log-delivery service, and, where
    the stack is deployed in a region available before August 2022, that
    region's Elastic Load Balancing account (found at deploy time from a
    CfnMapping; elsewhere the ``AWS`` principal is left out by
    ``AWS::NoValue``). The stack is environment-agnostic, so the region is
    only known at deploy time.
    """
    stack = Stack.of(bucket)
    accounts = CfnMapping(
        stack,
        "ElbLogDeliveryAccounts",
        mapping={
            region: {"account": account} for region, account in LEGACY_ELB_LOG_ACCOUNTS.items()
        },
    )
    regions = sorted(LEGACY_ELB_LOG_ACCOUNTS)
    groups = [
        Fn.condition_or(*[Fn.condition_equals(Aws.REGION, r) for r in regions[i : i + _OR_LIMIT]])
        for i in range(0, len(regions), _OR_LIMIT)
    ]
    legacy = CfnCondition(stack, "ElbLegacyLogDeliveryRegion", expression=Fn.condition_or(*groups))
    legacy_account = Fn.condition_if(
        legacy.logical_id,
        Fn.join(
            "",
            ["arn:", Aws.PARTITION, ":iam::", accounts.find_in_map(Aws.REGION, "account"), ":root"],
        ),
        Aws.NO_VALUE,
    )
    bucket.add_to_resource_policy(
        iam.PolicyStatement(
            sid="AllowElbLogDelivery",
            principals=[
                iam.ServicePrincipal(ELB_LOG_DELIVERY),
                iam.ArnPrincipal(legacy_account.to_string()),
            ],
            actions=["s3:PutObject"],
            resources=[bucket.arn_for_objects(objects)],
        )
    )
