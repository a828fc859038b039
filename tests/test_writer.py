"""The writer: all-or-nothing commits (re-deliveries included) and rejects kept off the heap."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from aws_fixtures import mocked_s3
from boto3.exceptions import S3UploadFailedError

from alb502 import reader, writer
from alb502.errors import Deadline
from alb502.pipeline import process_object

from logtext import entry

LAKE_BUCKET = "lake"
#: ALB's name for an object; its outputs are named after it.
NAME = (
    "123456789012_elasticloadbalancing_us-east-1_app.shop.50dc6c495c0c9188_"
    "20261121T0000Z_10.0.0.1_k3y.log"
)


def write_log(folder: Path, extra_lines: int = 0) -> Path:
    """An object whose output is four files: two days of rows, its errors, one of rejects."""
    lines = [
        entry(time="2026-11-20T23:59:58.000000Z"),
        "",  # a blank line: a reject
        *[entry(time="2026-11-20T23:59:59.000000Z") for _ in range(extra_lines)],
        entry(time="2026-11-21T00:00:01.000000Z", elb_status="200", target_status="200"),
    ]
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / NAME
    path.write_text("".join(f"{line}\n" for line in lines))
    return path


class FlakyUploads:
    """An S3 client whose ``fail_at``-th upload fails (as a cut connection would)."""

    def __init__(self, client: Any, fail_at: int) -> None:
        self._client = client
        self.fail_at = fail_at
        self.uploads = 0

    def upload_file(self, *args: Any, **kwargs: Any) -> None:
        self.uploads += 1
        if self.uploads == self.fail_at:
            raise S3UploadFailedError("Failed to upload: An error occurred (InternalError)")
        self._client.upload_file(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    with mocked_s3(monkeypatch, LAKE_BUCKET) as client:
        yield client


def s3_lake(client: Any, prefix: str) -> dict[str, bytes]:
    """Every object under ``prefix``, set-aside copies included: key -> content."""
    listed = client.list_objects_v2(Bucket=LAKE_BUCKET, Prefix=prefix).get("Contents", [])
    return {
        o["Key"]: client.get_object(Bucket=LAKE_BUCKET, Key=o["Key"])["Body"].read() for o in listed
    }


def local_lake(lake: Path) -> dict[str, bytes]:
    """Every file in the lake directory, hidden and set-aside ones included."""
    if not lake.exists():
        return {}
    return {str(p.relative_to(lake)): p.read_bytes() for p in lake.rglob("*") if p.is_file()}


@pytest.mark.parametrize("fail_at", [1, 2, 3, 4])
def test_a_failed_redelivery_leaves_the_old_set_whole_in_s3(
    s3: Any, tmp_path: Path, fail_at: int
) -> None:
    lake = f"s3://{LAKE_BUCKET}/lake"
    process_object(str(write_log(tmp_path / "v1")), lake, s3_client=s3)
    old = s3_lake(s3, "lake/")
    assert len(old) == 4

    # The object comes again with different content (a newer tagger would do
    # the same): the 2nd of its 3 uploads fails.
    flaky = FlakyUploads(s3, fail_at)
    with pytest.raises(S3UploadFailedError):
        process_object(str(write_log(tmp_path / "v2", extra_lines=5)), lake, s3_client=flaky)
    assert flaky.uploads == fail_at
    assert s3_lake(s3, "") == old  # the old set, whole; no set-aside copy left behind

    report = process_object(str(write_log(tmp_path / "v2", extra_lines=5)), lake, s3_client=s3)
    new = s3_lake(s3, "")
    assert sorted(new) == sorted(old) and all(
        new[k] != old[k] for k in new if "day=2026-11-20" in k
    )
    assert report.rows == 7


def test_a_failed_first_delivery_leaves_nothing_in_s3(s3: Any, tmp_path: Path) -> None:
    with pytest.raises(S3UploadFailedError):
        process_object(
            str(write_log(tmp_path)), f"s3://{LAKE_BUCKET}/lake", s3_client=FlakyUploads(s3, 3)
        )
    assert s3_lake(s3, "") == {}


def flaky_replace(fail_at: int) -> Callable[[Any, Any], None]:
    """``os.replace`` failing on the ``fail_at``-th move of a staged file into the lake."""
    real = os.replace
    moves = 0

    def replace(source: Any, target: Any) -> None:
        nonlocal moves
        if Path(source).name.startswith("."):  # the writer's hidden staging name
            moves += 1
            if moves == fail_at:
                raise OSError(28, "No space left on device")
        real(source, target)

    return replace


@pytest.mark.parametrize("fail_at", [2, 3, 4])
def test_a_failed_redelivery_leaves_the_old_set_whole_locally(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fail_at: int
) -> None:
    lake = tmp_path / "lake"
    process_object(str(write_log(tmp_path / "v1")), str(lake))
    old = local_lake(lake)
    assert len(old) == 4

    with monkeypatch.context() as patch:
        patch.setattr(os, "replace", flaky_replace(fail_at))
        with pytest.raises(OSError, match="No space left"):
            process_object(str(write_log(tmp_path / "v2", extra_lines=5)), str(lake))
    assert local_lake(lake) == old

    process_object(str(write_log(tmp_path / "v2", extra_lines=5)), str(lake))
    new = local_lake(lake)
    assert sorted(new) == sorted(old) and new != old


def test_a_failed_first_delivery_leaves_nothing_locally(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lake = tmp_path / "lake"
    monkeypatch.setattr(os, "replace", flaky_replace(2))
    with pytest.raises(OSError):
        process_object(str(write_log(tmp_path)), str(lake))
    assert local_lake(lake) == {}


def test_time_running_out_between_uploads_gives_the_old_set_back(s3: Any, tmp_path: Path) -> None:
    lake = f"s3://{LAKE_BUCKET}/lake"
    process_object(str(write_log(tmp_path / "v1")), lake, s3_client=s3)
    old = s3_lake(s3, "")
    uploads = FlakyUploads(s3, fail_at=0)  # never fails: counts

    with pytest.raises(Deadline):
        process_object(
            str(write_log(tmp_path / "v2", extra_lines=5)),
            lake,
            s3_client=uploads,
            # Time runs out as soon as the first upload has begun.
            should_stop=lambda: uploads.uploads >= 1,
        )
    assert uploads.uploads == 1
    assert s3_lake(s3, "") == old


def test_rejects_reach_the_writer_a_row_group_at_a_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Many small chunks of blank lines: the rejects of all of them must not
    # be gathered in memory before they are written.
    monkeypatch.setattr(reader, "CHUNK_SIZE", 4096)
    lines = 5 * writer.ROW_GROUP_ROWS + 17
    path = tmp_path / NAME
    path.write_bytes(b"\n" * lines)
    batches: list[int] = []
    add_rejects = writer.ObjectOutput.add_rejects

    def spy(self: writer.ObjectOutput, rejects: Any, day: str) -> None:
        batches.append(rejects.num_rows)
        add_rejects(self, rejects, day)

    monkeypatch.setattr(writer.ObjectOutput, "add_rejects", spy)

    report = process_object(str(path), str(tmp_path / "lake"))

    assert report.rejects == lines == sum(batches)
    assert max(batches) <= writer.ROW_GROUP_ROWS
    (written,) = (tmp_path / "lake").rglob("*.parquet")
    assert pq.ParquetFile(written).metadata.num_rows == lines


def test_an_object_over_many_days_keeps_few_files_open_and_loses_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A damaged object naming many days: bounded open files, every entry in its day's file."""
    monkeypatch.setattr(writer, "MAX_DAY_FILES", 3)
    monkeypatch.setattr(writer, "STRAY_DAYS_PER_PASS", 2)
    monkeypatch.setattr(writer, "MAX_PENDING_ROWS", 50)
    days = [f"2026-10-{day:02d}" for day in range(1, 12)]
    lines = [
        entry(time=f"{days[i % len(days)]}T12:00:{i % 60:02d}.000000Z", elb_status=status)
        for i in range(220)
        for status in (("502",) if i % 3 else ("200",))
    ]
    path = tmp_path / NAME
    path.write_text("".join(f"{line}\n" for line in lines))
    opened: list[int] = [0, 0]  # open now, most at once
    real = pq.ParquetWriter

    class Counted(real):  # type: ignore[misc, valid-type]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            opened[0] += 1
            opened[1] = max(opened)

        def close(self) -> None:
            if self.is_open:
                opened[0] -= 1
            super().close()

    monkeypatch.setattr(pq, "ParquetWriter", Counted)

    report = process_object(str(path), str(tmp_path / "lake"))

    assert report.rows == len(lines)
    # The spills' own writers (held rows, the strays of both tables) come on top.
    assert opened[1] <= writer.MAX_DAY_FILES + writer.STRAY_DAYS_PER_PASS + 3
    for table, expected in (("alb_logs", len(lines)), ("alb_errors", 220 - 74)):
        files = sorted((tmp_path / "lake" / table).rglob("*.parquet"))
        assert [f.parent.name for f in files] == [f"day={day}" for day in days]
        seen = []
        for file in files:
            rows = pq.read_table(file, columns=["time", "source_line"])
            assert {t[:10] for t in rows.column("time").to_pylist()} == {file.parent.name[4:]}
            seen += rows.column("source_line").to_pylist()
        assert sorted(seen) == sorted(set(seen)) and len(seen) == expected, table
