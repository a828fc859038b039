"""The forms of a :class:`~alb502.report.Report`: text for a terminal, JSON
for runbooks and scripts (schema in ``schemas/report.schema.json``), CSV per
section, and one self-contained HTML page (inline CSS and SVG, no script,
nothing fetched)."""

from __future__ import annotations

import csv
import html
import io
import json
from datetime import datetime
from typing import Any

from alb502.causes import CAUSES, REMEDIES
from alb502.report import SCHEMA_VERSION, SECTIONS, Report, Window

#: The fields of each section's rows, in order: the CSV header and the JSON
#: schema's contract.
SECTION_FIELDS: dict[str, tuple[str, ...]] = {
    "causes": ("cause", "errors", "errors_502", "elb_5xx_other", "baseline", "remedy"),
    "status_codes": ("elb_status_code", "error_source", "errors", "baseline"),
    "load_balancers": (
        "elb",
        "entries",
        "errors",
        "errors_502",
        "elb_5xx_other",
        "error_share",
    ),
    "target_groups": (
        "target_group_arn",
        "elb",
        "entries",
        "errors",
        "errors_502",
        "elb_5xx_other",
        "error_share",
    ),
    "targets": (
        "target",
        "target_group_arn",
        "elb",
        "errors",
        "errors_502",
        "entries",
        "failure_share",
        "first_failure",
        "last_failure",
        "longest_failure_run",
        "cause",
        "causes",
    ),
    "paths": ("path", "errors", "errors_502", "targets", "cause", "baseline"),
    "timeline": ("start", "end", "errors", "causes"),
    "changes": ("kind", "key", "errors", "baseline", "change"),
    "error_reasons": ("cause", "error_reason", "elb_status_code", "errors"),
    "rejects": ("reason", "count"),
}
assert tuple(SECTION_FIELDS) == SECTIONS


# -- JSON -----------------------------------------------------------------------


def to_json(report: Report) -> dict[str, Any]:
    """The JSON form as Python values (times as ISO 8601 UTC strings)."""
    return {
        "schema_version": SCHEMA_VERSION,
        "lake": report.lake,
        "source_table": report.source_table,
        "window": _window_json(report.window),
        "baseline": _window_json(report.baseline) if report.baseline else None,
        "bucket_minutes": report.bucket_minutes,
        "filters": report.filters.as_dict(),
        "totals": report.totals,
        "sections": {name: [_jsonable(row) for row in report.sections[name]] for name in SECTIONS},
    }


def render_json(report: Report) -> str:
    return json.dumps(to_json(report), indent=2)


def _window_json(window: Window) -> dict[str, str | None]:
    return {"since": _iso(window.since), "until": _iso(window.until)}


def _iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _jsonable(row: dict[str, Any]) -> dict[str, Any]:
    return {k: _iso(v) if isinstance(v, datetime) else v for k, v in row.items()}


# -- CSV ------------------------------------------------------------------------


def render_csv(report: Report, section: str) -> str:
    """One section as CSV with a header row. Nested counts (a target's or a
    timeline bucket's causes) become one ``cause:<name>`` column per cause
    that occurs, in ``causes.md`` order."""
    rows = [_jsonable(row) for row in report.sections[section]]
    fields = [f for f in SECTION_FIELDS[section] if f != "causes"]
    nested = "causes" in SECTION_FIELDS[section]
    seen = {cause for row in rows for cause in row.get("causes", {})} if nested else set()
    cause_columns = [c for c in CAUSES if c in seen] + sorted(seen - set(CAUSES))
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(fields + [f"cause:{c}" for c in cause_columns])
    for row in rows:
        causes = row.get("causes", {})
        writer.writerow([_cell(row[f]) for f in fields] + [causes.get(c, 0) for c in cause_columns])
    return out.getvalue()


def _cell(value: Any) -> Any:
    return "" if value is None else value


#: The error volume of a load balancer's or a target group's row, in the
#: text and HTML tables alike.
_VOLUME_HEADER = ("errors", "502", "other 5xx", "entries", "share")


