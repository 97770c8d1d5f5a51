"""The report and the study's status page in a real browser (headless Chromium), at a laptop's width and a
phone's: the page never scrolls sideways (a wide table scrolls inside its own box), and the screenshots are
the widths asked for."""

from __future__ import annotations

import struct
import time
from pathlib import Path

import pytest

from tests.browser import MIN_WINDOW, chromium, screenshot, widths
from tests.conftest import needed
from tests.test_sweep import mixed_folder

pytestmark = pytest.mark.slow  # a browser start per page and width

LAPTOP, PHONE = 1280, 390


@pytest.fixture(autouse=True)
def browser():
    if chromium() is None:
        needed("needs a headless Chromium (Debian: apt-get install chromium)")


def _png_width(path: Path) -> int:
    return struct.unpack(">I", path.read_bytes()[16:20])[0]


@pytest.mark.parametrize("width", [LAPTOP, PHONE])
def test_the_report_fits_the_screen(tmp_path, width):
    from scatnet.report.build import build_report

    mixed_folder(tmp_path / "runs")
    build_report(tmp_path / "runs", tmp_path / "report")
    page = tmp_path / "report" / "report.html"
    assert "<img" in page.read_text() and "not the published recipe" in page.read_text()  # figures and a long cell
    scroll, inner = widths(page, width)
    assert inner == width and scroll <= inner, f"the page scrolls sideways: {scroll} px wide in a {inner} px window"
    assert _png_width(screenshot(page, width, tmp_path / f"report-{width}.png")) == max(width, MIN_WINDOW)


@pytest.mark.parametrize("width", [LAPTOP, PHONE])
def test_the_study_status_page_fits_the_screen(tmp_path, width):
    from scatnet.study.status import status_html

    run = {
        "state": "running",
        "part": "table14",
        "data": "tiny_imagenet",
        "frontend": "dtcwt",
        "epoch": 3,
        "setting": "near_sym_b_bp, symmetric, b=0.001, s2, " + "a long setting " * 6,
        "max_epochs": 45,
        "val_acc": 41.5,
        "test_acc": None,
    }
    status = {
        "study": "thesis",
        "phase": "training",
        "updated": time.strftime("%Y-%m-%d %H:%M:%S"),
        "folder": "/scratch/" + "x" * 80,
        "eta_seconds": 3600.0,
        "runs": [run] * 5,
        "counts": {"done": 0, "running": 5, "failed": 0, "left": 0, "total": 5},
    }
    page = tmp_path / "status.html"
    page.write_text(status_html(status))
    scroll, inner = widths(page, width)
    assert inner == width and scroll <= inner, f"the page scrolls sideways: {scroll} px wide in a {inner} px window"
