"""``derive stability`` output: text tables, JSON, a LaTeX section and the sweep plot.

Numbers far outside the float64 range (a vanished gradient) are printed from their logarithms,
e.g. ``1.97e-632``; JSON carries both ``grad_norm`` (float64, 0 on underflow, null on overflow) and
``log10_grad_norm``.

>>> from derive.stability.analyse import analyse
>>> r = analyse(depth=3, width=4, activation="linear", init="identity", batch=2)
>>> print(stability_latex(r).splitlines()[0])
\\section{Gradient stability: linear, identity initialisation, depth 3}
>>> to_json(r)["verdict"], to_json(r)["growth_factor"]
('stable', 1.0)
"""

from __future__ import annotations

import math

import numpy as np

from derive.errors import DeriveError
from derive.stability.analyse import LAYOUT, STABLE_DECADES, StabilityResult, SweepResult, _pow10
from derive.stability.symbolic import SymbolicResult

LN10 = math.log(10)


def _num(log_value: float) -> str:
    return _pow10(log_value)


def _rows(depth: int, every: int | None) -> list[int]:
    """Layers to show, from L down to 0: all up to 60 layers, else about 30 evenly spaced."""
    step = every or (1 if depth <= 60 else max(1, round(depth / 30)))
    rows = list(range(depth, -1, -step))
    if rows[-1] != 0:
        rows.append(0)
    return rows


def _layer_value(arr: np.ndarray, l: int) -> float | None:
    return None if l == 0 else float(arr[l - 1])


def header(r: StabilityResult) -> list[str]:
    g = r.activation
    if r.batchnorm_scale is not None:
        return _batchnorm_header(r)
    return [
        f"derive stability: depth {r.depth}, width {r.width}, activation {g}, init {r.init} "
        f"(gain {r.gain:g}), batch {r.batch}, seed {r.seed}",
        f"network: a[0] = X ({r.width}×{r.batch}, N(0, 1)); z[l] = W[l] a[l-1] (no bias); "
        f"a[l] = {g}(z[l]); {LAYOUT.name} convention",
        f"backprop: δ[l-1] = J[l]ᵀ δ[l] = W[l]ᵀ (δ[l] ⊙ {g}′(z[l])); δ[L] random, unit norm "
        "per example",
        "‖δ[l]‖: root mean square over the batch of the per-example norms (‖δ[l]‖_F / √batch);"
        f" ‖J[l]‖₂ and max|g′| for example 0 ({r.norm_method})",
        "bounds on example 0's ‖δ[l]‖: Π_(k>l) ‖J[k]‖₂ ≤ Π_(k>l) sup|g′| ‖W[k]‖₂, " +
        (f"sup|{g}′| = {r.derivative_bound:g} (catalogue)" if r.keep_prob is None else
         f"sup|{g}′|/p = {r.derivative_bound:g} (the catalogue's bound over keep_prob "
         f"p = {r.keep_prob:g}: a kept unit's derivative is scaled by 1/p)"),
    ]


def _batchnorm_header(r: StabilityResult) -> list[str]:
    g = r.activation
    return [
        f"derive stability: depth {r.depth}, width {r.width}, activation {g}, init {r.init} "
        f"(gain {r.gain:g}), batch {r.batch}, seed {r.seed}, batch norm on every layer",
        f"network: a[0] = X ({r.width}×{r.batch}, N(0, 1)); z[l] = W[l] a[l-1]; ẑ[l] = (z[l] − μ)/s "
        f"over the batch (s² = σ² + ε); z̃[l] = γ ẑ[l] + β; a[l] = {g}(z̃[l]); {LAYOUT.name} "
        "convention",
        f"backprop: δ[l-1] = J[l]ᵀ δ[l] = W[l]ᵀ ((γ/s) ⊙ P(δ[l] ⊙ {g}′(z̃[l]))), P = I − 11ᵀ/m − "
        "ẑẑᵀ/m per unit over the batch; δ[L] random, unit norm per example",
        "‖δ[l]‖: root mean square over the batch of the per-example norms (‖δ[l]‖_F / √batch); "
        f"‖J[l]‖₂ of the batch Jacobian (nm × nm, {r.norm_method}), max|g′| over the batch",
        "bounds on ‖δ[l]‖ (the batch's RMS): Π_(k>l) ‖J[k]‖₂ ≤ Π_(k>l) sup|g′| ‖W[k]‖₂ max(γ/s), "
        f"sup|{g}′| = {r.derivative_bound:g} (catalogue), ‖P‖₂ ≤ 1",
    ]


