"""Where a study stands, from the runs' own records: each run's metrics.json (its status) and progress.json
(its epochs so far, written by training at the end of every epoch). The same state goes to the live view,
to ``status.json`` and to a self-refreshing ``status.html`` in the study folder (watch it from a browser or
over SSH: ``watch cat status.json``)."""

from __future__ import annotations

import html
import json
import statistics
import time
from pathlib import Path
from typing import Any

from scatnet.files import write_text
from scatnet.study.plan import PlannedRun
from scatnet.training.metrics_file import read_metrics

PROGRESS_FILE = "progress.json"
# what a run's record says -> what the study shows; "running" only while the study's own process trains it
DONE, FAILED, RUNNING, LEFT = "done", "failed", "running", "left"


def read_progress(run_dir: Path) -> dict[str, Any]:
    try:
        progress = json.loads((run_dir / PROGRESS_FILE).read_text())
    except (OSError, json.JSONDecodeError):
        return {}
    return progress if isinstance(progress, dict) else {}  # damaged: the next epoch's write replaces it


def run_state(run: PlannedRun, active: bool, failed_here: bool = False) -> dict[str, Any]:
    """One run's line of the status: its state, epochs done, accuracy so far, epoch times measured."""
    m = read_metrics(run.run_dir) or {}
    p = read_progress(run.run_dir)
    if active:
        state = RUNNING
    elif m.get("status") == "completed":
        state = DONE
    elif failed_here:
        state = FAILED  # failed in this launch; a failure recorded by an earlier one is retried, so "left"
    else:
        state = LEFT
    return {
        "name": run.name,
        "part": run.part,
        "data": run.data,
        "frontend": run.frontend,
        "setting": run.setting,
        "state": state,
        "epoch": int(p.get("epoch") or 0),
        "max_epochs": run.max_epochs,
        "val_acc": p.get("val_acc"),
        "test_acc": m.get("test_acc"),
        "epoch_seconds": list(p.get("epoch_seconds") or []),
        "cost": run.cost,
        "reason": m.get("reason") if state == FAILED else None,
        "run_dir": str(run.run_dir),
    }


def eta_seconds(states: list[dict], slots: int) -> float | None:
    """Time left: each unfinished run's remaining epochs at the epoch time measured for its kind (dataset and
    front end), or, before one of its kind has finished an epoch, at the seconds per unit of cost measured
    over all runs; the total shared by the slots. None until some epoch has finished."""
    per_kind: dict[tuple, list[float]] = {}
    per_cost: list[float] = []
    for s in states:
        if s["epoch_seconds"]:
            per_kind.setdefault((s["data"], s["frontend"]), []).extend(s["epoch_seconds"])
            per_cost += [t / (s["cost"] / max(s["max_epochs"], 1)) for t in s["epoch_seconds"]]
    if not per_cost:
        return None
    unit = statistics.median(per_cost)
    left = 0.0
    for s in states:
        if s["state"] in (DONE, FAILED):
            continue
        kind = per_kind.get((s["data"], s["frontend"]))
        epoch = statistics.median(kind) if kind else unit * s["cost"] / max(s["max_epochs"], 1)
        left += max(s["max_epochs"] - s["epoch"], 0) * epoch
    return left / max(slots, 1)


def counts(states: list[dict]) -> dict[str, int]:
    c = {DONE: 0, RUNNING: 0, FAILED: 0, LEFT: 0}
    for s in states:
        c[s["state"]] += 1
    return {**c, "total": len(states)}


def snapshot(name: str, out: Path, states: list[dict], slots: int, started: float, phase: str) -> dict:
    return {
        "study": name,
        "folder": str(out),
        "phase": phase,
        "slots": slots,
        "counts": counts(states),
        "eta_seconds": eta_seconds(states, slots),
        "elapsed_seconds": round(time.time() - started, 1),
        "updated": time.strftime("%Y-%m-%d %H:%M:%S"),
        "runs": states,
    }


def write_status(out: Path, status: dict) -> None:
    """status.json and status.html, each written whole (beside, then renamed): a reader never sees half."""
    write_text(out / "status.json", json.dumps(status, indent=1) + "\n")
    write_text(out / "status.html", status_html(status))


def fmt_seconds(s: float | None) -> str:
    if s is None:
        return "after the first epoch"
    s = int(s)
    return f"{s // 3600}h{s % 3600 // 60:02d}m" if s >= 3600 else f"{s // 60}m{s % 60:02d}s"


def headline(status: dict) -> str:
    c = status["counts"]
    return (
        f"scatnet-study {status['study']}: {c[DONE]}/{c['total']} done, {c[RUNNING]} running, "
        f"{c[FAILED]} failed, {c[LEFT]} left; ETA {fmt_seconds(status['eta_seconds'])}"
    )


def running_line(s: dict) -> str:
    acc = "" if s["val_acc"] is None else f", val acc {s['val_acc']:.2f}%"
    return f"{s['data']} {s['frontend']} ({s['setting']}): epoch {s['epoch']}/{s['max_epochs']}{acc}"


def _pct(value) -> str:
    return "" if value is None else f"{value:.2f}"


def status_html(status: dict) -> str:
    """The status as a page that refreshes itself every 5 s until the study finishes (the report's style)."""
    from scatnet.report.html import HEAD, STYLE, table_html

    runs = sorted(status["runs"], key=lambda s: (s["state"] != RUNNING, s["state"]))
    rows = [
        [
            s["state"],
            s["part"],
            s["data"],
            s["frontend"],
            s["setting"],
            f"{s['epoch']}/{s['max_epochs']}",
            _pct(s["val_acc"]),
            _pct(s["test_acc"]),
        ]
        for s in runs
    ]
    headers = ["state", "part", "data", "front end", "setting", "epoch", "val acc", "test acc"]
    refresh = "" if status["phase"] == "finished" else "<meta http-equiv='refresh' content='5'>"
    return (
        f"<!doctype html><html><head>{HEAD}{refresh}<title>{html.escape(status['study'])}</title>"
        f"<style>{STYLE}</style></head><body><h1>{html.escape(headline(status))}</h1>"
        f"<p>{html.escape(status['phase'])}; updated {html.escape(status['updated'])}; "
        f"{html.escape(status['folder'])}</p>{table_html(headers, rows)}</body></html>\n"
    )
    refresh = "" if status["phase"] == "finished" else "<meta http-equiv='refresh' content='5'>"
    return (
        f"<!doctype html><html><head><meta charset='utf-8'>{refresh}<title>{html.escape(status['study'])}"
        f"</title><style>body{{font-family:system-ui,sans-serif;margin:2em}}td,th{{border:1px solid #ccc;"
        f"padding:3px 8px}}table{{border-collapse:collapse}}</style></head><body>"
        f"<h1>{html.escape(headline(status))}</h1><p>{html.escape(status['phase'])}; updated "
        f"{html.escape(status['updated'])}; {html.escape(status['folder'])}</p><table><tr><th>state</th>"
        "<th>part</th><th>data</th><th>front end</th><th>setting</th><th>epoch</th><th>val acc</th>"
        f"<th>test acc</th></tr>{rows}</table></body></html>\n"
    )
