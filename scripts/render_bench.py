"""Renders the benchmark tables in the README and the notes from the bench's own JSON files (docs/bench/), so
that no measured figure is typed by hand. A table is a block between two markers naming its source and size:

    <!-- bench: docs/bench/2026-12-06_intel-xeon-avx512_cpu.json 128x3x32x32 -->
    ...the table scatnet-bench printed for that size, rendered here...
    <!-- /bench -->

    python scripts/render_bench.py           # rewrite every such block in README.md and docs/*.md
    python scripts/render_bench.py --check   # exit 1, naming the file, if a block is not its JSON's table
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

from scatnet.bench.output import table12

REPO = Path(__file__).resolve().parents[1]
BLOCK = re.compile(r"(<!-- bench: (\S+) (\S+) -->\n)(.*?)(<!-- /bench -->)", re.S)


def size_table(result: dict, size: str) -> str:
    """The markdown table scatnet-bench printed for the front ends at ``size`` (e.g. 128x3x32x32)."""
    text = table12(result)
    section = re.search(rf"## Front ends, \w+ {re.escape(size)} .*?\n\n(\|.*?)\n\n", text, re.S)
    if section is None:
        raise SystemExit(f"render_bench: no {size} front-end table in that run")
    return section.group(1) + "\n"


def render(text: str) -> str:
    def table(m: re.Match) -> str:
        result = json.loads((REPO / m.group(2)).read_text())
        return m.group(1) + "\n" + size_table(result, m.group(3)) + "\n" + m.group(5)

    return BLOCK.sub(table, text)


def documents() -> list[Path]:
    return [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--check", action="store_true", help="only check; exit 1 if a block is out of date")
    args = ap.parse_args(argv)
    stale = []
    for path in documents():
        text = path.read_text()
        new = render(text)
        if new != text:
            stale.append(path)
            if not args.check:
                path.write_text(new)
    for path in stale:
        print(f"render_bench: {path.relative_to(REPO)} {'is out of date' if args.check else 'rewritten'}")
    return 1 if stale and args.check else 0


if __name__ == "__main__":
    sys.exit(main())
