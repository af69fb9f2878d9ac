"""Stability through time as text, JSON, LaTeX and a plot (matplotlib, like
:mod:`derive.stability.render`).

>>> from derive.rnn.spec import RNN
>>> from derive.rnn.stability import analyse
>>> text = to_text(analyse(RNN(3, 4, 2, 5, examples=2), radius=0.5))
>>> text.splitlines()[2]
'J⟨t⟩ = ∂a⟨t⟩/∂a⟨t−1⟩ = diag(1 − a⟨t⟩²) Waa, for example 1 of 2; P⟨t⟩ = J⟨t⟩ ⋯ J⟨1⟩ = ∂a⟨t⟩/∂a⟨0⟩'
"""

from __future__ import annotations

import math

from derive.errors import DeriveError
from derive.rnn.stability import RNNStability
from derive.stability.analyse import STABLE_DECADES
from derive.stability.render import save_figure, tex_escape

LN10 = math.log(10)
MAX_ROWS = 60


def _num(log_value: float) -> str:
    if not math.isfinite(log_value):
        return "0" if log_value < 0 else "inf"
    if abs(log_value) < 50:
        return f"{math.exp(log_value):.3g}"
    exp10 = log_value / LN10
    mant = 10 ** (exp10 - math.floor(exp10))
    return f"{mant:.3g}e{math.floor(exp10):+d}"


def _derivative_text(r: RNNStability) -> str:
    return "1 − a⟨t⟩²" if r.rnn.activation == "tanh" else f"{r.rnn.act.text}′(z⟨t⟩)"


def _bound_text(r: RNNStability) -> str:
    act = r.rnn.act
    bound = act.derivative_bound
    if bound == 1:
        return f"|g′| ≤ 1 for {act.name}, so ‖P⟨t⟩‖₂ ≤ ‖Waa‖₂ᵗ"
    return f"|g′| ≤ {bound} for {act.name}, so ‖P⟨t⟩‖₂ ≤ ({bound} ‖Waa‖₂)ᵗ"


def _rows(T: int) -> list[int]:
    if T <= MAX_ROWS:
        return list(range(1, T + 1))
    every = math.ceil(T / MAX_ROWS)
    return sorted({*range(1, T + 1, every), T})


def to_text(r: RNNStability) -> str:
    c = r.rnn
    scaled = f" (Waa rescaled to ρ = {r.radius:g})" if r.radius is not None else ""
    lines = [
        f"stability through time: {c.describe()}, seed {r.seed}",
        f"Waa: spectral radius ρ = {r.rho:.4g}, ‖Waa‖₂ = {r.norm2:.4g}{scaled}",
        f"J⟨t⟩ = ∂a⟨t⟩/∂a⟨t−1⟩ = diag({_derivative_text(r)}) Waa, for example 1 of {c.m}; "
        "P⟨t⟩ = J⟨t⟩ ⋯ J⟨1⟩ = ∂a⟨t⟩/∂a⟨0⟩",
        "",
        f"{'t':>5}  {'‖J⟨t⟩‖₂':>10}  {'max|g′|':>8}  {'‖P⟨t⟩‖₂':>10}  {'‖Waa‖₂ᵗ':>10}  {'ρᵗ':>10}",
    ]
    for t in _rows(c.steps):
        lines.append(f"{t:>5}  {_num(r.log_jacobian[t - 1]):>10}  {r.max_derivative[t - 1]:>8.3g}  "
                     f"{_num(r.log_product[t - 1]):>10}  {_num(t * math.log(r.norm2)):>10}  "
                     f"{_num(t * math.log(r.rho) if r.rho > 0 else -math.inf):>10}")
    lines += [
        "",
        _growth_text(r),
        f"verdict: {r.verdict} (stable when r^T is within {STABLE_DECADES:g} decade of 1)",
        _bound_text(r),
        "",
        f"gradient clipping (the course's clip(gradients, maxValue = {r.clip.max_value:g}): "
        "np.clip of every entry to [−maxValue, maxValue]), Frobenius norms of the BPTT gradients:",
    ]
    if r.clip.overflow:
        lines.append("  none: the gradients (or the forward pass itself) overflow float64 at this "
                     "scale; nothing finite to clip")
    for name, before, after, n in r.clip.rows:
        lines.append(f"  {name:<5} {before:>10.4g} → {after:>10.4g}   ({n} entries clipped)")
    return "\n".join(lines)


def to_json(r: RNNStability) -> dict:
    def fin(v):
        return float(v) if math.isfinite(v) else None

    return {
        "spec": r.rnn.describe(), "steps": r.steps, "seed": r.seed, "radius": r.radius,
        "spectral_radius": r.rho, "norm2": r.norm2, "growth_factor": r.growth,
        "decades": fin(r.decades), "verdict": r.verdict,
        "log10_jacobian_norm": [fin(v / LN10) for v in r.log_jacobian],
        "log10_product_norm": [fin(v / LN10) for v in r.log_product],
        "max_derivative": [float(v) for v in r.max_derivative],
        "clip": {"max_value": r.clip.max_value, "overflow": r.clip.overflow,
                 "gradients": {n: {"before": b, "after": a, "clipped": k}
                               for n, b, a, k in r.clip.rows}},
    }


