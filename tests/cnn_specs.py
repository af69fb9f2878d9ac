"""The small CNN the conv tests share: conv (2 filters, 3×3, stride 2, pad 1) → pool (2×2,
stride 1) → flatten → dense, on 5×5×2 inputs; each test varies what it is about."""

from __future__ import annotations

from derive.conv.spec import spec_text


def small_cnn(mode: str = "max", act: str = "relu", stride: int = 2, pad: int = 1, loss: str = "ce",
              head: str = "softmax", units: int = 3, m: int = 2, input_=(5, 5, 2), filters: int = 2) -> str:
    """The shared CNN's TOML text."""
    return spec_text(input_, [
        {"kind": "conv2d", "filters": filters, "size": 3, "stride": stride, "pad": pad, "activation": act},
        {"kind": "pool", "mode": mode, "size": 2, "stride": 1},
        {"kind": "flatten"},
        {"kind": "dense", "units": units, "activation": head},
    ], loss=loss, examples=m)
