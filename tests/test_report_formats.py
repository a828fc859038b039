"""The report's forms (text, JSON, CSV, HTML) and the ``alb502 report`` command."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from report_lake import HOUR, T0, entry, incident_rows, write_object, write_table

from alb502.cli import main
from alb502.report import SECTIONS, Window, baseline_of, build
from alb502.report_render import SECTION_FIELDS, render_csv, render_html, render_text, to_json

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = json.loads((ROOT / "schemas" / "report.schema.json").read_text())


@pytest.fixture
def lake(tmp_path: Path) -> Path:
    root = tmp_path / "lake"
    write_object(root, "obj-2026-11-20", incident_rows())
    reject = {"source_key": "k", "source_line": 9, "raw_line": "x", "reason": "bad_time"}
    write_table(root, "alb_log_rejects", "2026-11-20", "obj-2026-11-20", [reject])
    return root


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["report", *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


# -- JSON ------------------------------------------------------------------------------


def test_json_matches_the_schema_and_names_every_section(lake: Path) -> None:
    report = build(lake, window=HOUR, baseline=baseline_of(HOUR))
    document = json.loads(json.dumps(to_json(report)))
    jsonschema.validate(document, SCHEMA)
    assert document["schema_version"] == 1
    assert list(document["sections"]) == list(SECTIONS)
    for name, rows in document["sections"].items():
        assert rows, f"{name} is empty in the incident lake"
        for row in rows:
            assert tuple(row) == SECTION_FIELDS[name]
    assert document["window"] == {
        "since": "2026-11-20T10:00:00.000Z",
        "until": "2026-11-20T11:00:00.000Z",
    }
    target = document["sections"]["targets"][0]
    assert target["first_failure"] == "2026-11-20T10:20:00.000Z"


def test_the_schema_refuses_a_renamed_field(lake: Path) -> None:
    document = json.loads(json.dumps(to_json(build(lake, window=HOUR))))
    document["sections"]["targets"][0]["share"] = document["sections"]["targets"][0].pop(
        "failure_share"
    )
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(document, SCHEMA)


def test_the_readme_documents_every_json_field() -> None:
    """The README's table of sections lists exactly the fields each row has."""
    readme = (ROOT / "README.md").read_text()
    documented = dict(re.findall(r"^\| `(\w+)` \| ((?:`\w+`,? ?)+) \|", readme, re.M))
    assert set(documented) >= set(SECTIONS) | {"totals"}
    for name in SECTIONS:
        assert tuple(re.findall(r"`(\w+)`", documented[name])) == SECTION_FIELDS[name], name
    totals = tuple(re.findall(r"`(\w+)`", documented["totals"]))
    assert totals == tuple(SCHEMA["properties"]["totals"]["required"])
    for name in SECTIONS:
        assert SCHEMA["properties"]["sections"]["properties"][name]["items"]["required"] == list(
            SECTION_FIELDS[name]
        )


# -- CSV -----------------------------------------------------------------------------


@pytest.mark.parametrize("name", SECTIONS)
def test_csv_per_section_has_its_header_and_rows(lake: Path, name: str) -> None:
    report = build(lake, window=HOUR, baseline=baseline_of(HOUR))
    rows = list(csv.reader(io.StringIO(render_csv(report, name))))
    header = rows[0]
    assert header[: len([f for f in SECTION_FIELDS[name] if f != "causes"])] == [
        f for f in SECTION_FIELDS[name] if f != "causes"
    ]
    assert len(rows) - 1 == len(report.sections[name])


def test_csv_spreads_the_timelines_causes_into_columns(lake: Path) -> None:
    text = render_csv(build(lake, window=HOUR), "timeline")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert len(rows) == 12
    assert rows[4]["start"] == "2026-11-20T10:20:00.000Z"
    assert rows[4]["cause:target_restarting"] == "5"
    assert rows[0]["errors"] == "0" and rows[0]["cause:target_restarting"] == "0"


# -- text and HTML --------------------------------------------------------------------


def test_text_has_every_section(lake: Path) -> None:
    text = render_text(build(lake, window=HOUR, baseline=baseline_of(HOUR)))
    for title in (
        "By cause:",
        "By status code",
        "Load balancers:",
        "Target groups:",
        "Targets (most errors first):",
        "Top paths:",
        "Timeline (UTC, 5-minute buckets",
        "What rose against the baseline",
        "By cause and error_reason:",
        "What to do:",
    ):
        assert title in text
    assert "other load-balancer 5xx: 5" in text
    assert "  11-20 10:10-10:15       0\n" in text  # an empty bucket is shown


def test_html_is_one_self_contained_page(lake: Path) -> None:
    page = render_html(build(lake, window=HOUR, baseline=baseline_of(HOUR)))
    assert "<script" not in page
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page)
    assert "@import" not in page and "url(" not in page
    assert page.count('class="bar"') == 6  # one rect per (bucket, cause) with rows
    assert "Make the target&#x27;s keep-alive timeout longer" in page  # remedies


# -- the command -------------------------------------------------------------------------


