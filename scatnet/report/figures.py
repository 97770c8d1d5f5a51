"""Figure 1.2: per dataset, heatmaps of mean test accuracy over the DTCWT grid (rows: wavelet, columns:
magbias, one panel per padding), one colour range per dataset, each cell annotated with mean +- std."""
from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only: works on a headless cluster node
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from scatnet.report.published import MAGBIASES, PADDINGS, WAVELETS  # noqa: E402


def grid_cells(summary: list[dict], data: str, impl: str = "reference") -> dict[tuple, dict]:
    """{(wavelet, padding, magbias): summary row} for the DTCWT runs of one dataset and implementation."""
    cells = {}
    for s in summary:
        if (s["data"] == data and s["frontend"] == "dtcwt" and s.get("impl", "reference") == impl
                and s.get("wavelet") in WAVELETS):
            mb = min(MAGBIASES, key=lambda b: abs(b - float(s["magbias"])))
            if math.isclose(mb, float(s["magbias"]), rel_tol=1e-6, abs_tol=1e-12):
                cells[(s["wavelet"], s["padding"], mb)] = s
    return cells


def heatmap(summary: list[dict], data: str, out_dir: Path, impl: str = "reference") -> list[Path]:
    """Write figure12_<data>.png/.pdf (``_fast`` appended for scatnet's fast DTCWT); returns [] when there
    are no grid runs (nothing to draw)."""
    cells = grid_cells(summary, data, impl)
    if not cells:
        return []
    means = [c["test_acc_mean"] for c in cells.values()]
    vmin, vmax = min(means), max(means)
    if vmax - vmin < 1e-9:
        vmin, vmax = vmin - 0.5, vmax + 0.5
    fig, axes = plt.subplots(1, len(PADDINGS), figsize=(4.2 * len(PADDINGS) + 2.4, 3.6), squeeze=False,
                             constrained_layout=True)
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
                ax.text(j, i, f"{c['test_acc_mean']:.2f}\n±{c['test_acc_std']:.2f}", ha="center", va="center",
                        fontsize=8, color="black" if frac > 0.5 else "white")
        im = ax.imshow(np.ma.masked_invalid(grid), cmap=cmap, vmin=vmin, vmax=vmax, aspect="auto")
        ax.set_title(f"padding: {pad}")
        ax.set_xticks(range(len(MAGBIASES)), [f"{b:g}" for b in MAGBIASES])
        ax.set_yticks(range(len(WAVELETS)), WAVELETS if k == 0 else [])
        ax.set_xlabel("magnitude bias b")
    fig.colorbar(im, ax=axes[0].tolist(), label="mean top-1 test accuracy (%)")
    which = "" if impl == "reference" else f", {impl} DTCWT"
    fig.suptitle(f"Figure 1.2 ({data}{which}): DTCWT ScatterNet hyperparameters")
    out = []
    for ext in ("png", "pdf"):
        path = Path(out_dir) / f"figure12_{data}{'' if impl == 'reference' else '_' + impl}.{ext}"
        fig.savefig(path, dpi=130, bbox_inches="tight")
        out.append(path)
    plt.close(fig)
    return out
