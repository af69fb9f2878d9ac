"""The stability plot (issue 18): PNG at ≥ 150 dpi (``--dpi``), vector PDF on request, the stable
band shaded, fonts readable."""

from __future__ import annotations

import struct

import pytest

from derive.cli import main

pytest.importorskip("matplotlib")

ARGS = ["stability", "--sweep", "--act", "tanh", "--depths", "6,12", "--inits", "xavier,normal",
        "--width", "8", "--batch", "4"]


def _png_size(data: bytes) -> tuple[int, int]:
    """Width and height from a PNG's IHDR chunk (plain struct, no image library)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def _png_dpi(data: bytes) -> float:
    """The resolution stored in the pHYs chunk (pixels per metre), in dots per inch."""
    i = data.index(b"pHYs")
    ppm_x, _, unit = struct.unpack(">IIB", data[i + 4:i + 13])
    assert unit == 1  # metres
    return ppm_x * 0.0254


@pytest.mark.parametrize("dpi", [150, 300])
def test_png_has_the_asked_resolution(tmp_path, capsys, dpi):
    png = tmp_path / "s.png"
    argv = [*ARGS, "--plot", str(png)] + ([] if dpi == 150 else ["--dpi", str(dpi)])
    assert main(argv) == 0
    data = png.read_bytes()
    w, h = _png_size(data)
    assert abs(_png_dpi(data) - dpi) < 1
    # two panels: (4.6 · 2 + 2.8) × 4.2 inches
    assert (w, h) == (round(12.0 * dpi), round(4.2 * dpi))


def test_default_png_is_at_least_150_dpi(tmp_path, capsys):
    png = tmp_path / "s.png"
    assert main([*ARGS, "--plot", str(png)]) == 0
    w, _ = _png_size(png.read_bytes())
    assert w >= 1800  # 12 inches at 150 dpi; the old plot was 464 pixels wide


def test_pdf_is_vector_and_shades_the_stable_band(tmp_path, capsys):
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.patches import Rectangle

    from derive.stability import render as R
    from derive.stability.analyse import STABLE_DECADES, sweep

    pdf = tmp_path / "s.pdf"
    assert main([*ARGS, "--plot", str(pdf)]) == 0
    data = pdf.read_bytes()
    assert data.startswith(b"%PDF") and b"/Subtype /Image" not in data  # drawn, no bitmap

    captured = {}
    import matplotlib.pyplot as plt
    real_close = plt.close

    def keep(fig):  # read the figure before it is closed
        captured["fig"] = fig
        real_close(fig)

    plt.close = keep
    try:
        R.plot_sweep(sweep(depths=(6,), inits=("xavier",), activations=("tanh",), width=8,
                           batch=4), str(tmp_path / "t.png"))
    finally:
        plt.close = real_close
    ax = captured["fig"].axes[0]
    bands = [p for p in ax.patches if isinstance(p, Rectangle) and p.get_alpha()]
    assert bands, "no shaded band"
    y0, y1 = sorted(ax.transData.inverted().transform(bands[0].get_window_extent())[:, 1])
    assert y0 == pytest.approx(-STABLE_DECADES, abs=0.05)
    assert y1 == pytest.approx(STABLE_DECADES, abs=0.05)
    assert ax.title.get_fontsize() >= 12 and ax.xaxis.label.get_fontsize() >= 10


@pytest.mark.parametrize("bad", ["40", "1000", "high"])
def test_dpi_out_of_range_is_a_usage_error(tmp_path, capsys, bad):
    assert main([*ARGS, "--plot", str(tmp_path / "s.png"), "--dpi", bad]) == 2
    assert "--dpi" in capsys.readouterr().err
    assert not (tmp_path / "s.png").exists()