def verdict_lines(r: StabilityResult) -> list[str]:
    return [
        f"growth factor: ×{r.growth_factor:.6g} per layer (least squares of ln ‖δ[l]‖ on l)",
        f"verdict: {r.verdict} — {r.rate}",
        f"thresholds: stable when 10^-{STABLE_DECADES:g} ≤ r^L ≤ 10^{STABLE_DECADES:g} "
        "(less than one decade over the whole depth), vanishing/exploding outside; "
        "vanished/exploded when ‖δ[l]‖ leaves the float64 range",
    ]


def to_text(r: StabilityResult, every: int | None = None) -> str:
    """The run as a text table, layer L first (backprop runs from L down to 0)."""
    cols = ("l", "‖δ[l]‖", "‖δ[l]‖ ex.0", "ΠJ bound", "Π sup|g′|‖W‖", "‖J[l]‖₂",
            "max|g′|", "‖W[l]‖₂", "‖a[l]‖")
    bound, cat = r.log_bound, r.log_catalogue_bound
    table = [cols]
    for l in _rows(r.depth, every):
        j, d, w = (_layer_value(a, l) for a in (r.jacobian_norm, r.derivative_max, r.weight_norm))
        table.append((
            str(l), _num(r.log_grad_norm[l]), _num(r.log_grad_norm_example[l]), _num(bound[l]),
            _num(cat[l]), "—" if j is None else f"{j:.4g}", "—" if d is None else f"{d:.4g}",
            "—" if w is None else f"{w:.4g}", _num(r.log_activation_norm[l]),
        ))
    widths = [max(len(row[i]) for row in table) for i in range(len(cols))]
    lines = [*header(r), *(f"note: {n}" for n in r.notes), ""]
    lines += ["  ".join(c.rjust(wd) for c, wd in zip(row, widths, strict=True)) for row in table]
    return "\n".join([*lines, "", *verdict_lines(r)])


def _clean(values) -> list:
    return [float(v) if np.isfinite(v) else None for v in np.asarray(values, dtype=float)]


def to_json(r: StabilityResult) -> dict:
    """A JSON-ready dict: settings, ``verdict``, ``growth_factor`` and per-layer arrays (index l;
    the layer-1..L arrays start with null for layer 0)."""
    with np.errstate(over="ignore", under="ignore"):
        grad = np.exp(r.log_grad_norm)
    pad = lambda a: [None, *_clean(a)]  # noqa: E731
    return {
        "depth": r.depth, "width": r.width, "activation": r.activation, "init": r.init,
        "gain": r.gain, "seed": r.seed, "batch": r.batch, "convention": LAYOUT.name, "bias": 0,
        "keep_prob": r.keep_prob, "l2": r.l2, "notes": list(r.notes),
        "batchnorm": r.batchnorm_scale is not None,
        "batchnorm_scale": None if r.batchnorm_scale is None else pad(r.batchnorm_scale),
        "verdict": r.verdict, "growth_factor": r.growth_factor, "rate": r.rate,
        "log10_ratio": r.log_ratio / LN10, "limit_layer": r.limit_layer,
        "thresholds": {"stable_decades": STABLE_DECADES,
                       "rule": "stable when 10^-d <= r^L <= 10^d; vanished/exploded outside float64"},
        "norm": "grad_norm: RMS over the batch of per-example norms, ||delta[l]||_F / sqrt(batch)",
        "spectral_norm_method": r.norm_method, "derivative_bound": r.derivative_bound,
        "layers": list(range(r.depth + 1)),
        "grad_norm": _clean(grad),
        "log10_grad_norm": _clean(r.log_grad_norm / LN10),
        "log10_grad_norm_example0": _clean(r.log_grad_norm_example / LN10),
        "log10_bound": _clean(r.log_bound / LN10),
        "log10_catalogue_bound": _clean(r.log_catalogue_bound / LN10),
        "log10_activation_norm": _clean(r.log_activation_norm / LN10),
        "jacobian_norm": pad(r.jacobian_norm),
        "derivative_max": pad(r.derivative_max),
        "weight_norm": pad(r.weight_norm),
    }


# -- sweeps ----------------------------------------------------------------------------------------
def sweep_text(s: SweepResult) -> str:
    cols = ("depth", "activation", "init", "gain", "growth factor", "‖δ[0]‖/‖δ[L]‖", "verdict")
    table = [cols] + [
        (str(r.depth), r.activation, r.init, f"{r.gain:g}", f"×{r.growth_factor:.4g}",
         _num(r.log_ratio), r.verdict) for r in s.runs
    ]
    widths = [max(len(row[i]) for row in table) for i in range(len(cols))]
    first = s.runs[0]
    lines = [f"derive stability --sweep: width {first.width}, batch {first.batch}, seed {first.seed};"
             " ‖δ[l]‖ is the batch RMS of per-example norms; growth factor per layer (fit)", ""]
    lines += ["  ".join(c.ljust(wd) for c, wd in zip(row, widths, strict=True)).rstrip() for row in table]
    return "\n".join(lines)


