"""Figure 1.2: per dataset, heatmaps of mean test accuracy over the DTCWT grid (rows: wavelet, columns:
magbias, one panel per padding), one colour range per dataset, each cell annotated with mean +- std."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only: works on a headless cluster node
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from scatnet.files import replacing  # noqa: E402
from scatnet.frontends.options import MAGBIASES, PADDINGS, WAVELETS  # noqa: E402


def grid_cells(summary: list[dict], data: str, impl: str = "reference", variant: str = "") -> dict[tuple, dict]:
    """{(wavelet, padding, magbias): summary row} for the DTCWT runs of one dataset, implementation and variant
    (the values of the extra keys the runs differ in: one figure each, never mixed)."""
    cells = {}
    for s in summary:
        if (
            s["data"] == data
            and s["frontend"] == "dtcwt"
            and s.get("impl", "reference") == impl
            and s.get("variant", "") == variant
            and s.get("wavelet") in WAVELETS
        ):
            mb = min(MAGBIASES, key=lambda b: abs(b - float(s["magbias"])))
            if math.isclose(mb, float(s["magbias"]), rel_tol=1e-6, abs_tol=1e-12):
                cells[(s["wavelet"], s["padding"], mb)] = s
    return cells


def heatmap(
    summary: list[dict], data: str, out_dir: Path, impl: str = "reference", variant: str = "", number: int = 0
) -> list[Path]:
    """Write figure12_<data>.png/.pdf (``_fast`` appended for scatnet's fast DTCWT, ``_v<number>`` for the
    number-th variant); returns [] when there are no grid runs (nothing to draw)."""
    cells = grid_cells(summary, data, impl, variant)
    if not cells:
        return []
    means = [c["test_acc_mean"] for c in cells.values()]
    vmin, vmax = min(means), max(means)
    if vmax - vmin < 1e-9:
        vmin, vmax = vmin - 0.5, vmax + 0.5
    fig, axes = plt.subplots(
        1, len(PADDINGS), figsize=(4.2 * len(PADDINGS) + 2.4, 3.6), squeeze=False, constrained_layout=True
    )
    cmap = plt.get_cmap("viridis").with_extremes(bad="#dddddd")
    im = None
    for k, (ax, pad) in enumerate(zip(axes[0], PADDINGS)):
        grid = np.full((len(WAVELETS), len(MAGBIASES)), np.nan)
        for i, w in enumerate(WAVELETS):
            for j, b in enumerate(MAGBIASES):
                c = cells.get((w, pad, b))
                if c is None:
                    ax.text(j, i, "n/a", ha="center", va="center", fontsize=8, color="#555555")
                    continue
                grid[i, j] = c["test_acc_mean"]
                frac = (c["test_acc_mean"] - vmin) / (vmax - vmin)
                spread = "" if c["test_acc_std"] is None else f"\n±{c['test_acc_std']:.2f}"
                ax.text(
                    j,
                    i,
                    f"{c['test_acc_mean']:.2f}{spread}",
                    ha="center",
                    va="center",
                    fontsize=8,
                    color="black" if frac > 0.5 else "white",
                )
        im = ax.imshow(np.ma.masked_invalid(grid), cmap=cmap, vmin=vmin, vmax=vmax, aspect="auto")
        ax.set_title(f"padding: {pad}")
        ax.set_xticks(range(len(MAGBIASES)), [f"{b:g}" for b in MAGBIASES])
        ax.set_yticks(range(len(WAVELETS)), WAVELETS if k == 0 else [])
        ax.set_xlabel("magnitude bias b")
    fig.colorbar(im, ax=axes[0].tolist(), label="mean top-1 test accuracy (%)")
    which = ("" if impl == "reference" else f", {impl} DTCWT") + (f", {variant}" if variant else "")
    fig.suptitle(f"Figure 1.2 ({data}{which}): DTCWT ScatterNet hyperparameters")
    out = []
    suffix = ("" if impl == "reference" else "_" + impl) + (f"_v{number}" if variant else "")
    for ext in ("png", "pdf"):
        path = Path(out_dir) / f"figure12_{data}{suffix}.{ext}"
        with replacing(path) as tmp:
            fig.savefig(tmp, dpi=130, bbox_inches="tight", format=ext)
        out.append(path)
    plt.close(fig)
    return out


def learning_curves(summary: list[dict], data: str, out_dir: Path) -> list[Path]:
    """curves_<data>.png: validation accuracy per epoch of every group of one dataset, the mean over its seeds
    with the min-max band, read from each run's csv/metrics.csv. [] when no run logged a curve."""
    fig, ax = plt.subplots(figsize=(7.5, 4.2), constrained_layout=True)
    drawn = 0
    for s in (s for s in summary if s["data"] == data):
        curves = [c for c in (_val_curve(Path(d)) for d in s.get("run_dirs", [])) if c]
        if not curves:
            continue
        n = min(len(c) for c in curves)
        acc = np.array([c[:n] for c in curves]) * 100.0
        epochs = np.arange(1, n + 1)
        label = ", ".join(
            str(v)
            for v in (
                s["frontend"],
                s.get("wavelet"),
                s.get("padding"),
                None if s.get("magbias") is None else f"b={s['magbias']:g}",
                None if s.get("L") is None else f"L={s['L']}",
                s.get("variant"),
            )
            if v not in (None, "")
        )
        (line,) = ax.plot(epochs, acc.mean(0), label=f"{label} ({len(curves)})")
        if len(curves) > 1:
            ax.fill_between(epochs, acc.min(0), acc.max(0), color=line.get_color(), alpha=0.2)
        drawn += 1
    if not drawn:
        plt.close(fig)
        return []
    ax.set_xlabel("epoch")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # epochs are whole numbers
    ax.set_ylabel("validation accuracy (%)")
    ax.set_title(f"{data}: validation accuracy (mean over seeds, band: min-max)")
    ax.legend(fontsize=7, loc="lower right", ncol=1 + drawn // 12)
    path = Path(out_dir) / f"curves_{data}.png"
    with replacing(path) as tmp:
        fig.savefig(tmp, dpi=130, bbox_inches="tight", format="png")
    plt.close(fig)
    return [path]


def _val_curve(run_dir: Path) -> list[float]:
    """val/acc per epoch from a run's CSV log (the last row of each epoch)."""
    path = run_dir / "csv" / "metrics.csv"
    if not path.exists():
        return []
    by_epoch: dict[int, float] = {}
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            if row.get("val/acc") and row.get("epoch"):
                by_epoch[int(float(row["epoch"]))] = float(row["val/acc"])
    return [by_epoch[e] for e in sorted(by_epoch)]