def to_latex(r: RNNStability) -> str:
    rows = "\n".join(
        f"{t} & {_num(r.log_jacobian[t - 1])} & {_num(r.log_product[t - 1])} \\\\"
        for t in _rows(r.steps))
    clips = "\n".join(f"\\texttt{{{tex_escape(n)}}} & {b:.4g} & {a:.4g} & {k} \\\\"
                      for n, b, a, k in r.clip.rows)
    return "\n".join([
        r"\subsection*{Stability through time}",
        # the description's n\_x=3, … has few break points: \sloppy, not a line into the margin
        r"{\sloppy " + tex_escape(r.rnn.describe()) + ".",
        r"$J^{\langle t \rangle} = \operatorname{diag}(g'(z^{\langle t \rangle}))\, W_{aa}$, "
        r"$P^{\langle t \rangle} = J^{\langle t \rangle} \cdots J^{\langle 1 \rangle}$; "
        f"$\\rho(W_{{aa}}) = {r.rho:.4g}$, $\\lVert W_{{aa}} \\rVert_2 = {r.norm2:.4g}$, "
        f"growth factor $r = {r.growth:.4g}$, verdict: {r.verdict}.\\par}}",
        "", r"\begin{tabular}{rrr}",
        r"$t$ & $\lVert J^{\langle t \rangle}\rVert_2$ & $\lVert P^{\langle t \rangle}\rVert_2$ \\ \hline",
        rows, r"\end{tabular}", "",
        f"Gradient clipping at maxValue $= {r.clip.max_value:g}$:", "",
        r"\begin{tabular}{lrrr}", r"gradient & before & after & clipped \\ \hline", clips,
        r"\end{tabular}",
    ])


def plot(r: RNNStability, path: str, dpi: int = 150) -> str:
    """log10 ‖P⟨t⟩‖₂ against t, with the bounds t·log10 ‖Waa‖₂ and t·log10 ρ and the stable
    band; PNG, or vector for .pdf/.svg."""
    try:  # matplotlib is optional (the plot extra) and slow to import: only here
        import matplotlib
    except ImportError:
        raise DeriveError("--plot needs matplotlib: pip install 'derive[plot]'") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    t = np.arange(1, r.steps + 1)
    fig, ax = plt.subplots(figsize=(7.2, 4.4), dpi=dpi)
    ax.axhspan(-STABLE_DECADES, STABLE_DECADES, color="tab:green", alpha=0.12, lw=0,
               label=f"stable band (±{STABLE_DECADES:g} decade)")
    ax.plot(t, r.log_product / LN10, lw=2.2, label="‖P⟨t⟩‖₂ = ‖∂a⟨t⟩/∂a⟨0⟩‖₂")
    ax.plot(t, r.log_jacobian / LN10, lw=1.2, ls=":", label="‖J⟨t⟩‖₂ (one step)")
    ax.plot(t, t * math.log10(r.norm2), lw=1.2, ls="--", label=f"‖Waa‖₂ᵗ (‖Waa‖₂ = {r.norm2:.3g})")
    if r.rho > 0:
        ax.plot(t, t * math.log10(r.rho), lw=1.2, ls="-.", label=f"ρᵗ (ρ = {r.rho:.3g})")
    ax.set_xlabel("t: steps the gradient is carried back (P⟨t⟩ = ∂a⟨t⟩/∂a⟨0⟩)", fontsize=11)
    ax.set_ylabel("log10 of the norm", fontsize=11)
    ax.set_title(f"{r.rnn.activation} RNN, n_a = {r.rnn.na}: {r.verdict} (r = {r.growth:.3g})",
                 fontsize=12)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=9)
    fig.tight_layout()
    return save_figure(fig, path, dpi)


def _growth_text(r) -> str:
    import numpy as np

    zero = np.flatnonzero(np.isneginf(r.log_product))
    if zero.size:  # a saturated or dead unit in every direction: the product is exactly 0
        return (f"‖P⟨t⟩‖₂ = 0 exactly from t = {int(zero[0]) + 1} on (every unit's g′ is 0 there "
                "or the product lost rank), so ∂a⟨T⟩/∂a⟨0⟩ = 0: no growth factor to fit")
    return (f"per-step growth factor r = {r.growth:.4g} (least squares of ln‖P⟨t⟩‖₂ over t): "
            f"‖∂a⟨T⟩/∂a⟨0⟩‖₂ ≈ r^T = 10^{r.decades:.3g} over T = {r.rnn.steps} steps")