def sweep_json(s: SweepResult) -> dict:
    return {"depths": list(s.depths), "runs": [to_json(r) for r in s.runs]}


PLOT_DPI = 150  # the PNG's resolution unless --dpi says otherwise (a PDF is vector, dpi aside)


def plot_sweep(s: SweepResult, path: str, dpi: int = PLOT_DPI) -> str:
    """One panel per depth, ‖δ[l]‖ (log scale) against l, one line per activation/init, the stable
    band (within 10^±STABLE_DECADES of δ[L]) shaded; a PNG at ``dpi``, or vector when ``path``
    ends in ``.pdf`` or ``.svg``."""
    try:  # matplotlib is optional (the plot extra) and slow to import: only here
        import matplotlib
    except ImportError:
        raise DeriveError("--plot needs matplotlib: pip install 'derive[plot]'") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    depths = s.depths
    inits = list(dict.fromkeys((r.init, r.gain) for r in s.runs))
    acts = list(dict.fromkeys(r.activation for r in s.runs))
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    styles = ("-", "--", ":", "-.")
    fig, axes = plt.subplots(1, len(depths), figsize=(4.6 * len(depths) + 2.8, 4.2),
                             squeeze=False, dpi=dpi)
    for ax, depth in zip(axes[0], depths, strict=True):
        ax.axhspan(-STABLE_DECADES, STABLE_DECADES, color="tab:green", alpha=0.12, lw=0,
                   label=f"stable band (±{STABLE_DECADES:g} decade)")
        for r in (r for r in s.runs if r.depth == depth):
            label = f"{r.activation}, {r.init}" + (f" ×{r.gain:g}" if r.gain != 1 else "")
            ax.plot(r.layers, r.log_grad_norm / LN10, label=label, lw=2.0,
                    color=colours[inits.index((r.init, r.gain)) % len(colours)],
                    ls=styles[acts.index(r.activation) % len(styles)])
        ax.set_title(f"depth {depth}", fontsize=13)
        ax.set_xlabel("layer l (backprop runs from L down to 0)", fontsize=11)
        ax.axhline(0.0, color="grey", lw=0.8, ls=":")
        ax.grid(alpha=0.3)
        ax.tick_params(labelsize=10)
    axes[0][0].set_ylabel("log10 ‖δ[l]‖ (batch RMS)", fontsize=11)
    axes[0][-1].legend(fontsize=9, loc="upper left", bbox_to_anchor=(1.02, 1.0))
    fig.tight_layout()
    return save_figure(fig, path, dpi)


def save_figure(fig, path: str, dpi: int) -> str:
    """Write ``fig`` to ``path`` (PNG, PDF or SVG by its suffix; PNG without one) and close it;
    another suffix (``p.txt``: it got PNG bytes) or a path that cannot be written is a
    DeriveError naming it."""
    import os

    import matplotlib.pyplot as plt

    suffix = os.path.splitext(path)[1].lower()
    if suffix not in ("", ".png", ".pdf", ".svg"):
        plt.close(fig)
        raise DeriveError(f"cannot write the plot to {path!r}: a plot is PNG, PDF or SVG, by the "
                          f"file's suffix (.png, .pdf, .svg), not {suffix}")
    fmt = suffix[1:] or "png"
    try:
        fig.savefig(path, format=fmt, dpi=dpi)
    except OSError as exc:
        raise DeriveError(f"cannot write the plot to {path!r}: {exc.strerror}") from None
    finally:
        plt.close(fig)
    return path


# -- LaTeX -------------------------------------------------------------------------------------------
_TEX = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
        "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}"}


def tex_escape(text: str) -> str:
    r"""Plain text for LaTeX: ``a_b & 50%`` → ``a\_b \& 50\%``."""
    return "".join(_TEX.get(c, c) for c in str(text))


def _tex_num(log_value: float) -> str:
    t = _pow10(log_value)
    if "e" in t and t not in ("inf",):
        mant, exp = t.split("e")
        return rf"${mant}\times 10^{{{int(exp)}}}$"
    return f"${t}$" if t != "inf" else r"$\infty$"


def stability_latex(result) -> str:
    """A ``\\section{...}`` fragment (no preamble) for a run, a sweep or the symbolic results."""
    if isinstance(result, StabilityResult):
        return _run_latex(result)
    if isinstance(result, SweepResult):
        return _sweep_latex(result)
    if isinstance(result, tuple | list) and all(isinstance(x, SymbolicResult) for x in result):
        return _symbolic_latex(tuple(result))
    raise TypeError(f"stability_latex: cannot render {type(result).__name__}")


