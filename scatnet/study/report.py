"""The study's report: the sweeps' report (each table beside the published numbers, the heatmaps, the
learning curves) over all the study's runs, with the benchmark's Table 1.2 and the time each part took."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

from scatnet.report.html import markdown_html, table_html
from scatnet.report.tables import markdown
from scatnet.study.plan import PlannedRun
from scatnet.training.metrics_file import read_metrics


def hours_per_part(runs: list[PlannedRun], gpus: int, runs_per_gpu: int) -> tuple[list[str], list[list]]:
    """Per part: runs completed, the runs' summed wall time, and the device time it amounts to when
    ``runs_per_gpu`` runs share a GPU (on a CPU-only machine, the summed wall time). A run two parts share
    is counted in the first."""
    done, seconds = defaultdict(int), defaultdict(float)
    total = defaultdict(int)
    for r in runs:
        total[r.part] += 1
        m = read_metrics(r.run_dir) or {}
        seconds[r.part] += float(m.get("wall_seconds") or 0.0)
        done[r.part] += m.get("status") == "completed"
    share = runs_per_gpu if gpus else 1
    rows = [
        [part, f"{done[part]}/{total[part]}", f"{seconds[part] / 3600:.3f}", f"{seconds[part] / 3600 / share:.3f}"]
        for part in total
    ]
    return [
        "part",
        "runs completed",
        "run-hours (summed wall time)",
        "GPU-hours" if gpus else "machine-hours (one run at a time)",
    ], rows


def bench_section(bench_dir: Path) -> str:
    table = bench_dir / "table12.md"
    if not table.exists():
        return "<p>No benchmark in this study (study.bench: null), or it has not run yet.</p>"
    return markdown_html(table.read_text())


def write_study_report(out: Path, runs: list[PlannedRun], gpus: int, runs_per_gpu: int) -> Path:
    from scatnet.report.build import build_report

    headers, rows = hours_per_part(runs, gpus, runs_per_gpu)
    (out / "hours.md").write_text(markdown(headers, rows))
    extra = [
        ("Time per part", table_html(headers, rows)),
        ("Table 1.2: the benchmark on this machine", bench_section(out / "bench")),
    ]
    result = build_report(out / "runs", out, title=f"scatnet study: {out.name}", first_sections=extra)
    (out / "report.json").write_text(
        json.dumps({"hours": dict(zip((r[0] for r in rows), rows)), "missing": result["missing"]}, indent=1) + "\n"
    )
    return out / "report.html"
