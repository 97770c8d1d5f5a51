"""The blocks a network's body is written in, and the Table 1.3 bodies written in them.

A body is a list of blocks, each a one-key mapping ``{kind: options}``:

    {conv: 2}                          3x3 conv (no bias) + BatchNorm + ReLU to 2 x model.width channels
    {conv: {times: 2, dropout: 0.3}}   the same with dropout after the BatchNorm
    {pool: max}                        2x2 pooling: max | avg | dwt (the LL band) | dwt_all (all 4 bands, C x4)
    {pool: {kind: dwt, wavelet: db2, padding: symmetric}}
    {mix: {levels: 1, mode: channel}}  wavelet-domain mixing (wavelet_mix.py), the identity at initialisation

``model.body`` takes such a list (``model.body=[{conv: 1},{pool: dwt},{conv: 2}]``); null means the thesis'
body for the data (``TABLE13_BODY`` / ``TABLE13_TINY_BODY``). A new block is one function taking (the
channels in, model.width, its options) and returning (layers, channels out), plus one line in ``BLOCKS``.
"""

from __future__ import annotations

from typing import Any, Callable

import torch.nn as nn

from scatnet.errors import ConfigError
from scatnet.layers import conv_bn_relu

# Thesis Table 1.3: conv 2C, 2C, 4C, 4C; Tiny ImageNet adds a 2x2 max pool and conv 8C, 8C.
TABLE13_BODY = [{"conv": 2}, {"conv": 2}, {"conv": 4}, {"conv": 4}]
TABLE13_TINY_BODY = [*TABLE13_BODY, {"pool": "max"}, {"conv": 8}, {"conv": 8}]


def conv_block(cin: int, width: int, options: Any) -> tuple[list[nn.Module], int]:
    """{conv: times} or {conv: {times: 2, dropout: 0.3}} (dropout between the BatchNorm and the ReLU, where the
    Learnable ScatterNet's code puts it)."""
    options = dict(options) if hasattr(options, "items") else {"times": options}
    times, dropout = options.pop("times", None), options.pop("dropout", 0.0)
    if (
        options
        or isinstance(times, bool)
        or not isinstance(times, (int, float))
        or times <= 0
        or isinstance(dropout, bool)
        or not isinstance(dropout, (int, float))
        or not 0 <= dropout < 1
    ):
        raise ConfigError(
            f"a conv block's {{conv: {times!r}}} is not valid; give its channels as a multiple of "
            "model.width, e.g. {conv: 2}, and optionally a dropout in [0, 1): "
            "{conv: {times: 2, dropout: 0.3}}"
        )
    cout = max(int(round(times * width)), 1)
    layers = conv_bn_relu(cin, cout)
    if dropout:
        layers.insert(2, nn.Dropout(dropout))
    return layers, cout


def pool_block(cin: int, width: int, options: Any) -> tuple[list[nn.Module], int]:
    from scatnet.models.wavelet_pool import make_pool

    options = {"kind": options} if isinstance(options, str) else dict(options)
    pool, factor = make_pool(options.pop("kind", "max"), **options)
    return [pool], cin * factor


def mix_block(cin: int, width: int, options: Any) -> tuple[list[nn.Module], int]:
    from scatnet.models.wavelet_mix import WaveletMixing2D

    return [WaveletMixing2D(cin, **dict(options or {}))], cin


BLOCKS: dict[str, Callable[[int, int, Any], tuple[list[nn.Module], int]]] = {
    "conv": conv_block,
    "pool": pool_block,
    "mix": mix_block,
}


def build_body(blocks: list, cin: int, width: int) -> tuple[list[nn.Module], int]:
    """The layers of a body and its output channels."""
    layers: list[nn.Module] = []
    for n, block in enumerate(blocks):
        if not hasattr(block, "items") or len(block) != 1:
            raise ConfigError(
                f"model.body[{n}]={block!r} is not a block; write each as {{kind: options}}, "
                f"kind one of: {', '.join(BLOCKS)}"
            )
        ((kind, options),) = block.items()
        if kind not in BLOCKS:
            raise ConfigError(f"model.body[{n}] is a {kind!r} block; choose one of: {', '.join(BLOCKS)}")
        made, cin = BLOCKS[kind](cin, width, options)
        layers += made
    return layers, cin


def with_mix(body: list, mix: dict) -> list:
    """model.mix's shortcut: the body with a mixing block after its ``after``-th conv."""
    options = {k: v for k, v in dict(mix).items() if k != "after"}
    convs = [n for n, b in enumerate(body) if "conv" in b]
    after = mix.get("after")
    if not isinstance(after, int) or not 1 <= after <= len(convs):
        raise ConfigError(f"model.mix.after={after} is not valid; choose the conv it follows: 1 to {len(convs)}")
    at = convs[after - 1] + 1
    return [*body[:at], {"mix": options}, *body[at:]]