def _volume(row: dict[str, Any]) -> list[Any]:
    return [
        row["errors"],
        row["errors_502"],
        row["elb_5xx_other"],
        row["entries"],
        _percent(row["error_share"]),
    ]


# -- text -----------------------------------------------------------------------


def render_text(report: Report) -> str:
    t = report.totals
    lines = [f"alb502 report: {report.lake}", _window_line(report)]
    if any(report.filters.as_dict().values()):
        lines.append("filters: " + _filters_line(report))
    lines.append(f"read: {report.source_table} ({report.files_read:,} files)")
    share = f" ({100 * t['error_share']:.2f}% of {t['entries']:,} entries)" if t["entries"] else ""
    baseline = f"; baseline: {t['baseline_errors']:,}" if t["baseline_errors"] is not None else ""
    lines += [
        "",
        f"tagged 5xx: {t['errors']:,}{share}{baseline}",
        f"  502s: {t['errors_502']:,} (by the load balancer: {t['elb_502']:,}; "
        f"by targets: {t['target_502']:,})",
        f"  other load-balancer 5xx: {t['elb_5xx_other']:,}",
        f"  rejected lines: {t['rejects']:,}",
    ]
    sections = report.sections
    if not t["errors"]:
        lines += ["", "No tagged 5xx in this window."]
    lines += _table(
        "By cause",
        ["errors", "502", "other 5xx", "baseline", "cause"],
        [
            [r["errors"], r["errors_502"], r["elb_5xx_other"], r["baseline"], r["cause"]]
            for r in sections["causes"]
        ],
    )
    lines += _table(
        "By status code (502 first; other = produced by the load balancer itself)",
        ["errors", "baseline", "status", "source"],
        [
            [r["errors"], r["baseline"], r["elb_status_code"], r["error_source"]]
            for r in sections["status_codes"]
        ],
    )
    lines += _table(
        "Load balancers",
        [*_VOLUME_HEADER, "load balancer"],
        [[*_volume(r), r["elb"]] for r in sections["load_balancers"]],
    )
    lines += _table(
        "Target groups",
        [*_VOLUME_HEADER, "target group", "load balancer"],
        [
            [*_volume(r), short_name(r["target_group_arn"]) or "(none)", short_name(r["elb"])]
            for r in sections["target_groups"]
        ],
    )
    lines += _table(
        "Targets (most errors first)",
        ["errors", "share", "first", "last", "run", "cause", "target", "target group"],
        [
            [
                r["errors"],
                _percent(r["failure_share"]),
                _clock(r["first_failure"]),
                _clock(r["last_failure"]),
                r["longest_failure_run"],
                r["cause"],
                r["target"],
                short_name(r["target_group_arn"]),
            ]
            for r in sections["targets"]
        ],
        empty="(no tagged 5xx on a target: Lambda targets, WAF, fixed responses...)",
    )
    lines += _table(
        "Top paths",
        ["errors", "502", "targets", "baseline", "cause", "path"],
        [
            [r["errors"], r["errors_502"], r["targets"], r["baseline"], r["cause"], r["path"]]
            for r in sections["paths"]
        ],
    )
    lines += _timeline_text(report)
    if report.baseline is not None:
        lines += _table(
            f"What rose against the baseline ({_span(report.baseline)})",
            ["errors", "baseline", "change", "what", "which"],
            [
                [r["errors"], r["baseline"], f"+{r['change']:,}", r["kind"], r["key"]]
                for r in sections["changes"]
            ],
            empty="(nothing rose)",
        )
    lines += _table(
        "By cause and error_reason",
        ["errors", "status", "cause", "error_reason"],
        [
            [r["errors"], r["elb_status_code"], r["cause"], r["error_reason"]]
            for r in sections["error_reasons"]
        ],
    )
    if sections["causes"]:
        lines += ["", "What to do:"]
        for r in sections["causes"]:
            lines.append(f"  {r['cause']} ({r['errors']:,}): {r['remedy']}")
    if sections["rejects"]:
        lines += _table(
            "Rejected lines by reason (see the alb_log_rejects table)",
            ["lines", "reason"],
            [[r["count"], r["reason"]] for r in sections["rejects"]],
        )
    return "\n".join(lines)


