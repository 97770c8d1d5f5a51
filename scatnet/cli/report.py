"""scatnet-report DIR: results.csv, summary, Figure 1.2 heatmaps, Table 1.3 vs published, report.html."""

from __future__ import annotations

from pathlib import Path

from scatnet.cli.common import OneLineParser, fail, report_error, start_command, stopped_by_signals
from scatnet.errors import ScatnetError
from scatnet.report.build import build_report


def parser() -> OneLineParser:
    ap = OneLineParser(prog="scatnet-report", description=__doc__)
    ap.add_argument("root", type=Path, help="a sweep or outputs directory (searched recursively for metrics.json)")
    ap.add_argument("--out", type=Path, default=None, help="where to write the report (default: <root>/report)")
    return ap


def main(argv: list[str] | None = None) -> None:
    start_command()
    a = parser().parse_args(argv)
    if not a.root.is_dir():
        fail(f"{a.root} is not a directory; give the sweep or outputs directory that holds the runs")
    with stopped_by_signals("no report file is half-written"):
        try:
            res = build_report(a.root, a.out or a.root / "report")
        except ScatnetError as e:
            report_error(e)
    done = sum(r.get("status") == "completed" for r in res["rows"])
    print(
        f"scatnet-report: {done}/{len(res['rows'])} runs completed, {len(res['summary'])} settings, "
        f"{len([f for f in res['figures'] if f.name.startswith('figure12') and f.suffix == '.png'])} heatmaps -> "
        f"{res['out'] / 'report.html'}"
    )
    for g in res["missing"][:20]:
        print(f"  missing: {g}")
    if len(res["missing"]) > 20:
        print(f"  ... and {len(res['missing']) - 20} more (see report.html)")


if __name__ == "__main__":
    main()
