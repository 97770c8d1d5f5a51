"""A page as a real browser lays it out: headless Chromium (Debian's ``chromium``), after the page has loaded
(its images included), in a frame of the width asked for (a frame, since headless Chromium's window is at
least 500 px wide, wider than a phone). No WebDriver: a wrapper page writes the framed page's widths into
its own title once the frame has loaded, and Chromium's ``--dump-dom`` prints the document."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

MIN_WINDOW = 500  # headless Chromium's narrowest window


def chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


def _framed(page: Path, width: int) -> Path:
    """A copy of ``page`` (without a self-refresh) in a frame ``width`` px wide, beside it."""
    copy = page.with_name(f".framed-{page.name}")
    copy.write_text(re.sub(r"<meta http-equiv='refresh'[^>]*>", "", page.read_text()))
    wrapper = page.with_name(f".frame-{width}-{page.name}")
    wrapper.write_text(
        f"<!doctype html><html><body style='margin:0'><iframe id='f' src='{copy.name}' "
        f"style='width:{width}px;height:2000px;border:0'></iframe><script>"
        "document.getElementById('f').addEventListener('load', e => {const w = e.target.contentWindow;"
        "document.title = 'W' + w.document.documentElement.scrollWidth + '/' + w.innerWidth;});"
        "</script></body></html>"
    )
    return wrapper


def _chromium(args: list[str], width: int, height: int) -> subprocess.CompletedProcess:
    cmd = [
        chromium(),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--hide-scrollbars",
        "--no-first-run",
        "--allow-file-access-from-files",
        "--virtual-time-budget=5000",
        f"--window-size={max(width, MIN_WINDOW)},{height}",
        *args,
    ]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120)


def widths(page: Path, width: int) -> tuple[int, int]:
    """(the page's scroll width, its viewport's width) in a frame ``width`` px wide: the page scrolls
    sideways exactly when the first is larger."""
    out = _chromium(["--dump-dom", _framed(page, width).as_uri()], width, 900)
    found = re.search(r"<title>W(\d+)/(\d+)</title>", out.stdout)
    assert found, f"chromium printed no page: {out.stderr[-1500:]}"
    return int(found.group(1)), int(found.group(2))


def screenshot(page: Path, width: int, png: Path, height: int = 2000) -> Path:
    """The page's first ``height`` px in a frame ``width`` px wide, as a PNG (at least MIN_WINDOW wide)."""
    out = _chromium([f"--screenshot={png}", _framed(page, width).as_uri()], width, height)
    assert png.exists(), f"chromium wrote no screenshot: {out.stderr[-1500:]}"
    return png