def test_cli_formats(lake: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    window = ["--since", "2026-11-20T10:00Z", "--until", "2026-11-20T11:00Z"]
    code, out, _ = run(capsys, *window, "--format", "json", str(lake))
    assert code == 0
    jsonschema.validate(json.loads(out), SCHEMA)
    assert json.loads(out)["totals"]["baseline_errors"] == 3
    code, out, _ = run(capsys, *window, "--format", "csv", "--section", "targets", str(lake))
    assert code == 0 and out.startswith("target,target_group_arn,elb,errors,")
    page = tmp_path / "report.html"
    code, out, err = run(capsys, *window, "--html", str(page), str(lake))
    assert code == 0 and "Targets (most errors first):" in out
    assert f"HTML report: {page}" in err
    assert page.read_text().startswith("<!doctype html>")


def test_cli_filters(lake: Path, capsys: pytest.CaptureFixture[str]) -> None:
    def causes(*args: str) -> dict[str, Any]:
        code, out, err = run(
            capsys,
            "--since",
            "2026-11-20T10:00Z",
            "--until",
            "2026-11-20T11:00Z",
            "--format",
            "json",
            *args,
            str(lake),
        )
        assert code == 0, err
        return {r["cause"]: r["errors"] for r in json.loads(out)["sections"]["causes"]}

    assert causes("--lb", "api", "--status", "500") == {"waf_error": 1}
    assert causes("--target-group", "web-tg", "--cause", "target_app_error") == {
        "target_app_error": 3
    }
    assert causes("--target", "10.0.0.2:80", "--target", "10.0.0.3") == {
        "target_app_error": 3,
        "target_closed_keepalive": 2,
    }


def test_cli_relative_window(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from datetime import UTC, datetime, timedelta

    now = datetime.now(UTC)
    root = tmp_path / "lake"
    write_object(
        root,
        "recent",
        [
            entry(now - timedelta(minutes=10), status=502, cause="target_unreachable"),
            entry(now - timedelta(minutes=50), status=502, cause="no_targets", target=""),
        ],
    )
    code, out, _ = run(capsys, "--since", "30m", "--format", "json", str(root))
    assert code == 0
    document = json.loads(out)
    assert document["totals"]["errors"] == 1
    assert document["totals"]["baseline_errors"] == 1  # the 30 minutes before


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["{missing}"], "{missing}: no such directory"),
        (["{empty}"], "{empty}: not an alb502 lake"),
        (["--since", "yesterday", "{lake}"], "'yesterday' is not a time"),
        (["--cause", "keepalive", "{lake}"], "unknown cause 'keepalive'"),
        (["--status", "404", "{lake}"], "status 404 is not a 5xx"),
        (["--compare-to", "1d", "{lake}"], "--compare-to needs a window"),
        (["--since", "1h", "--html", "{missing}/x/report.html", "{lake}"], "cannot write"),
    ],
)
def test_cli_errors_are_one_line(
    lake: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    (tmp_path / "empty").mkdir()
    names = {
        "lake": str(lake),
        "missing": str(tmp_path / "missing"),
        "empty": str(tmp_path / "empty"),
    }
    code, _out, err = run(capsys, *(a.format(**names) for a in args))
    assert code == 1
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("alb502: error: ")
    assert message.format(**names) in lines[0]


def test_cli_unknown_section_is_a_usage_error(
    lake: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["report", "--format", "csv", "--section", "nope", str(lake)])
    assert exit_info.value.code == 2
    assert "invalid choice: 'nope'" in capsys.readouterr().err


def test_help_names_every_section(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["report", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    for name in SECTIONS:
        assert name in out
    assert "--compare-to" in out and "s3://" in out


def test_a_lake_written_by_alb502_process(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from alb502.dev.traffic import generate_lines
    from alb502.dev.traffic import write_object as write_log

    log = (
        tmp_path
        / "logs"
        / "123456789012_elasticloadbalancing_us-east-1_app.web.1a2b_20261120T1005Z_10.0.0.1_a.gz"
    )
    log.parent.mkdir()
    write_log(log, generate_lines(start=T0, lines=5000, seed=4))
    assert main(["process", "-q", "--out", str(tmp_path / "lake"), str(log.parent)]) == 0
    code, out, _ = run(capsys, "--format", "json", str(tmp_path / "lake"))
    assert code == 0
    document = json.loads(out)
    jsonschema.validate(document, SCHEMA)
    assert document["totals"]["entries"] == 5000
    assert document["totals"]["errors"] > 0
    assert sum(r["errors"] for r in document["sections"]["causes"]) == document["totals"]["errors"]


def test_a_quiet_window_reports_zeros(lake: Path) -> None:
    quiet = Window(T0 + timedelta(days=3), T0 + timedelta(days=3, hours=1))
    report = build(lake, window=quiet, baseline=baseline_of(quiet))
    assert report.totals["errors"] == 0 and report.totals["entries"] == 0
    assert report.files_read == 0
    assert [r["errors"] for r in report.sections["timeline"]] == [0] * 12
    text = render_text(report)
    assert "No tagged 5xx in this window." in text
    jsonschema.validate(json.loads(json.dumps(to_json(report))), SCHEMA)
    assert 'class="bar"' not in render_html(report)
