"""Text tables of a report: the per-setting summary, Table 1.3 beside the published numbers, and what is
missing from the launched sweeps."""

from __future__ import annotations

import math
from collections import defaultdict
from pathlib import Path

from scatnet.frontends.options import THESIS_DTCWT
from scatnet.report.collect import SETTING, mean_std, variant
from scatnet.report.launched import missing_runs
from scatnet.report.published import LEARNABLE_TABLE3, LEARNABLE_TABLE3_ARCH, LEARNABLE_TINY_IMAGENET_DRAFT, TABLE13
from scatnet.report.recipe import recipe_gaps


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
    rows = [
        [
            *(s.get(k) for k in SETTING),
            *(s.get(k) for k in keys),
            fmt(s["test_acc_mean"], s["test_acc_std"]),
            s["runs"],
            s["wall_seconds_mean"],
        ]
        for s in summary
    ]
    return headers, rows


def _is_thesis_setting(r: dict) -> bool:
    """The DTCWT setting the published tables used (Table 1.3; the Learnable ScatterNet's defaults too)."""
    if r.get("frontend") != "dtcwt" and not is_learnable_scatternet(r):
        return True
    return (
        r.get("wavelet") == THESIS_DTCWT["wavelet"]
        and r.get("padding") == THESIS_DTCWT["padding"]
        and r.get("magbias") is not None
        and math.isclose(float(r["magbias"]), THESIS_DTCWT["magbias"])
    )


IMPL_LABELS = {"fast": "scatnet fast", "reference": "pytorch_wavelets"}


def is_learnable_scatternet(row: dict) -> bool:
    """Whether a run's front end is a Learnable ScatterNet (by its config's target, whatever its name)."""
    target = (row.get("settings") or {}).get("frontend._target_")
    return (
        target == "scatnet.frontends.LearnableScatterNet"
        if target
        else str(row.get("frontend")).startswith("learnable")
    )


def _published_cells(rows: list[dict], keys: list[str], learnable: bool) -> dict[tuple, list[dict]]:
    """Completed runs by (front end, label, data): the Learnable ScatterNet's, or all others."""
    acc = defaultdict(list)
    for r in rows:
        if is_learnable_scatternet(r) != learnable or r.get("status") != "completed" or r.get("test_acc") is None:
            continue
        if _is_thesis_setting(r):
            fe = r["frontend"]
            # each implementation apart: the suffix names the one that is not the front end's default
            other = "reference" if learnable else "fast"
            label = fe + (f" ({IMPL_LABELS[other]})" if r.get("impl") == other else "")
            label += f" [{variant(r, keys)}]" if keys else ""
            acc[(fe, label, r["data"])].append(r)
    return acc


def _beside(cells: dict, published: dict, absent: str, marks: dict | None = None) -> tuple[list[str], list[list]]:
    """Each cell's measured mean ± std beside its published number (``marks``: a note after some of them); the
    difference only where the runs followed the published recipe, else what differs."""
    headers = ["front end", "data", "measured (mean ± std)", "runs", "published", "difference"]
    out = []
    for (fe, label, data), runs in sorted(cells.items()):
        m, s = mean_std([float(r["test_acc"]) for r in runs])
        p = published.get((fe, data))
        mark = (marks or {}).get((fe, data), "")
        gaps = list(dict.fromkeys(g for r in runs for g in recipe_gaps(r, fe, data))) if p is not None else []
        difference = "" if p is None else (f"not the published recipe: {', '.join(gaps)}" if gaps else f"{m - p:+.2f}")
        out.append([label, data, fmt(m, s), len(runs), absent if p is None else f"{p}{mark}", difference])
    return headers, out


def table13(rows: list[dict], keys: list[str] = ()) -> tuple[list[str], list[list]]:
    """Measured mean ± std beside the published Table 1.3 number, for every cell with completed runs (one row
    per value of the extra keys the runs differ in); a dataset the thesis did not use (digits) has no number
    to compare with, and says so."""
    return _beside(_published_cells(rows, keys, learnable=False), TABLE13, "not in the thesis")


def learnable_table3(rows: list[dict], keys: list[str] = ()) -> tuple[list[str], list[list]]:
    """The Learnable ScatterNet's ScatNets A-D (frontend=learnable*) beside its paper's Table 3 (Tiny ImageNet:
    the draft's numbers, marked), with each network's trainable parameters beside the table's."""
    cells = _published_cells(rows, keys, learnable=True)
    marks = {cell: " (draft)" for cell in LEARNABLE_TINY_IMAGENET_DRAFT}
    headers, out = _beside(
        cells, {**LEARNABLE_TABLE3, **LEARNABLE_TINY_IMAGENET_DRAFT}, "not in the paper's Table 3", marks
    )
    for row, ((fe, _, _), runs) in zip(out, sorted(cells.items())):
        counts = sorted({r["parameters"] for r in runs if r.get("parameters")})
        here = "/".join(f"{c / 1e6:.2f}M" for c in counts) or "not recorded"
        table = LEARNABLE_TABLE3_ARCH.get(fe)
        row.append(f"{here} (Table 3: {table['params_m']}M)" if table else here)
    return [*headers, "parameters"], out


def missing(rows: list[dict], root: Path) -> list[str]:
    """Plain-language list of what the launched sweeps lack: unfinished runs, and grid points of the sweeps
    under ``root`` (their multirun.yaml) with no completed run."""
    notes = []
    for r in rows:
        if r.get("status") != "completed":
            why = f": {r['reason']}" if r.get("reason") else ""
            notes.append(f"run {r.get('run_name') or r.get('run_dir')} is {r.get('status')}{why}")
    return notes + missing_runs(rows, root)
