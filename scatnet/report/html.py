"""A static report.html: tables and figures inline (images as data URIs), so it opens offline anywhere."""

from __future__ import annotations

import base64
import html
from pathlib import Path

from scatnet.files import write_text

# A table wider than the screen (a phone's) scrolls inside its own box; the page itself never scrolls sideways.
STYLE = """body{font-family:system-ui,sans-serif;margin:2em auto;padding:0 1em;max-width:1200px;
overflow-wrap:break-word}.table{overflow-x:auto;margin:1em 0}table{border-collapse:collapse}
td,th{border:1px solid #ccc;padding:4px 8px;text-align:left;overflow-wrap:normal}th{background:#f3f3f3}
img{max-width:100%;height:auto}.warn{background:#fff4e0;border:1px solid #f0c070;padding:.5em 1em}"""
HEAD = "<meta charset='utf-8'><meta name='viewport' content='width=device-width, initial-scale=1'>"


def table_html(headers: list[str], rows: list[list]) -> str:
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape('' if v is None else str(v))}</td>" for v in r) + "</tr>" for r in rows
    )
    return f"<div class='table'><table><tr>{head}</tr>{body}</table></div>"


def markdown_html(text: str) -> str:
    """The bench's markdown (headings, pipe tables, paragraphs) as HTML: each table a real table that wraps to
    the page (by hand: the report has no markdown library, and these files use three constructs)."""
    out, table = [], []

    def flush() -> None:
        if table:
            cells = [[c.strip() for c in line.strip().strip("|").split("|")] for line in table]
            out.append(table_html(cells[0], [r for r in cells[1:] if not all(set(c) <= set("-:") for c in r)]))
            table.clear()

    for line in text.splitlines():
        if line.startswith("|"):
            table.append(line)
            continue
        flush()
        if line.startswith("#"):
            level = min(6, len(line) - len(line.lstrip("#")) + 2)
            out.append(f"<h{level}>{html.escape(line.lstrip('#').strip())}</h{level}>")
        elif line.strip():
            out.append(f"<p>{html.escape(line.strip().strip('*'))}</p>")
    flush()
    return "".join(out)


def image_html(path: Path) -> str:
    data = base64.b64encode(Path(path).read_bytes()).decode()
    return f'<p><img alt="{html.escape(Path(path).name)}" src="data:image/png;base64,{data}"></p>'


def write_report(path: Path, title: str, sections: list[tuple[str, str]]) -> Path:
    parts = [
        f"<!doctype html><html><head>{HEAD}<title>{html.escape(title)}</title>",
        f"<style>{STYLE}</style></head><body><h1>{html.escape(title)}</h1>",
    ]
    for heading, content in sections:
        parts.append(f"<h2>{html.escape(heading)}</h2>{content}")
    parts.append("</body></html>")
    return write_text(path, "\n".join(parts))
