"""What each stage of a network sees: a few images of the dataset, through the front end (its channels by
scattering order) and every pooling layer of the body (where detail is kept or lost), as one PNG grid.

The first column is each image as the dataset holds it (de-normalised, in its colours); every other panel is
a map of mean absolute activation over a group of channels, normalised per panel: what is bright carries
energy there. Rows: images; columns: stages."""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn as nn

from scatnet.files import replacing
from scatnet.models.wavelet_pool import DWTPool

POOL_TYPES = (nn.MaxPool2d, nn.AvgPool2d, DWTPool)


@torch.no_grad()
def stages(net: nn.Module, x: torch.Tensor, in_channels: int, mean=None, std=None) -> list[tuple[str, torch.Tensor]]:
    """(panel title, maps) for the input (the image, de-normalised with the data's ``mean`` and ``std``:
    (N, h, w, C) in [0, 1]), the front end's channel groups, each pool's output and the last conv block's
    output ((N, h, w) maps)."""
    panels = [("input", as_image(x, mean, std))]
    z = net.frontend(x)
    groups = net.frontend.channel_groups(in_channels)
    if len(groups) > 1 or z.shape[1] != x.shape[1]:
        panels += [(f"front end: {name}", z[:, idx].abs().mean(1)) for name, idx in groups.items() if idx]
    seen: list[tuple[str, torch.Tensor]] = []
    hooks = [
        m.register_forward_hook(lambda mod, inp, out, n=n: seen.append((n, out)))
        for n, m in enumerate(m for m in net.body if isinstance(m, POOL_TYPES))
    ]
    last_conv = [m for m in net.body if isinstance(m, nn.ReLU)][-1]
    hooks.append(last_conv.register_forward_hook(lambda mod, inp, out: seen.append(("last", out))))
    try:
        net.eval()(x)
    finally:
        for h in hooks:
            h.remove()
    for n, out in seen:
        title = "after the last conv" if n == "last" else f"after pool {n + 1} ({type(_pools(net)[n]).__name__})"
        panels.append((title, out.abs().mean(1)))
    return panels


def as_image(x: torch.Tensor, mean=None, std=None) -> torch.Tensor:
    """(N, C, h, w) network inputs -> (N, h, w, C) pictures in [0, 1]: the normalisation undone."""
    shape = (1, -1, 1, 1)
    if std is not None:
        x = x * torch.as_tensor(std, dtype=x.dtype).view(shape)
    if mean is not None:
        x = x + torch.as_tensor(mean, dtype=x.dtype).view(shape)
    return x.clamp(0, 1).permute(0, 2, 3, 1)


def _pools(net: nn.Module) -> list[nn.Module]:
    return [m for m in net.body if isinstance(m, POOL_TYPES)]


PICTURE_FORMATS = (".png", ".pdf", ".svg", ".jpg", ".jpeg")  # what matplotlib writes, by the file's suffix


def picture(panels: list[tuple[str, torch.Tensor]], labels: list[int], out: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n_img, n_col = panels[0][1].shape[0], len(panels)
    fig, axes = plt.subplots(n_img, n_col, figsize=(1.9 * n_col, 1.9 * n_img), squeeze=False)
    for col, (title, maps) in enumerate(panels):
        for row in range(n_img):
            m = maps[row].float().cpu()
            ax = axes[row][col]
            if m.dim() == 3:  # a picture: its own colours (one channel: grey)
                ax.imshow(m.squeeze(-1) if m.shape[-1] == 1 else m, cmap="gray", vmin=0, vmax=1)
            else:
                ax.imshow((m - m.min()) / (m.max() - m.min() + 1e-12), cmap="magma")
            ax.set_xticks([]), ax.set_yticks([])
            if row == 0:
                ax.set_title(f"{title}\n{tuple(m.shape)[0]}x{tuple(m.shape)[1]}", fontsize=7)
            if col == 0:
                ax.set_ylabel(f"label {labels[row]}", fontsize=7)
    fig.tight_layout()
    with replacing(out) as tmp:
        fig.savefig(tmp, dpi=110, format=Path(out).suffix[1:].lower())
    plt.close(fig)
    return out
