"""Text tables of a report: the per-setting summary, Table 1.3 beside the published numbers, and what is
missing from the launched sweeps."""
from __future__ import annotations

import math
from collections import defaultdict

from pathlib import Path

from scatnet.frontends.options import THESIS_DTCWT
from scatnet.report.collect import SETTING, mean_std, variant
from scatnet.report.launched import missing_runs
from scatnet.report.published import TABLE13


def fmt(m: float, s: float | None) -> str:
    """mean ± std; a single run is its number alone (no spread to show)."""
    return f"{m:.2f}" if s is None else f"{m:.2f} ± {s:.2f}"


def markdown(headers: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join("" if v is None else str(v) for v in r) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def summary_table(summary: list[dict], keys: list[str] = ()) -> tuple[list[str], list[list]]:
    """One row per group; ``keys``: the extra config keys the groups differ in (collect.extra_keys)."""
    headers = [*SETTING, *keys, "test acc (mean ± std)", "runs", "mean wall s/run"]
    rows = [[*(s.get(k) for k in SETTING), *(s.get(k) for k in keys), fmt(s["test_acc_mean"], s["test_acc_std"]),
             s["runs"], s["wall_seconds_mean"]] for s in summary]
    return headers, rows


def _is_thesis_setting(r: dict) -> bool:
    if r.get("frontend") != "dtcwt":
        return True
    return (r.get("wavelet") == THESIS_DTCWT["wavelet"] and r.get("padding") == THESIS_DTCWT["padding"]
            and r.get("magbias") is not None and math.isclose(float(r["magbias"]), THESIS_DTCWT["magbias"]))


def table13(rows: list[dict], keys: list[str] = ()) -> tuple[list[str], list[list]]:
    """Measured mean ± std beside the published Table 1.3 number, for every cell with completed runs (one row
    per value of the extra keys the runs differ in); a dataset the thesis did not use (digits) has no number
    to compare with, and says so."""
    acc = defaultdict(list)
    for r in rows:
        if r.get("status") == "completed" and r.get("test_acc") is not None and _is_thesis_setting(r):
            label = r["frontend"] + (" (scatnet fast)" if r.get("impl") == "fast" else "")
            label += f" [{variant(r, keys)}]" if keys else ""
            acc[(r["frontend"], label, r["data"])].append(float(r["test_acc"]))
    headers = ["front end", "data", "measured (mean ± std)", "runs", "published", "difference"]
    out = []
    for (fe, label, data), values in sorted(acc.items()):
        m, s = mean_std(values)
        published = TABLE13.get((fe, data))
        out.append([label, data, fmt(m, s), len(values), "not in the thesis" if published is None else published,
                    "" if published is None else f"{m - published:+.2f}"])
    return headers, out


def missing(rows: list[dict], root: Path) -> list[str]:
    """Plain-language list of what the launched sweeps lack: unfinished runs, and grid points of the sweeps
    under ``root`` (their multirun.yaml) with no completed run."""
    notes = []
    for r in rows:
        if r.get("status") != "completed":
            why = f": {r['reason']}" if r.get("reason") else ""
            notes.append(f"run {r.get('run_name') or r.get('run_dir')} is {r.get('status')}{why}")
    return notes + missing_runs(rows, root)
