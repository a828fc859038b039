"""The one way this app makes an S3 bucket."""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import RemovalPolicy
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
