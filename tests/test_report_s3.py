"""The report over an S3 lake, through moto's server and the real boto3 and
pyarrow S3 code paths."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from report_lake import HOUR, T0, entry, incident_rows, write_object

from alb502.cli import main
from alb502.dev.local import LocalAws, local_aws
from alb502.errors import InputError
from alb502.report import baseline_of, build
from alb502.report_render import to_json

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def aws() -> Iterator[LocalAws]:
    with local_aws() as running:
        yield running


@pytest.fixture(scope="module")
def lakes(aws: LocalAws, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """The same lake on disk and in S3 under a prefix."""
    root = tmp_path_factory.mktemp("s3lake") / "lake"
    write_object(root, "obj-2026-11-20", incident_rows())
    write_object(
        root,
        "obj-2026-11-19",
        [entry(T0.replace(day=19), status=502, cause="no_targets", target="")],
    )
    s3 = aws.client("s3")
    s3.create_bucket(Bucket="lake-bucket")
    for path in root.rglob("*.parquet"):
        s3.upload_file(str(path), "lake-bucket", f"alb502/{path.relative_to(root)}")
    return root, "s3://lake-bucket/alb502/"


def test_an_s3_lake_reports_what_the_local_copy_does(lakes: tuple[Path, str]) -> None:
    local, uri = lakes
    from_s3 = to_json(build(uri, window=HOUR, baseline=baseline_of(HOUR)))
    from_disk = to_json(build(local, window=HOUR, baseline=baseline_of(HOUR)))
    assert from_s3.pop("lake") == uri
    from_disk.pop("lake")
    assert from_s3 == from_disk
    assert from_s3["totals"]["errors"] == 15


def test_an_s3_report_reads_only_the_windows_day(aws: LocalAws, lakes: tuple[Path, str]) -> None:
    _local, uri = lakes
    aws.client("s3").put_object(
        Bucket="lake-bucket", Key="alb502/alb_logs/day=2026-11-18/broken.parquet", Body=b"junk"
    )
    try:
        assert build(uri, window=HOUR).files_read == 1
        with pytest.raises(InputError, match="cannot read the lake"):
            build(uri)
    finally:
        aws.client("s3").delete_object(
            Bucket="lake-bucket", Key="alb502/alb_logs/day=2026-11-18/broken.parquet"
        )


def test_the_cli_on_an_s3_lake(lakes: tuple[Path, str], capsys: pytest.CaptureFixture[str]) -> None:
    _local, uri = lakes
    assert (
        main(["report", "--since", "2026-11-20T10:00Z", "--until", "2026-11-20T11:00Z", uri]) == 0
    )
    out = capsys.readouterr().out
    assert "tagged 5xx: 15 (8.11% of 185 entries); baseline: 3" in out


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        (
            "s3://no-such-bucket/lake/",
            "s3://no-such-bucket/lake/: cannot list the lake (NoSuchBucket)",
        ),
        ("s3://lake-bucket/elsewhere/", "s3://lake-bucket/elsewhere/: not an alb502 lake"),
    ],
)
def test_s3_errors_are_one_line(
    lakes: tuple[Path, str], capsys: pytest.CaptureFixture[str], uri: str, message: str
) -> None:
    assert main(["report", uri]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]


def test_an_s3_uri_without_credentials(
    lakes: tuple[Path, str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _local, uri = lakes
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")  # no instance role to find here
    assert "AWS_CONFIG_FILE" in os.environ  # local_aws points it at /dev/null
    assert main(["report", uri]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        f"alb502: error: {uri}: no AWS credentials (set AWS_PROFILE or "
        "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)"
    ]
