"""Benchmark outputs: JSON (every figure + environment), a markdown table in the layout of thesis Table 1.2
with ratios against kymatio, a bar chart, and the per-row comparison of two runs."""

from __future__ import annotations

import json
from pathlib import Path

from scatnet.bench.cases import DENSE_ROW_NOTE, DENSE_ROW_SUFFIX, REFERENCE_STEP_SUFFIX
from scatnet.bench.machine import one_line
from scatnet.files import replacing, write_text
from scatnet.report.tables import markdown

KYMATIO_ROW = "KyMatIO Morlet L=8"


def reference_row(name: str) -> str | None:
    """The row a scatnet row is timed against: the library computing the same transform (kymatio for the
    Morlet rows, pytorch_wavelets for the DTCWT ones)."""
    if "[scatnet fast" not in name:  # [scatnet fast] and [scatnet fast, dense]
        return None
    base = name.split(" [")[0]
    return "KyMatIO " + base if base.startswith("Morlet") else base + " [pytorch_wavelets]"


def add_ratios(rows: list[dict]) -> None:
    """Speed-up of each row against kymatio L=8 and against its reference library's row, same size/device."""
    by_key = {(r["size"], r["name"]): r for r in rows}
    for r in rows:
        ky = by_key.get((r["size"], KYMATIO_ROW))
        if ky:
            r["fwd_speedup_vs_kymatio"] = ky["fwd_ms"] / r["fwd_ms"]
            r["bwd_speedup_vs_kymatio"] = ky["bwd_ms"] / r["bwd_ms"]
            r["mem_fraction_of_kymatio"] = r["mem_bytes"] / ky["mem_bytes"] if ky["mem_bytes"] else None
        twin = by_key.get((r["size"], reference_row(r["name"])))
        if twin:
            r["fwd_speedup_vs_reference"] = twin["fwd_ms"] / r["fwd_ms"]
            r["fwd_bwd_speedup_vs_reference"] = (twin["fwd_ms"] + twin["bwd_ms"]) / (r["fwd_ms"] + r["bwd_ms"])


def add_step_ratios(rows: list[dict]) -> None:
    """Each scatnet step row's speed-up against the same network on pytorch_wavelets' ScatLayers (same device and
    speed options), where the run has both."""
    key = ("device", "compile", "cuda_graph")
    by_key = {(*(r.get(k) for k in key), r["frontend"]): r for r in rows}
    for r in rows:
        twin = by_key.get((*(r.get(k) for k in key), r["frontend"] + REFERENCE_STEP_SUFFIX))
        if twin:
            r["step_speedup_vs_reference"] = twin["step_ms"] / r["step_ms"]


def _x(v) -> str:
    return "" if v is None else f"{v:.2f}x"


def _morlet_cpu_steps(env: dict) -> str:
    """The header's word on the fast Morlet's CPU steps where they ran a slower way than they can."""
    if env.get("morlet_cpu_loops") is False:
        return "; fast Morlet CPU steps: eager (no C compiler)"
    if env.get("morlet_cpu_loop_ffts") is False:
        return "; fast Morlet CPU loops: FFTs apart (PyTorch without MKL)"
    return ""


def table12(result: dict) -> str:
    env = result["environment"]
    out = (
        []
        if result.get("status", "completed") == "completed"
        else [
            f"**UNFINISHED ({result.get('reason') or result['status']}): only the rows below were measured; "
            "ratios against rows that are missing are blank.**\n\n"
        ]
    )
    out += [
        f"# scatnet-bench on {env['device_name']} ({env['device']}; torch {env['torch']}; "
        f"{env['threads']} CPU threads; {env['dtype']}"
        f"{'; huge-page CPU allocations' if env.get('thp_alloc') else ''}"
        f"{'; freed CPU memory kept for reuse' if env.get('keeps_freed_memory') else ''}"
        f"{_morlet_cpu_steps(env)})\n"
    ]
    if env.get("machine"):
        out.append(f"\nMachine: {one_line(env['machine'])}.\n")
    regimes = [
        f"{dev}: front end {p['frontend']}, body {p['body']}, cudnn.benchmark {'on' if p['cudnn_benchmark'] else 'off'}"
        for dev, s in result["settings"]["per_device"].items()
        if (p := s.get("precision"))
    ]
    if regimes:
        out.append(f"\nPrecision, as in training: {'; '.join(regimes)}.\n")
    for size in dict.fromkeys(r["size"] for r in result["frontends"]):
        rows = [r for r in result["frontends"] if r["size"] == size]
        out.append(
            f"\n## Front ends, {size} (median of {rows[0]['repeats']}; fwd/bwd ms, backward = gradient "
            "w.r.t. the input; a scatnet row's reference: kymatio with the same L, or pytorch_wavelets)\n\n"
        )
        headers = [
            "package",
            "fwd ms",
            "bwd ms",
            "memory for bwd MiB",
            "fwd vs kymatio",
            "bwd vs kymatio",
            "fwd vs reference",
            "fwd+bwd vs reference",
            "max |err| vs reference",
        ]
        out.append(
            markdown(
                headers,
                [
                    [
                        r["name"],
                        f"{r['fwd_ms']:.2f}",
                        f"{r['bwd_ms']:.2f}",
                        f"{r['mem_bytes'] / 2**20:.1f}",
                        _x(r.get("fwd_speedup_vs_kymatio")),
                        _x(r.get("bwd_speedup_vs_kymatio")),
                        _x(r.get("fwd_speedup_vs_reference")),
                        _x(r.get("fwd_bwd_speedup_vs_reference")),
                        f"{r['max_abs_err']:.1e}",
                    ]
                    for r in rows
                ],
            )
        )
    if any(r["name"].endswith(DENSE_ROW_SUFFIX) for r in result["frontends"]):
        out.append(f"\n{DENSE_ROW_NOTE}\n")
    if result.get("training"):
        s = result["settings"]
        out.append(
            f"\n## One training step of each hybrid (batch {s['step_batch']}, {s['step_size']}x{s['step_size']},"
            f" width {s['width']}, SGD step included)\n\n"
        )
        add_step_ratios(result["training"])
        out.append(
            markdown(
                [
                    "device",
                    "front end",
                    "step ms",
                    "images/s",
                    "front end ms (of which bwd)",
                    "front end share",
                    "step vs pytorch_wavelets",
                    "bf16 body",
                    "channels_last",
                    "compile",
                    "CUDA graph",
                ],
                [
                    [
                        r["device"],
                        r["frontend"],
                        f"{r['step_ms']:.2f}",
                        f"{r['images_per_second']:,.0f}",
                        f"{r['frontend_ms']:.2f}"
                        + (f" ({r['frontend_bwd_ms']:.2f})" if r.get("frontend_bwd_ms") else ""),
                        f"{100 * r['frontend_share']:.0f}%",
                        _x(r.get("step_speedup_vs_reference")),
                        r["bf16"],
                        r["channels_last"],
                        r.get("compile") or "-",
                        "yes" if r.get("cuda_graph") else "-",
                    ]
                    for r in result["training"]
                ],
            )
        )
        if any(r.get("frontend_bwd_ms") for r in result["training"]):
            out.append(
                "\nA front end that learns (the Learnable ScatterNets) runs with autograd: its time is its "
                "forward plus its backward (in brackets), timed on their own.\n"
            )
    if result["settings"].get("note"):
        out.append(f"\nNote: {result['settings']['note']}\n")
    return "".join(out)


