"""Text tables of a report: the per-setting summary, Table 1.3 beside the published numbers, and what is
missing from a partial sweep."""
from __future__ import annotations

import math
from collections import defaultdict

from scatnet.report.collect import mean_std
from scatnet.report.figures import grid_cells
from scatnet.report.published import MAGBIASES, PADDINGS, TABLE13, THESIS_DTCWT, WAVELETS


def fmt(m: float, s: float) -> str:
    return f"{m:.2f} ± {s:.2f}"


def markdown(headers: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join("" if v is None else str(v) for v in r) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def summary_table(summary: list[dict]) -> tuple[list[str], list[list]]:
    headers = ["data", "frontend", "impl", "wavelet", "padding", "magbias", "L", "test acc (mean ± std)", "runs",
               "mean wall s/run"]
    rows = [[s["data"], s["frontend"], s.get("impl"), s.get("wavelet"), s.get("padding"), s.get("magbias"), s.get("L"),
             fmt(s["test_acc_mean"], s["test_acc_std"]), s["runs"], s["wall_seconds_mean"]] for s in summary]
    return headers, rows


def _is_thesis_setting(r: dict) -> bool:
    if r.get("frontend") != "dtcwt":
        return True
    return (r.get("wavelet") == THESIS_DTCWT["wavelet"] and r.get("padding") == THESIS_DTCWT["padding"]
            and r.get("magbias") is not None and math.isclose(float(r["magbias"]), THESIS_DTCWT["magbias"]))


def table13(rows: list[dict]) -> tuple[list[str], list[list]]:
    """Measured mean ± std beside the published Table 1.3 number, for every cell with completed runs."""
    acc = defaultdict(list)
    for r in rows:
        if r.get("status") == "completed" and r.get("test_acc") is not None and _is_thesis_setting(r):
            label = r["frontend"] + (" (scatnet fast)" if r.get("impl") == "fast" else "")
            acc[(r["frontend"], label, r["data"])].append(float(r["test_acc"]))
    headers = ["front end", "data", "measured (mean ± std)", "runs", "published", "difference"]
    out = []
    for (fe, label, data), values in sorted(acc.items()):
        if (fe, data) in TABLE13:
            m, s = mean_std(values)
            out.append([label, data, fmt(m, s), len(values), TABLE13[(fe, data)], f"{m - TABLE13[(fe, data)]:+.2f}"])
    return headers, out


def missing(rows: list[dict], summary: list[dict]) -> list[str]:
    """Plain-language list of what a partial sweep lacks: unfinished runs and empty or thin grid cells."""
    notes = []
    for r in rows:
        if r.get("status") != "completed":
            why = f": {r['reason']}" if r.get("reason") else ""
            notes.append(f"run {r.get('run_name') or r.get('run_dir')} is {r.get('status')}{why}")
    for data, impl in sorted({(s["data"], s.get("impl") or "reference") for s in summary}):
        cells = grid_cells(summary, data, impl)
        if not cells:
            continue
        data = data if impl == "reference" else f"{data} ({impl} DTCWT)"
        seeds = set().union(*(set(c["seeds"]) for c in cells.values()))
        for w in WAVELETS:
            for p in PADDINGS:
                for b in MAGBIASES:
                    c = cells.get((w, p, b))
                    if c is None:
                        notes.append(f"{data}: no completed run for {w}, {p}, b={b:g}")
                    elif len(c["seeds"]) < len(seeds):
                        lack = sorted(seeds - set(c["seeds"]))
                        notes.append(f"{data}: {w}, {p}, b={b:g} lacks seeds {lack}")
    return notes