def _run_latex(r: StabilityResult) -> str:
    e = tex_escape
    rows = _rows(r.depth, None if r.depth <= 12 else max(1, round(r.depth / 10)))
    body = "\n".join(
        rf"{l} & {_tex_num(r.log_grad_norm[l])} & {_tex_num(r.log_bound[l])} & "
        rf"{_tex_num(r.log_catalogue_bound[l])} & "
        + ("--" if l == 0 else f"${r.jacobian_norm[l - 1]:.4g}$") + r" \\"
        for l in rows
    )
    return "\n".join([
        rf"\section{{Gradient stability: {e(r.activation)}, {e(r.init)} initialisation, "
        rf"depth {r.depth}}}",
        rf"A network of depth {r.depth} and width {r.width}, $z^{{[l]}} = W^{{[l]}} a^{{[l-1]}}$ "
        rf"(no bias), $a^{{[l]}} = g(z^{{[l]}})$ with $g$ = {e(r.activation)}, weights "
        rf"{e(r.init)} (gain {r.gain:g}), a batch of {r.batch} standard normal inputs "
        rf"(seed {r.seed}). Backprop multiplies transposed Jacobians:",
        r"\[ \delta^{[l-1]} = J^{[l]\top}\delta^{[l]} = W^{[l]\top}\bigl(\delta^{[l]}\odot "
        r"g'(z^{[l]})\bigr), \qquad \|\delta^{[l]}\| \le \prod_{k>l}\|J^{[k]}\|_2 \le "
        r"\prod_{k>l}\sup|g'|\,\|W^{[k]}\|_2 \]",
        rf"with $\sup|g'| = {r.derivative_bound:g}$. $\|\delta^{{[l]}}\|$ is the root mean square "
        r"over the batch of the per-example norms ($\|\delta^{[L]}\| = 1$); "
        r"$\|J^{[l]}\|_2$ is for the first example.",
        r"\begin{center}", r"\begin{tabular}{rrrrr}",
        r"$l$ & $\|\delta^{[l]}\|$ & $\prod_{k>l}\|J^{[k]}\|_2$ & "
        r"$\prod_{k>l}\sup|g'|\,\|W^{[k]}\|_2$ & $\|J^{[l]}\|_2$ \\ \hline",
        body, r"\end{tabular}", r"\end{center}",
        rf"Growth factor (least squares of $\ln\|\delta^{{[l]}}\|$ on $l$): "
        rf"${r.growth_factor:.6g}$ per layer. Verdict: \textbf{{{e(r.verdict)}}} "
        rf"($\|\delta^{{[0]}}\|/\|\delta^{{[L]}}\|$ = {_tex_num(r.log_ratio)}). "
        rf"Stable means $10^{{-{STABLE_DECADES:g}}} \le r^L \le 10^{{{STABLE_DECADES:g}}}$.",
        "",
    ])


def _sweep_latex(s: SweepResult) -> str:
    e = tex_escape
    body = "\n".join(
        rf"{r.depth} & {e(r.activation)} & {e(r.init)} & ${r.gain:g}$ & "
        rf"${r.growth_factor:.4g}$ & {_tex_num(r.log_ratio)} & {e(r.verdict)} \\"
        for r in s.runs
    )
    return "\n".join([
        r"\section{Gradient stability across depths and initialisations}",
        r"\begin{center}", r"\begin{tabular}{rlllrrl}",
        r"depth & $g$ & init & gain & growth factor & "
        r"$\|\delta^{[0]}\|/\|\delta^{[L]}\|$ & verdict \\ \hline",
        body, r"\end{tabular}", r"\end{center}", "",
    ])


def _symbolic_latex(results: tuple[SymbolicResult, ...]) -> str:
    out = [r"\section{Why gradients vanish or explode}"]
    for res in results:
        out.append(rf"\subsection{{{tex_escape(res.title)}}}")
        out.append(r"\begin{enumerate}")
        for s in res.steps:
            mark = {True: r" (checked: " + tex_escape(s.check) + ")", False: " (FAILED)",
                    None: ""}[s.passed]
            out.append(rf"\item {tex_escape(s.title)}: ${s.latex}${mark}")
        out.append(r"\end{enumerate}")
    return "\n".join([*out, ""])


def symbolic_text(results: tuple[SymbolicResult, ...]) -> str:
    return "\n\n".join(r.text() for r in results)


def symbolic_json(results: tuple[SymbolicResult, ...]) -> dict:
    return {"results": [
        {"name": r.name, "title": r.title, "passed": r.passed,
         "steps": [{"title": s.title, "text": s.text, "latex": s.latex, "check": s.check,
                    "passed": s.passed} for s in r.steps]}
        for r in results
    ]}
