"""The alb502 command line: process and report, errors, exit codes, help."""

from __future__ import annotations

import gzip
import subprocess
import sys
from pathlib import Path

import pytest

from alb502.cli import main

from logtext import entry


def make_logs(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    with gzip.open(folder / "a.log.gz", "wt") as out:
        out.write(entry() + "\n" + entry(target="-", error_reason="LambdaThrottling") + "\n")
    (folder / "b.log").write_text(entry(elb_status="200", target_status="200") + "\n\n")
    # A connection log, named as AWS names them ("conn_log." then the access log's name).
    conn_log = (
        "conn_log.123456789012_elasticloadbalancing_us-east-1_app.web.1a2b"
        "_20240101T0005Z_10.0.0.1_x"
    )
    (folder / f"{conn_log}.log.gz").write_bytes(
        gzip.compress(b"2024-01-01T00:00:00Z 1.2.3.4 5 443\n")
    )
    (folder / "notes.txt").write_text("ignored")


def test_process_a_directory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    make_logs(tmp_path / "logs")
    code = main(["process", "--out", str(tmp_path / "lake"), str(tmp_path / "logs")])
    out = capsys.readouterr().out
    assert code == 0
    assert "objects: 2  lines: 4  rows: 3  rejects: 1" in out
    assert "skipped (not access logs): 1 connection_log" in out
    assert "target_connection_closed" in out and "lambda_throttled" in out
    assert (tmp_path / "lake/alb_logs/day=2026-11-20/a.parquet").is_file()


def test_bad_inputs_fail_one_line_each_and_the_rest_is_processed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    make_logs(tmp_path / "logs")
    (tmp_path / "bad.log.gz").write_bytes(b"not gzip at all")
    args = [
        "process",
        "--out",
        str(tmp_path / "lake"),
        str(tmp_path / "bad.log.gz"),
        str(tmp_path / "missing.log.gz"),
        str(tmp_path / "logs" / "a.log.gz"),
    ]
    code = main(args)
    captured = capsys.readouterr()
    assert code == 1
    errors = captured.err.strip().splitlines()
    assert len(errors) == 2
    assert errors[0].startswith("alb502: error: ") and "not gzip" in errors[0]
    assert "missing.log.gz: no such file" in errors[1]
    assert "Traceback" not in captured.err
    assert "objects: 1" in captured.out


def test_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    make_logs(tmp_path / "logs")
    main(["process", "-q", "--out", str(tmp_path / "lake"), str(tmp_path / "logs")])
    capsys.readouterr()
    assert main(["report", str(tmp_path / "lake")]) == 0
    out = capsys.readouterr().out
    assert "tagged 5xx: 2 (66.67% of 3 entries)" in out
    assert "rejected lines: 1" in out
    assert "target_connection_closed" in out and "TargetResponseMissing" in out
    assert "10.0.0.1:80" in out
    assert "Timeline (UTC" in out
    assert "blank_line" in out


def test_report_on_something_that_is_not_a_lake(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["report", str(tmp_path)]) == 1
    assert (
        capsys.readouterr().err.strip()
        == f"alb502: error: {tmp_path}: not an alb502 lake (no alb_logs/day=YYYY-MM-DD/ "
        "folders; write one with 'alb502 process')"
    )


def test_help_and_usage_errors() -> None:
    run = [sys.executable, "-m", "alb502.cli"]
    helped = subprocess.run([*run, "process", "--help"], capture_output=True, text=True, check=True)
    assert "alb502 process" in helped.stdout and "examples:" in helped.stdout
    usage = subprocess.run([*run, "process"], capture_output=True, text=True)
    assert usage.returncode == 2
    assert "INPUT" in usage.stderr


def test_inputs_with_the_same_file_name_are_not_silently_merged(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "d1").mkdir()
    (tmp_path / "d2").mkdir()
    (tmp_path / "d1" / "x.log").write_text(entry() + "\n")
    (tmp_path / "d2" / "x.log").write_text((entry() + "\n") * 3)
    code = main(
        ["process", "--out", str(tmp_path / "lake"), str(tmp_path / "d1"), str(tmp_path / "d2")]
    )
    captured = capsys.readouterr()
    assert code == 1
    assert (
        f"{tmp_path / 'd2' / 'x.log'}: same file name as {tmp_path / 'd1' / 'x.log'}"
        in captured.err
    )
    assert "rows: 1 " in captured.out


def test_unwritable_lake_is_one_line_not_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    make_logs(tmp_path / "logs")
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the lake should be")
    code = main(["process", "--out", str(blocker), str(tmp_path / "logs" / "a.log.gz")])
    err = capsys.readouterr().err
    assert code == 1
    assert err.count("\n") == 1
    assert err.startswith(
        f"alb502: error: {tmp_path / 'logs' / 'a.log.gz'}: cannot write the lake at"
    )
    assert "Traceback" not in err


def test_a_name_with_an_impossible_date_is_still_processed(tmp_path: Path) -> None:
    source = tmp_path / "x_20240230T1200Z_y.log"
    source.write_text(entry() + "\n")
    assert main(["process", "-q", "--out", str(tmp_path / "lake"), str(source)]) == 0


@pytest.mark.parametrize("args", [["--help"], ["report", "--help"], ["--version"]])
def test_help_everywhere(args: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main(args)
    assert done.value.code == 0
    out = capsys.readouterr().out
    assert "alb502" in out


def test_a_directory_counts_the_test_file_as_skipped(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The same objects are taken from a directory as from an S3 prefix."""
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs/ELBAccessLogTestFile").write_text("Enable AccessLog for ELB: x\n")
    assert main(["process", "--out", str(tmp_path / "lake"), str(tmp_path / "logs")]) == 0
    out = capsys.readouterr().out
    assert "objects: 0" in out
    assert "skipped (not access logs): 1 test_file" in out
    # Nothing was written: no hint to report on it.
    assert "next:" not in out
