"""The HTML report in a real headless browser: the page loads with nothing
from the network, and the timeline chart is drawn with the data's bars."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from PIL import Image, ImageChops
from report_lake import HOUR, incident_rows, write_object

from alb502.report import baseline_of, build
from alb502.report_render import cause_color, render_html

pytestmark = pytest.mark.slow

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None,
    reason="chromium is not installed: 'make chromium' installs Debian's package "
    "(apt-get install chromium) to run the HTML report's browser test",
)


def _rgb(css: str) -> tuple[int, int, int]:
    return int(css[1:3], 16), int(css[3:5], 16), int(css[5:7], 16)


def _browser(*args: str) -> subprocess.CompletedProcess[str]:
    assert CHROMIUM is not None
    return subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",  # tests may run as root (CI containers)
            "--disable-gpu",
            "--hide-scrollbars",
            "--no-first-run",
            # Any request beyond the file itself fails: the page must not need one.
            "--host-resolver-rules=MAP * ~NOTFOUND",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("html")
    write_object(root / "lake", "obj", incident_rows())
    path = root / "report.html"
    path.write_text(render_html(build(root / "lake", window=HOUR, baseline=baseline_of(HOUR))))
    return path


@needs_chromium
def test_the_timeline_chart_renders_with_data(page: Path) -> None:
    shot = page.with_suffix(".png")
    _browser("--window-size=1000,800", f"--screenshot={shot}", page.as_uri())
    image = Image.open(shot).convert("RGB")

    def drawn(color: tuple[int, int, int]) -> tuple[int, int, int, int] | None:
        """The bounding box of the pixels of ``color`` (within rounding)."""
        masks = [
            channel.point(lambda v, want=want: 255 if abs(v - want) <= 3 else 0)
            for channel, want in zip(image.split(), color, strict=True)
        ]
        return ImageChops.multiply(ImageChops.multiply(masks[0], masks[1]), masks[2]).getbbox()

    # The busiest bucket (5 target_restarting) is the chart's full height
    # (214 px); every other cause of the hour has a visible bar of its colour.
    restarting = drawn(_rgb(cause_color("target_restarting")))
    assert restarting is not None, "no target_restarting bar was drawn"
    assert restarting[3] - restarting[1] >= 180
    for cause in ("target_closed_keepalive", "target_app_error", "no_targets", "waf_error"):
        assert drawn(_rgb(cause_color(cause))) is not None, f"no {cause} bar was drawn"


@needs_chromium
def test_the_dom_holds_one_bar_per_bucket_and_cause(page: Path) -> None:
    dom = _browser("--dump-dom", page.as_uri()).stdout
    bars = re.findall(r'<rect class="bar" data-cause="(\w+)" data-count="(\d+)"', dom)
    assert sum(int(n) for _cause, n in bars) == 15
    assert ("target_restarting", "5") in bars
    assert "What to do" in dom and "Targets" in dom