def _window_line(report: Report) -> str:
    line = f"window: {_span(report.window)}"
    if report.baseline is not None:
        line += f"; baseline: {_span(report.baseline)}"
    return line


def _span(window: Window) -> str:
    if window.since is None or window.until is None:
        return "the whole lake (empty)"
    minutes = (window.until - window.since).total_seconds() / 60
    length = f"{minutes:.0f} min" if minutes < 120 else f"{minutes / 60:.1f} h"
    return f"{window.since:%Y-%m-%d %H:%M} - {window.until:%Y-%m-%d %H:%M} UTC ({length})"


def _filters_line(report: Report) -> str:
    return "; ".join(
        f"{name} {', '.join(str(v) for v in values)}"
        for name, values in report.filters.as_dict().items()
        if values
    )


def _table(
    title: str, header: list[str], rows: list[list[Any]], *, empty: str = "(none)"
) -> list[str]:
    """A titled table: numbers right-aligned, the last column left and unpadded."""
    lines = ["", f"{title}:"]
    if not rows:
        return [*lines, f"  {empty}"]
    cells = [[_text(v) for v in row] for row in [header, *rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    for index, row in enumerate(cells):
        parts = []
        for i, value in enumerate(row):
            numeric = index > 0 and isinstance(rows[index - 1][i], int | float)
            if i == len(row) - 1:
                parts.append(value)
            elif numeric or (index == 0 and _numeric_column(rows, i)):
                parts.append(value.rjust(widths[i]))
            else:
                parts.append(value.ljust(widths[i]))
        lines.append("  " + "  ".join(parts).rstrip())
    return lines


def _numeric_column(rows: list[list[Any]], i: int) -> bool:
    return any(isinstance(row[i], int | float) for row in rows)


def _text(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def _percent(share: float | None) -> str:
    return "-" if share is None else f"{100 * share:.1f}%"


def _clock(moment: datetime | None) -> str:
    return "-" if moment is None else f"{moment:%m-%d %H:%M:%S}"


def short_name(arn_or_elb: str | None) -> str:
    """``NAME`` of ``app/NAME/ID`` or of a target group ARN."""
    if not arn_or_elb:
        return ""
    parts = arn_or_elb.rsplit("/", 2)
    return parts[-2] if len(parts) == 3 else arn_or_elb


def _timeline_text(report: Report) -> list[str]:
    rows = report.sections["timeline"]
    if not rows:
        return []
    lines = [
        "",
        f"Timeline (UTC, {report.bucket_minutes}-minute buckets, empty ones included; "
        "bars relative to the busiest):",
    ]
    peak = max((r["errors"] for r in rows), default=0)
    for r in rows:
        bar = "#" * (max(1, round(30 * r["errors"] / peak)) if r["errors"] else 0)
        causes = ", ".join(f"{c} {n:,}" for c, n in list(r["causes"].items())[:3])
        row = f"  {r['start']:%m-%d %H:%M}-{r['end']:%H:%M} {r['errors']:>7,}  {bar:<30}  {causes}"
        lines.append(row.rstrip())
    return lines


# -- HTML -----------------------------------------------------------------------

_CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:24px;color:#1b1f24;
background:#fff}
h1{font-size:20px;margin:0 0 4px}h2{font-size:16px;margin:28px 0 8px;border-bottom:1px solid #ddd}
.meta{color:#555}.totals{display:flex;gap:24px;flex-wrap:wrap;margin:16px 0}
.totals div{background:#f4f6f8;border-radius:6px;padding:8px 14px}
.totals b{display:block;font-size:20px}
table{border-collapse:collapse;margin:4px 0}
th,td{padding:3px 10px;border-bottom:1px solid #eee;text-align:left;vertical-align:top}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}
.legend span{display:inline-block;margin:2px 12px 2px 0}
.legend i{display:inline-block;width:12px;height:12px;margin-right:4px;vertical-align:-1px}
dt{font-weight:600;margin-top:8px}dd{margin:2px 0 0 16px}
svg text{font:11px system-ui,sans-serif;fill:#555}
"""


#: One colour per cause of ``CAUSES``, in order (Tableau's palette): strong
#: hues for the target causes an incident is mostly made of, lighter ones
#: for Lambda and the load balancer's integrations, grey for unknown.
_PALETTE = (
    "#d62728",
    "#2ca02c",
    "#9467bd",
    "#8c564b",
    "#1f77b4",
    "#17becf",
    "#ff7f0e",
    "#e377c2",
    "#bcbd22",
    "#393b79",
    "#98df8a",
    "#ffbb78",
    "#ff9896",
    "#c5b0d5",
    "#c49c94",
    "#f7b6d2",
    "#aec7e8",
    "#dbdb8d",
    "#9edae5",
    "#e7ba52",
    "#7f7f7f",
)
assert len(_PALETTE) == len(CAUSES)


def cause_color(cause: str) -> str:
    """A fixed colour per cause, the same in every report."""
    return _PALETTE[CAUSES.index(cause)] if cause in CAUSES else "#000000"


def render_html(report: Report) -> str:
    """The report as one HTML page with no external asset."""
    t = report.totals
    e = html.escape
    parts = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>alb502 report: {e(report.lake)}</title>",
        f"<style>{_CSS}</style></head><body>",
        f"<h1>alb502 report: {e(report.lake)}</h1>",
        f'<p class="meta">{e(_window_line(report))}<br>read: {e(report.source_table)} '
        f"({report.files_read:,} files)"
        + (
            f"<br>filters: {e(_filters_line(report))}"
            if any(report.filters.as_dict().values())
            else ""
        )
        + "</p>",
        '<div class="totals">',
        f"<div>tagged 5xx<b>{t['errors']:,}</b></div>",
        f"<div>502s<b>{t['errors_502']:,}</b></div>",
        f"<div>other load-balancer 5xx<b>{t['elb_5xx_other']:,}</b></div>",
        f"<div>entries<b>{t['entries']:,}</b></div>",
        f"<div>error share<b>{_percent(t['error_share'])}</b></div>",
    ]
    if t["baseline_errors"] is not None:
        parts.append(f"<div>baseline<b>{t['baseline_errors']:,}</b></div>")
    parts.append("</div>")
    parts += ["<h2>Timeline by cause</h2>", _svg_timeline(report)]
    sections = report.sections
    parts.append(
        _html_table(
            "By cause",
            ["cause", "errors", "502", "other 5xx", "baseline"],
            [
                [r["cause"], r["errors"], r["errors_502"], r["elb_5xx_other"], r["baseline"]]
                for r in sections["causes"]
            ],
        )
    )
    parts.append(
        _html_table(
            "By status code",
            ["status", "source", "errors", "baseline"],
            [
                [r["elb_status_code"], r["error_source"], r["errors"], r["baseline"]]
                for r in sections["status_codes"]
            ],
        )
    )
    parts.append(
        _html_table(
            "Load balancers",
            ["load balancer", *_VOLUME_HEADER],
            [[r["elb"], *_volume(r)] for r in sections["load_balancers"]],
        )
    )
    parts.append(
        _html_table(
            "Target groups",
            ["target group", "load balancer", *_VOLUME_HEADER],
            [
                [short_name(r["target_group_arn"]) or "(none)", short_name(r["elb"]), *_volume(r)]
                for r in sections["target_groups"]
            ],
        )
    )
    parts.append(
        _html_table(
            "Targets",
            ["target", "target group", "cause", "errors", "share", "first", "last", "longest run"],
            [
                [
                    r["target"],
                    short_name(r["target_group_arn"]),
                    r["cause"],
                    r["errors"],
                    _percent(r["failure_share"]),
                    _clock(r["first_failure"]),
                    _clock(r["last_failure"]),
                    r["longest_failure_run"],
                ]
                for r in sections["targets"]
            ],
        )
    )
    parts.append(
        _html_table(
            "Top paths",
            ["path", "cause", "errors", "502", "targets", "baseline"],
            [
                [r["path"], r["cause"], r["errors"], r["errors_502"], r["targets"], r["baseline"]]
                for r in sections["paths"]
            ],
        )
    )
    if report.baseline is not None:
        parts.append(
            _html_table(
                f"What rose against the baseline ({_span(report.baseline)})",
                ["what", "which", "errors", "baseline", "change"],
                [
                    [r["kind"], r["key"], r["errors"], r["baseline"], f"+{r['change']:,}"]
                    for r in sections["changes"]
                ],
            )
        )
    parts.append("<h2>What to do</h2><dl>")
    for r in sections["causes"]:
        parts.append(
            f'<dt><i style="color:{cause_color(r["cause"])}">&#9632;</i> {e(r["cause"])} '
            f"({r['errors']:,})</dt><dd>{e(REMEDIES.get(r['cause'], ''))}</dd>"
        )
    parts.append("</dl></body></html>")
    return "\n".join(parts)


def _html_table(title: str, header: list[str], rows: list[list[Any]]) -> str:
    e = html.escape
    numeric = [any(isinstance(row[i], int | float) for row in rows) for i in range(len(header))]
    head = "".join(
        f'<th class="n">{e(h)}</th>' if numeric[i] else f"<th>{e(h)}</th>"
        for i, h in enumerate(header)
    )
    body = "".join(
        "<tr>"
        + "".join(
            f'<td class="n">{e(_text(v))}</td>' if numeric[i] else f"<td>{e(_text(v))}</td>"
            for i, v in enumerate(row)
        )
        + "</tr>"
        for row in rows
    )
    if not rows:
        body = f'<tr><td colspan="{len(header)}">(none)</td></tr>'
    return f"<h2>{e(title)}</h2><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _svg_timeline(report: Report) -> str:
    """A stacked bar per bucket, one colour per cause, drawn at build time."""
    rows = report.sections["timeline"]
    if not rows:
        return "<p>(no window: nothing to draw)</p>"
    width, height, left, bottom, top = 900, 260, 48, 36, 10
    plot_w, plot_h = width - left - 10, height - bottom - top
    peak = max((r["errors"] for r in rows), default=0) or 1
    slot = plot_w / len(rows)
    bar_w = max(1.0, slot * 0.8)
    out = [
        f'<svg id="timeline" xmlns="http://www.w3.org/2000/svg" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="tagged 5xx per {report.bucket_minutes}-minute bucket, by cause">',
        f'<line x1="{left}" y1="{top + plot_h}" x2="{width - 10}" y2="{top + plot_h}" '
        'stroke="#999"/>',
        f'<text x="{left - 6}" y="{top + 10}" text-anchor="end">{peak:,}</text>',
        f'<text x="{left - 6}" y="{top + plot_h}" text-anchor="end">0</text>',
    ]
    label_every = max(1, len(rows) // 8)
    for i, r in enumerate(rows):
        x = left + i * slot + (slot - bar_w) / 2
        y = top + plot_h
        for cause, n in sorted(r["causes"].items(), key=lambda item: _cause_order(item[0])):
            h = plot_h * n / peak
            y -= h
            out.append(
                f'<rect class="bar" data-cause="{html.escape(cause)}" data-count="{n}" '
                f'x="{x:.1f}" y="{y:.1f}" width="{bar_w:.1f}" height="{h:.1f}" '
                f'fill="{cause_color(cause)}"><title>{r["start"]:%H:%M} {html.escape(cause)}: '
                f"{n:,}</title></rect>"
            )
        if i % label_every == 0:
            out.append(
                f'<text x="{left + i * slot:.1f}" y="{top + plot_h + 16}">{r["start"]:%H:%M}</text>'
            )
    out.append("</svg>")
    seen = sorted({c for r in rows for c in r["causes"]}, key=_cause_order)
    legend = "".join(
        f'<span><i style="background:{cause_color(c)}"></i>{html.escape(c)}</span>' for c in seen
    )
    return "\n".join(out) + f'<div class="legend">{legend}</div>'


def _cause_order(cause: str) -> int:
    return CAUSES.index(cause) if cause in CAUSES else len(CAUSES)