def bar_chart(result: dict, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sizes = list(dict.fromkeys(r["size"] for r in result["frontends"]))
    fig, axes = plt.subplots(1, len(sizes), figsize=(7 * len(sizes), 4.5), squeeze=False, constrained_layout=True)
    for ax, size in zip(axes[0], sizes):
        rows = [r for r in result["frontends"] if r["size"] == size]
        names = [r["name"].replace(" [", "\n[") for r in rows]
        y = range(len(rows))
        ax.barh([i - 0.2 for i in y], [r["fwd_ms"] for r in rows], height=0.4, label="forward")
        ax.barh([i + 0.2 for i in y], [r["bwd_ms"] for r in rows], height=0.4, label="backward")
        ax.set_yticks(list(y), names, fontsize=7)
        ax.invert_yaxis()
        ax.set_xscale("log")
        ax.set_xlabel("ms (log scale)")
        ax.set_title(f"{size} ({result['environment']['devices'].get(rows[0]['device'], '')})")
        ax.legend()
    with replacing(path) as tmp:
        fig.savefig(tmp, dpi=120, format="png")
    plt.close(fig)
    return Path(path)


def write_json(result: dict, out_dir: Path) -> Path:
    """bench.json, replaced atomically: a reader sees the previous version or this one, never half a file.
    ``status`` says whether the run finished ("completed"), is still going ("running") or stopped early."""
    return write_text(out_dir / "bench.json", json.dumps(result, indent=2))


def write_all(result: dict, out_dir: Path) -> dict[str, Path]:
    paths = {"json": write_json(result, out_dir), "md": out_dir / "table12.md", "png": out_dir / "bench.png"}
    write_text(paths["md"], table12(result))
    if result["frontends"]:  # --only with step rows alone (--only learnable) has no front-end times to draw
        bar_chart(result, paths["png"])
    else:
        del paths["png"]
    return paths


def compare(old: dict, new: dict) -> str:
    """Per-row ratio old/new of forward, backward and step times (> 1: the new run is faster)."""
    o = {(r["size"], r["name"]): r for r in old["frontends"]}
    rows = []
    for r in new["frontends"]:
        prev = o.get((r["size"], r["name"]))
        if prev:
            rows.append(
                [r["size"], r["name"], f"{prev['fwd_ms'] / r['fwd_ms']:.2f}x", f"{prev['bwd_ms'] / r['bwd_ms']:.2f}x"]
            )

    def key(t):
        return t.get("device"), t["frontend"], t.get("compile") or False, bool(t.get("cuda_graph"))

    ot = {key(t): t for t in old.get("training", [])}
    for t in new.get("training", []):
        prev = ot.get(key(t))
        if prev:
            label = (
                t["frontend"]
                + (f" (compile {t['compile']})" if t.get("compile") else "")
                + (" (CUDA graph)" if t.get("cuda_graph") else "")
            )
            rows.append([f"{t.get('device')} training step", label, f"{prev['step_ms'] / t['step_ms']:.2f}x", ""])
    unfinished = [
        f"{which} run did not finish ({r.get('reason') or r['status']}); only its measured rows are compared\n"
        for which, r in (("old", old), ("new", new))
        if r.get("status", "completed") != "completed"
    ]
    head = "".join(unfinished) + (
        f"old: {old['environment']['device_name']} ({old['environment']['created']})  "
        f"new: {new['environment']['device_name']} ({new['environment']['created']})\n"
        "ratio = old time / new time (> 1: new is faster)\n\n"
    )
    return head + markdown(["size", "row", "fwd (or step)", "bwd"], rows)
