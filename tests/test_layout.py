"""Layout: object kinds, stems and interval ends from real ALB key shapes."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from alb502.layout import ObjectKind, interval_end, object_kind, partition_path, stem

ACCESS = (
    "logs/AWSLogs/123456789012/elasticloadbalancing/us-east-2/2026/11/20/"
    "123456789012_elasticloadbalancing_us-east-2_app.my-lb.50dc6c495c0c9188_"
    "20261120T2340Z_10.0.1.5_5ngd2mk5.log.gz"
)


@pytest.mark.parametrize(
    ("key", "kind"),
    [
        (ACCESS, ObjectKind.ACCESS_LOG),
        ("AWSLogs/123456789012/ELBAccessLogTestFile", ObjectKind.TEST_FILE),
        (
            # The name AWS's connection-log page gives: "conn_log." then the account.
            "AWSLogs/123456789012/elasticloadbalancing/us-east-2/2026/11/20/conn_log."
            "123456789012_elasticloadbalancing_us-east-2_app.my-lb.50dc_20261120T2340Z_10.0.1.5_x.log.gz",
            ObjectKind.CONNECTION_LOG,
        ),
        (
            "AWSLogs/123456789012/elasticloadbalancing/us-east-2/2026/11/20/conn_log_"
            "123456789012_elasticloadbalancing_us-east-2_app.my-lb.50dc_20261120T2340Z_10.0.1.5_x.log.gz",
            ObjectKind.CONNECTION_LOG,
        ),
        (
            "AWSLogs/123456789012/elasticloadbalancing/us-east-2/2026/11/20/health_check_log_"
            "123456789012_elasticloadbalancing_us-east-2_app.my-lb.50dc_20261120T2340Z_10.0.1.5_x.log.gz",
            ObjectKind.HEALTH_CHECK_LOG,
        ),
        ("AWSLogs/123456789012/other/readme.txt", ObjectKind.OTHER),
    ],
)
def test_object_kind(key: str, kind: ObjectKind) -> None:
    assert object_kind(key) is kind


def test_stem_and_interval_end() -> None:
    assert stem(ACCESS).endswith("_20261120T2340Z_10.0.1.5_5ngd2mk5")
    assert stem("dir/plain.log") == "plain"
    assert interval_end(ACCESS) == datetime(2026, 11, 20, 23, 40, tzinfo=UTC)
    assert interval_end("x.log.gz") is None


def test_partition_path() -> None:
    assert partition_path("alb_logs", "2026-11-20", "s") == "alb_logs/day=2026-11-20/s.parquet"
    with pytest.raises(ValueError, match="unknown table"):
        partition_path("other", "2026-11-20", "s")
