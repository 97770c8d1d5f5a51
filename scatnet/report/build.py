"""A report of the runs under a folder: results.csv, the summary over seeds, Figure 1.2 heatmaps, learning
curves, the published tables beside the measured numbers, and report.html. Raises, never exits: the command
(scatnet-report) and the study say what went wrong."""

from __future__ import annotations

import html
from pathlib import Path

from scatnet.errors import ConfigError
from scatnet.files import check_output_folder, write_text
from scatnet.report.collect import ROW_FIELDS, collect, extra_keys, summarise, write_csv
from scatnet.report.figures import heatmap, learning_curves
from scatnet.report.html import image_html, table_html, write_report
from scatnet.report.published import DRAFT_NOTE, LEARNABLE_PARAMS_NOTES
from scatnet.report.tables import learnable_table3, markdown, missing, summary_table, table13


def build_report(
    root: Path, out: Path, title: str = "scatnet report", first_sections: list[tuple[str, str]] = ()
) -> dict:
    """Every table, figure and report.html of the runs under ``root``, written to ``out``."""
    rows = collect(root)
    if not rows:
        raise ConfigError(
            f"no metrics.json under {root}: nothing to report. Run a sweep first, e.g. "
            "`scatnet-train -m sweep=table14 data=cifar10`, then point scatnet-report at its outputs"
        )
    check_output_folder(out, "the report's folder")
    keys = extra_keys(rows)  # what else differs between runs of one setting: columns, never averaged over
    for r in rows:
        r.update({k: (r.get("settings") or {}).get(k) for k in keys})
    summary = summarise(rows, keys)
    write_csv(rows, out / "results.csv", fields=(*ROW_FIELDS, *keys))
    headers, srows = summary_table(summary, keys)
    write_csv([dict(zip(headers, r)) for r in srows], out / "summary.csv", fields=headers)
    write_text(out / "summary.md", markdown(headers, srows))
    t13_headers, t13_rows = table13(rows, keys)
    write_text(out / "table13.md", markdown(t13_headers, t13_rows))
    t3_headers, t3_rows = learnable_table3(rows, keys)
    if t3_rows:
        write_text(out / "learnable_table3.md", markdown(t3_headers, t3_rows))
    gaps = missing(rows, root)

    figures, curves = [], []
    for data in sorted({s["data"] for s in summary}):
        variants = list(dict.fromkeys(s["variant"] for s in summary if s["data"] == data))
        for impl in ("reference", "fast"):
            for number, v in enumerate(variants):
                figures += heatmap(summary, data, out, impl, v, number)
        curves += learning_curves(summary, data, out)
    pngs = [p for p in figures if p.suffix == ".png"]
    completed = sum(r.get("status") == "completed" for r in rows)
    sections = [
        *first_sections,
        (
            "Runs",
            f"<p>{completed} of {len(rows)} runs completed, from {html.escape(str(root))}."
            + (
                f" Besides the setting, the runs differ in {html.escape(', '.join(keys))}: each value is its own group."
                if keys
                else ""
            )
            + "</p>",
        ),
    ]
    if gaps:
        items = "".join(f"<li>{html.escape(g)}</li>" for g in gaps)
        sections.append(("Missing or incomplete", f"<div class='warn'><ul>{items}</ul></div>"))
    if curves:
        sections.append(("Learning curves", "".join(image_html(p) for p in curves)))
    if t13_rows:
        sections.append(("Table 1.3: measured vs published", table_html(t13_headers, t13_rows)))
    if t3_rows:
        notes = [f"ScatNet {fe[-1].upper()}: {note}" for fe, note in LEARNABLE_PARAMS_NOTES.items()]
        if any("(draft)" in str(r[4]) for r in t3_rows):
            notes.append(DRAFT_NOTE)
        sections.append(
            (
                "Learnable ScatterNet, Table 3: measured vs published",
                table_html(t3_headers, t3_rows) + "".join(f"<p>{html.escape(n)}</p>" for n in notes),
            )
        )
    sections.append(
        (
            "Figure 1.2: DTCWT grid",
            "".join(image_html(p) for p in pngs) or "<p>No DTCWT grid runs completed yet: no heatmap.</p>",
        )
    )
    sections.append(("Summary over seeds", table_html(headers, srows) if srows else "<p>No completed runs.</p>"))
    write_report(out / "report.html", title, sections)  # last: once all it shows is written
    return {"rows": rows, "summary": summary, "figures": figures + curves, "missing": gaps, "out": out}
